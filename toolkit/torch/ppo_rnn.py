"""PPO with recurrent models (skrl's PPO_RNN), torch.

The agent keeps each world's recurrent state. act() reads it and computes the next one; record_transition()
commits that next state, zeroed for every world whose episode ended this step (terminated or truncated), in
training and in evaluation alike. The rollout memory stores the state each step started from; the update cuts
the rollout into sequences of `sequence_length` steps per world, starts each from its stored state, zeroes the
state wherever an episode ended inside the sequence, and makes minibatches of whole sequences (truncated
backpropagation through time). Distribution: PPO's reducer, at the same points (toolkit.torch.reducers).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ConfigError
from .ppo import PPO
from .rnn_models import RecurrentModel, RnnState


def _sequences(tensor: torch.Tensor, length: int) -> torch.Tensor:
    """(steps, num_envs, ...) -> (steps // length * num_envs, length, ...): each world's steps cut into runs."""
    steps, num_envs, *rest = tensor.shape
    return tensor.reshape(steps // length, length, num_envs, *rest).transpose(1, 2).reshape(-1, length, *rest)


class PPO_RNN(PPO):  # noqa: N801  (skrl's name)
    """skrl's PPO_RNN: PPO's arguments, with recurrent models (toolkit.torch.build_recurrent_models); cfg.rollouts
    must be a multiple of their sequence_length."""

    checkpoint_format = "simtrain.torch.PPO_RNN"
    takes_states = False  # its value model reads the observations, also for an env with a state space

    def __init__(self, *, models: dict[str, nn.Module], **kwargs):
        super().__init__(models=models, **kwargs)
        roles = (
            {"policy": self.policy}
            if self._shared or self.value is None
            else {"policy": self.policy, "value": self.value}
        )
        for role, model in roles.items():
            if not isinstance(model, RecurrentModel):
                raise ValueError(
                    f"models: {role} is a {type(model).__name__}; "
                    "PPO_RNN needs models from toolkit.torch.build_recurrent_models"
                )
        self._roles = roles
        lengths = {spec["rnn"]["sequence_length"] for spec in (m.get_specification() for m in roles.values()) if spec}
        if not lengths:
            raise ConfigError(
                "models.policy.rnn: missing; PPO_RNN needs at least one recurrent model "
                "(type, num_layers, hidden_size, sequence_length)"
            )
        if len(lengths) > 1:
            raise ConfigError(
                f"models.value.rnn.sequence_length: {sorted(lengths)} differ between policy and value; "
                "use one sequence length"
            )
        self.sequence_length = lengths.pop()
        if self.memory is not None and self.cfg.rollouts % self.sequence_length:
            raise ConfigError(
                f"agent.rollouts: {self.cfg.rollouts} is not allowed; "
                f"must be a multiple of rnn.sequence_length ({self.sequence_length})"
            )
        self._rnn_states: dict[str, RnnState] = {}  # the state each world's next step starts from
        self._rnn_next_states: dict[str, RnnState] = {}  # computed by act(), committed by record_transition()

    def get_specification(self) -> dict:
        """The recurrent state of every model (policy first), in skrl's form."""
        sizes = [
            size for model in self._roles.values() for size in model.get_specification().get("rnn", {}).get("sizes", [])
        ]
        return {"rnn": {"sequence_length": self.sequence_length, "sizes": sizes}}

    def init(self, *, trainer_cfg: dict | None = None) -> None:
        super().init(trainer_cfg=trainer_cfg)
        if self.memory is None:
            return
        for role, model in self._roles.items():
            for index, (layers, _, hidden) in enumerate(model.trunk.state_shapes(1)):
                self.memory.create_tensor(f"rnn_{role}_{index}", (layers, hidden))

    def enable_training_mode(self, enabled: bool = True, *, apply_to_models: bool = False) -> None:
        # the trainer resets the worlds when it switches between training and evaluation: so do the states
        if enabled != self.training:
            self.reset_rnn_states()
        super().enable_training_mode(enabled, apply_to_models=apply_to_models)

    def reset_rnn_states(self) -> None:
        """Every world starts its next step from a zero state (after the caller reset all worlds)."""
        self._rnn_states, self._rnn_next_states = {}, {}

    def _states(self, batch: int) -> dict[str, RnnState]:
        states = self._rnn_states
        batches = [state[0].shape[1] for state in states.values() if state]  # a feed-forward policy's state is ()
        if not batches or batches[0] != batch:
            states = self._rnn_states = {
                role: model.initial_state(batch, self.device) for role, model in self._roles.items()
            }
        return states

    # ---- networks ----
    def _step(self, observations: torch.Tensor, states: dict[str, RnnState], starts: torch.Tensor | None = None):
        """(distribution parameters, value or None, next states) for one step or, with `starts`, sequences."""
        params, values, policy_state = self.policy(observations, states["policy"], starts)
        next_states = {"policy": policy_state}
        if "value" in self._roles:
            _, values, next_states["value"] = self.value(observations, states["value"], starts)
        return params, values, next_states

    def _values_from(self, observations: torch.Tensor, states: dict[str, RnnState]) -> torch.Tensor:
        """Value in return units of raw observations, each world continuing from `states`."""
        model, role = (self.value, "value") if "value" in self._roles else (self.policy, "policy")
        _, values, _ = model(self._preprocess(observations), states[role])
        return self._denormalize_value(values)

    # ---- interaction ----
    def act(self, observations: torch.Tensor, states: torch.Tensor | None = None, *, timestep: int, timesteps: int):
        """PPO's (observations (N, *obs_shape); `states` unused: the critic reads the observations), from each
        world's recurrent state; record_transition commits the next one."""
        with torch.inference_mode():
            obs = self._preprocess(observations, train=self.training)
            rnn_states = self._states(obs.shape[0])
            params, values, self._rnn_next_states = self._step(obs, rnn_states)
            if self.training and timestep < self.cfg.random_timesteps:
                actions = self._random_actions(obs.shape[0])
            else:
                actions = self.head.sample(params)
            log_prob = self.head.log_prob(params, actions)
            if self.training and values is not None:
                self._cached = {
                    "observations": obs,
                    "values": self._denormalize_value(values),
                    "log_prob": log_prob,
                    "rnn": rnn_states,
                }
        return actions, {"log_prob": log_prob, "mean_actions": self.head.mode(params)}

    def record_transition(
        self,
        *,
        observations,
        states,
        actions,
        rewards,
        next_observations,
        next_states,
        terminated,
        truncated,
        infos,
        timestep: int,
        timesteps: int,
    ) -> None:
        """PPO's (the memory also keeps the state each step started from); in training and evaluation alike, the
        worlds' next states are committed, zeroed where an episode ended."""
        self._next_observations = next_observations
        with torch.inference_mode():
            if self.training and self.memory is not None:
                rewards = rewards.to(torch.float32)
                if self.cfg.rewards_shaper is not None:
                    rewards = self.cfg.rewards_shaper(rewards, timestep, timesteps)
                if self.cfg.time_limit_bootstrap:
                    # the true final state, seen by the networks with the memory of its own episode
                    final = (infos or {}).get("final_obs", next_observations)
                    timed_out = truncated.bool() & ~terminated.bool()
                    rewards = (
                        rewards + self.cfg.discount_factor * self._values_from(final, self._rnn_next_states) * timed_out
                    )
                stored = {
                    f"rnn_{role}_{index}": state.transpose(0, 1)
                    for role, role_states in self._cached["rnn"].items()
                    for index, state in enumerate(role_states)
                }
                self.memory.add_samples(
                    observations=self._cached["observations"],
                    actions=actions,
                    log_prob=self._cached["log_prob"],
                    values=self._cached["values"],
                    rewards=rewards,
                    terminated=terminated,
                    truncated=truncated,
                    **stored,
                )
            # a world whose episode ended starts the next one with no memory of it
            alive = (~(terminated.bool() | truncated.bool())).reshape(1, -1, 1).to(torch.float32)
            self._rnn_states = {
                role: tuple(state * alive for state in role_states)
                for role, role_states in self._rnn_next_states.items()
            }

    # ---- learning ----
    def _rollout_sequences(self) -> tuple[dict[str, torch.Tensor], dict[str, RnnState]]:
        """The rollout as sequences (GAE on the whole rollout first), the state each sequence starts from."""
        tensors, length = self.memory.tensors, self.sequence_length
        with torch.no_grad():
            last_values = self._values_from(self._next_observations, self._states(self.memory.num_envs))
            batch = {name: _sequences(tensor, length) for name, tensor in self._advantage_batch(last_values).items()}
        # a step whose previous step ended an episode starts from a zero state (the first step: its stored state)
        ended = _sequences(tensors["terminated"] | tensors["truncated"], length)
        batch["starts"] = torch.cat([torch.zeros_like(ended[:, :1]), ended[:, :-1]], 1)
        initial = {}
        for role, model in self._roles.items():
            count = len(model.trunk.state_shapes(1))
            initial[role] = tuple(tensors[f"rnn_{role}_{index}"][::length].flatten(0, 1) for index in range(count))
        return batch, initial

    def update(self, *, timestep: int, timesteps: int) -> None:
        """PPO's update on sequences: the (T, N) rollout cut into T // L * N sequences of L steps, each replayed
        from its stored state, shuffled whole into minibatches."""
        batch, initial = self._rollout_sequences()
        count = batch["log_prob"].shape[0]
        if count < self.cfg.mini_batches:
            raise ConfigError(
                f"agent.mini_batches: {self.cfg.mini_batches} is not allowed; the rollout has only {count} sequences"
            )
        # initial states as batch entries, so that shuffling whole sequences shuffles their states with them
        self._optimize(
            {
                **batch,
                **{
                    f"rnn/{role}/{index}": state
                    for role, states in initial.items()
                    for index, state in enumerate(states)
                },
            }
        )

    def _minibatch_losses(self, mb: dict[str, torch.Tensor]):
        """PPO's losses on a minibatch of whole sequences, each replayed from its initial state."""
        states = {
            role: tuple(
                mb[f"rnn/{role}/{index}"].transpose(0, 1).contiguous()
                for index in range(len(model.trunk.state_shapes(1)))
            )
            for role, model in self._roles.items()
        }
        dist_params, predicted, _ = self._step(mb["observations"], states, mb["starts"])
        targets = {name: mb[name].flatten(0, 1) for name in ("actions", "log_prob", "values", "returns", "advantages")}
        return self._losses(dist_params, predicted, targets)

    # ---- checkpoints ----
    def state_dict(self) -> dict:
        """PPO's contents, the recurrent specification, and each world's current state (so that a resumed run
        continues its episodes with their memory)."""
        state = super().state_dict()
        state["rnn_specification"] = repr(self.get_specification()["rnn"]["sizes"])
        state["rnn_states"] = {
            f"{role}_{index}": tensor
            for role, states in self._rnn_states.items()
            for index, tensor in enumerate(states)
        }
        return state

    def _load_agent_state(self, state: dict) -> None:
        self.reset_rnn_states()
        saved = state.get("rnn_states") or {}
        if not saved:
            return
        states = {
            role: tuple(saved.get(f"{role}_{index}") for index in range(len(model.trunk.state_shapes(1))))
            for role, model in self._roles.items()
        }
        batches = {tensor.shape[1] for role_states in states.values() for tensor in role_states if tensor is not None}
        if None not in (t for role_states in states.values() for t in role_states) and len(batches) == 1:
            self._rnn_states = {
                role: tuple(t.to(self.device) for t in role_states) for role, role_states in states.items()
            }
