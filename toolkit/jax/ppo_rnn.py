"""PPO with recurrent models (skrl's PPO_RNN) in JAX, on the JAX PPO's pure functions.

As in the torch agent: the agent keeps each world's recurrent state; act() computes the next one and
record_transition() commits it, zeroed for worlds whose episode ended (terminated or truncated), in training and
in evaluation. The memory stores the state each step started from; the update cuts the rollout into sequences of
`sequence_length` steps per world, replays each from its stored state with a `lax.scan` that zeroes the state
after every episode end, and shuffles whole sequences into minibatches. PPO's `_update_impl` and `_epoch_impl`
run unchanged on that batch of sequences; acting, recording, batch preparation and the loss take the states.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..checkpoint import CheckpointError
from ..config import ConfigError
from .ppo import PPO
from .rnn_models import RecurrentActorCritic

LAST_STATES = "last_rnn_states"  # the rollout entry that carries the worlds' states after its last step


def carry_states(next_states: dict, terminated, truncated) -> dict:
    """The states the worlds' next step starts from: zero where an episode ended."""
    alive = (~(terminated.astype(bool) | truncated.astype(bool))).astype(jnp.float32)[None, :, None]
    return jax.tree.map(lambda state: state * alive, next_states)


def _sequences(x, length: int):
    """(steps, num_envs, ...) -> (steps // length * num_envs, length, ...): each world's steps cut into runs."""
    steps, num_envs, *rest = x.shape
    return jnp.swapaxes(x.reshape(steps // length, length, num_envs, *rest), 1, 2).reshape(-1, length, *rest)


def flat_states(states: dict) -> dict:
    return {
        f"rnn/{role}/{index}": state for role, role_states in states.items() for index, state in enumerate(role_states)
    }


class PPO_RNN(PPO):  # noqa: N801  (skrl's name)
    takes_states = False  # its value network reads the observations, also for an env with a state space

    def __init__(self, *, models: dict, memory=None, cfg=None, **kwargs):
        model = models.get("policy")
        if not isinstance(model, RecurrentActorCritic):
            raise ValueError(
                f"models: policy is a {type(model).__name__}; "
                "PPO_RNN needs models from toolkit.jax.build_recurrent_models"
            )
        super().__init__(models=models, memory=memory, cfg=cfg, **kwargs)
        self.sequence_length = model.sequence_length
        if memory is not None and self.cfg.rollouts % self.sequence_length:
            raise ConfigError(
                f"agent.rollouts: {self.cfg.rollouts} is not allowed; "
                f"must be a multiple of rnn.sequence_length ({self.sequence_length})"
            )
        self.rnn_states = model.initial_state(memory.num_envs if memory is not None else model.num_envs)
        self._rnn_next_states = None
        self._carry = jax.jit(carry_states)

    def get_specification(self) -> dict:
        return self.model.get_specification()

    def training_state(self) -> dict:
        return {**super().training_state(), "rnn_states": self.rnn_states}

    def set_training_state(self, state: dict) -> None:
        super().set_training_state(state)
        self.rnn_states, self._rnn_next_states = state["rnn_states"], None

    def enable_training_mode(self, enabled: bool = True, *, apply_to_models: bool = False) -> None:
        # the trainer resets the worlds when it switches between training and evaluation: so do the states
        if enabled != self.training:
            self.reset_rnn_states()
        super().enable_training_mode(enabled, apply_to_models=apply_to_models)

    def reset_rnn_states(self, batch: int | None = None) -> None:
        """Every world starts its next step from a zero state (after the caller reset all worlds)."""
        batch = batch or jax.tree.leaves(self.rnn_states)[0].shape[1]
        self.rnn_states, self._rnn_next_states = self.model.initial_state(batch), None

    # ---- pure functions ----
    def _act_impl(self, params, states, observations, key, train: bool, rnn_states=None):
        """PPO's, plus the recurrent states in (before the step) and out (after it)."""
        states, obs = self._normalize(states, observations, train)
        dist, values, next_rnn_states = self.model(params, obs, rnn_states)
        actions = self.model.head.sample(dist, key)
        return (
            states,
            obs,
            actions,
            self.model.head.log_prob(dist, actions),
            self.model.head.mode(dist),
            self._denormalize_value(states, values),
            next_rnn_states,
        )

    def _value_impl(self, params, states, observations, rnn_states=None):
        _, obs = self._normalize(states, observations, False)
        return self._denormalize_value(states, self.model.value(params, obs, rnn_states))

    def _record_impl(
        self,
        params,
        states,
        cached: dict,
        actions,
        rewards,
        terminated,
        truncated,
        final_observations,
        next_rnn_states=None,
    ):
        """PPO's samples (the true final state valued with the memory of its own episode), and the states the next
        step starts from."""
        rewards = rewards.astype(jnp.float32)
        terminated, truncated = terminated.astype(bool), truncated.astype(bool)
        if self.cfg.time_limit_bootstrap:
            final_values = self._value_impl(params, states, final_observations, next_rnn_states)
            rewards = rewards + self.cfg.discount_factor * final_values * (truncated & ~terminated)
        samples = {**cached, "actions": actions, "rewards": rewards, "terminated": terminated, "truncated": truncated}
        return samples, carry_states(next_rnn_states, terminated, truncated)

    def _prepare_impl(self, params, states, rollout, next_observations):
        """GAE over the whole rollout, then sequences: (steps // L * worlds, L, ...) with the state each one starts
        from and the steps at which an episode starts inside it."""
        length = self.sequence_length
        rollout = dict(rollout)
        last_states = rollout.pop(LAST_STATES)
        last_values = self._value_impl(params, states, next_observations, last_states)
        states, batch = self._advantage_batch(states, rollout, last_values)
        batch = jax.tree.map(lambda x: _sequences(x, length), batch)
        # a step whose previous step ended an episode starts from a zero state (the first step: its stored state)
        ended = _sequences(rollout["terminated"] | rollout["truncated"], length)
        batch["starts"] = jnp.concatenate([jnp.zeros_like(ended[:, :1]), ended[:, :-1]], 1)
        batch["rnn"] = {
            role: tuple(
                rollout[f"rnn/{role}/{index}"][::length].transpose(0, 2, 1, 3).reshape(-1, *state.shape[::2])
                for index, state in enumerate(role_states)
            )
            for role, role_states in last_states.items()
        }
        return states, batch

    def _loss(self, params, mb):
        rnn_states = jax.tree.map(
            lambda state: jnp.swapaxes(state, 0, 1), mb["rnn"]
        )  # (batch, layers, H) -> (layers, batch, H)
        dist, predicted, _ = self.model(params, mb["observations"], rnn_states, mb["starts"])
        flat = {
            name: mb[name].reshape(-1, *mb[name].shape[2:])
            for name in ("actions", "log_prob", "values", "returns", "advantages")
        }
        return self._clipped_losses(dist, predicted, flat)

    # ---- interaction ----
    def _states(self, batch: int) -> dict:
        if jax.tree.leaves(self.rnn_states)[0].shape[1] != batch:
            self.reset_rnn_states(batch)
        return self.rnn_states

    def act(self, observations, states=None, *, timestep: int, timesteps: int):
        self._key, key = jax.random.split(self._key)
        train = self.training
        rnn_states = self._states(observations.shape[0])
        new_states, obs, actions, log_prob, mean, values, self._rnn_next_states = self._act(
            self.params, self.preprocessor_states, observations, key, train=train, rnn_states=rnn_states
        )
        if train:
            self.preprocessor_states = new_states
            if timestep < self.cfg.random_timesteps:
                actions = jnp.asarray(np.stack([self.action_space.sample() for _ in range(obs.shape[0])]))
            self._cached = {"observations": obs, "log_prob": log_prob, "values": values, **flat_states(rnn_states)}
        return actions, {"log_prob": log_prob, "mean_actions": mean}

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
        self._next_observations = next_observations
        terminated, truncated = jnp.asarray(terminated), jnp.asarray(truncated)
        if not self.training or self.memory is None:
            self.rnn_states = self._carry(self._rnn_next_states, terminated, truncated)
            return
        rewards = jnp.asarray(rewards, jnp.float32)
        if self.cfg.rewards_shaper is not None:
            rewards = self.cfg.rewards_shaper(rewards, timestep, timesteps)
        final = jnp.asarray((infos or {}).get("final_obs", next_observations))
        samples, self.rnn_states = self._record(
            self.params,
            self.preprocessor_states,
            self._cached,
            jnp.asarray(actions),
            rewards,
            terminated,
            truncated,
            final,
            self._rnn_next_states,
        )
        self.memory.add_samples(**samples)

    def update(self, *, timestep: int, timesteps: int) -> None:
        rollout = {**self.memory.stacked(), LAST_STATES: self.rnn_states}
        self.memory.reset()
        self._key, key = jax.random.split(self._key)
        self.params, self.opt_state, self.preprocessor_states, stats = self._update(
            self.params, self.opt_state, self.preprocessor_states, rollout, self._next_observations, key
        )
        self.track_update(stats)

    # ---- checkpoints: PPO's contents and the worlds' states (a resumed run continues its episodes' memory) ----
    def _tree(self) -> dict:
        return {**super()._tree(), "rnn_states": self.rnn_states}

    def load(self, path: str) -> dict:
        extra = super().load(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                leaves = [
                    data[jax.tree_util.keystr(p)]
                    for p, _ in jax.tree_util.tree_flatten_with_path(self._tree())[0]
                    if jax.tree_util.keystr(p).startswith("['rnn_states']")
                ]
        except KeyError as missing:
            raise CheckpointError(
                f"checkpoint: {path} lacks {missing}; it was written by an agent of another configuration"
            ) from None
        states = jax.tree_util.tree_unflatten(
            jax.tree.structure(self.rnn_states), [jnp.asarray(leaf) for leaf in leaves]
        )
        self.rnn_states, self._rnn_next_states = states, None
        return extra
