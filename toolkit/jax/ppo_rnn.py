"""PPO with recurrent models (skrl's PPO_RNN) in JAX, on the JAX PPO's pure functions.

As in the torch agent: the agent keeps each world's recurrent state; act() computes the next one and
record_transition() commits it, zeroed for worlds whose episode ended (terminated or truncated), in training and
in evaluation. The memory stores the state each step started from; the update cuts the rollout into sequences of
`sequence_length` steps per world, replays each from its stored state with a `lax.scan` that zeroes the state
after every episode end, and shuffles whole sequences into minibatches. PPO's `update_step` runs unchanged on that
batch of sequences; its public pure functions (act_step, value_step, record_step, prepare_batch) take and return
the recurrent states here, with the same signatures as PPO's (where PPO's are None).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..checkpoint import CheckpointError
from ..config import ConfigError
from .ppo import PPO, Acted
from .rnn_models import RecurrentActorCritic


def carry_states(next_states: dict, terminated, truncated) -> dict:
    """The states the worlds' next step starts from: zero where an episode ended."""
    alive = (~(terminated.astype(bool) | truncated.astype(bool))).astype(jnp.float32)[None, :, None]
    return jax.tree.map(lambda state: state * alive, next_states)


def _sequences(x, length: int):
    """(steps, num_envs, ...) -> (steps // length * num_envs, length, ...): each world's steps cut into runs."""
    steps, num_envs, *rest = x.shape
    return jnp.swapaxes(x.reshape(steps // length, length, num_envs, *rest), 1, 2).reshape(-1, length, *rest)


def flat_states(states: dict) -> dict:
    """{role: (h[, c])} as flat entries of a step's samples: {"rnn/<role>/<index>": (layers, N, hidden)}."""
    return {
        f"rnn/{role}/{index}": state for role, role_states in states.items() for index, state in enumerate(role_states)
    }


class PPO_RNN(PPO):  # noqa: N801  (skrl's name)
    """skrl's PPO_RNN in JAX: PPO's arguments, with models {"policy": RecurrentActorCritic}
    (toolkit.jax.build_recurrent_models); cfg.rollouts must be a multiple of the models' sequence_length."""

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
        self.rnn_states = self._on_device(
            model.initial_state(memory.num_envs if memory is not None else model.num_envs)
        )
        self._rnn_next_states = None
        self._carry = jax.jit(carry_states)

    def get_specification(self) -> dict:
        return self.model.get_specification()

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
        self.rnn_states, self._rnn_next_states = self._on_device(self.model.initial_state(batch)), None

    # ---- pure functions ----
    def act_step(self, params, preprocessors: dict, observations, key, train: bool, rnn_states=None) -> Acted:
        """PPO's, from `rnn_states` (the states this step starts from, stored in the Acted's samples); the Acted's
        next_rnn_states are those after it."""
        preprocessors, obs = self._normalize(preprocessors, observations, train)
        dist, values, next_rnn_states = self.model(params, obs, rnn_states)
        actions = self.model.head.sample(dist, key)
        log_prob = self.model.head.log_prob(dist, actions)
        values = self._denormalize_value(preprocessors, values)
        samples = {"observations": obs, "log_prob": log_prob, "values": values, **flat_states(rnn_states)}
        return Acted(preprocessors, actions, log_prob, self.model.head.mode(dist), samples, next_rnn_states)

    def value_step(self, params, preprocessors: dict, observations, rnn_states=None):
        _, obs = self._normalize(preprocessors, observations, False)
        return self._denormalize_value(preprocessors, self.model.value(params, obs, rnn_states))

    def record_step(
        self,
        params,
        preprocessors: dict,
        samples: dict,
        actions,
        rewards,
        terminated,
        truncated,
        final_observations,
        next_rnn_states=None,
    ):
        """PPO's samples (the true final state valued with the memory of its own episode: `next_rnn_states`, the
        Acted's), and the states the next step starts from (next_rnn_states zeroed where an episode ended)."""
        rewards = rewards.astype(jnp.float32)
        terminated, truncated = terminated.astype(bool), truncated.astype(bool)
        if self.cfg.time_limit_bootstrap:
            final_values = self.value_step(params, preprocessors, final_observations, next_rnn_states)
            rewards = rewards + self.cfg.discount_factor * final_values * (truncated & ~terminated)
        samples = {**samples, "actions": actions, "rewards": rewards, "terminated": terminated, "truncated": truncated}
        return samples, carry_states(next_rnn_states, terminated, truncated)

    def prepare_batch(self, params, preprocessors: dict, rollout: dict, next_observations, next_rnn_states=None):
        """GAE over the whole rollout (next_rnn_states: the states the worlds carry on with, to value
        next_observations), then sequences: (T // L * N, L, ...) with the state each one starts from ("rnn") and
        the steps at which an episode starts inside it ("starts")."""
        length = self.sequence_length
        last_values = self.value_step(params, preprocessors, next_observations, next_rnn_states)
        preprocessors, batch = self._advantage_batch(preprocessors, rollout, last_values)
        batch = jax.tree.map(lambda x: _sequences(x, length), batch)
        # a step whose previous step ended an episode starts from a zero state (the first step: its stored state)
        ended = _sequences(rollout["terminated"] | rollout["truncated"], length)
        batch["starts"] = jnp.concatenate([jnp.zeros_like(ended[:, :1]), ended[:, :-1]], 1)
        batch["rnn"] = {
            role: tuple(
                rollout[f"rnn/{role}/{index}"][::length].transpose(0, 2, 1, 3).reshape(-1, *state.shape[::2])
                for index, state in enumerate(role_states)
            )
            for role, role_states in next_rnn_states.items()
        }
        return preprocessors, self.reducer.layout_batch(batch, rollout["rewards"].shape[0] // length)

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
        """PPO's (observations (N, *obs_shape); `states` unused: the critic reads the observations), from each
        world's recurrent state; record_transition commits the next one."""
        self._key, key = jax.random.split(self._key)
        train = self.training
        rnn_states = self._states(observations.shape[0])
        acted = self._act(self.params, self.preprocessor_states, observations, key, train=train, rnn_states=rnn_states)
        actions, self._rnn_next_states = acted.actions, acted.next_rnn_states
        if train:
            self.preprocessor_states = acted.preprocessors
            if timestep < self.cfg.random_timesteps:
                actions = self._on_device(np.stack([self.action_space.sample() for _ in range(actions.shape[0])]))
            self._cached = acted.samples
        return actions, {"log_prob": acted.log_prob, "mean_actions": acted.mean_actions}

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
        states = self._on_device(
            jax.tree_util.tree_unflatten(jax.tree.structure(self.rnn_states), [jnp.asarray(leaf) for leaf in leaves])
        )
        self.rnn_states, self._rnn_next_states = states, None
        return extra
