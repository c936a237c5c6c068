"""MJX engine: `num_envs` worlds of one MJCF stepped by `jit(vmap(mjx.step))`.

The step is a pure function of an `MjxState` (`functional_step`), so a trainer can also run it inside
`lax.scan`; the object API around it keeps the state and returns jax arrays.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from .mdp_step import evaluate_step
from .task import TaskSpec
from .vec_env import VecEnv, nonfinite_error


class MjxState(NamedTuple):
    data: Any  # batched mjx.Data
    episode_return: jax.Array
    episode_length: jax.Array
    nonfinite_worlds: jax.Array  # count since the last check_finite()
    key: jax.Array


class MjxVecEnv(VecEnv):
    framework = "jax"

    def __init__(self, task: TaskSpec, num_envs: int, device: str | None = None, seed: int = 0):
        self.task = task
        self.num_envs = num_envs
        self._jax_device = _jax_device(device)
        self.device = "cpu" if self._jax_device.platform == "cpu" else f"cuda:{self._jax_device.id}"
        self.single_observation_space = task.single_observation_space
        self.single_action_space = task.single_action_space
        self.max_episode_steps = task.max_episode_steps
        self.mj_model = mujoco.MjModel.from_xml_path(str(task.mjcf))
        self._model = mjx.put_model(self.mj_model, device=self._jax_device)
        self._default_data = mjx.make_data(self._model, device=self._jax_device)
        self._action_low = jnp.asarray(task.single_action_space.low)
        self._action_high = jnp.asarray(task.single_action_space.high)
        self._seed = seed
        self._reset_fn = jax.jit(self.functional_reset)
        self._step_fn = jax.jit(self.functional_step, donate_argnums=0)
        self._state: MjxState | None = None

    # ---- pure functions (jit / scan friendly) ----
    def _reset_data(self, key: jax.Array):
        """A batch of freshly reset worlds: defaults plus uniform reset noise."""
        scale = self.task.reset_noise_scale
        key_pos, key_vel = jax.random.split(key)
        d = self._default_data
        qpos = d.qpos + jax.random.uniform(key_pos, (self.num_envs, d.qpos.shape[0]), minval=-scale, maxval=scale)
        qvel = d.qvel + jax.random.uniform(key_vel, (self.num_envs, d.qvel.shape[0]), minval=-scale, maxval=scale)
        batched = jax.tree.map(lambda x: jnp.broadcast_to(x, (self.num_envs, *x.shape)), d)
        return batched.replace(qpos=qpos, qvel=qvel)

    def _observations(self, data) -> jax.Array:
        return self.task.observations(jnp, data.qpos, data.qvel)

    def functional_reset(self, key: jax.Array) -> tuple[MjxState, jax.Array]:
        key, key_reset = jax.random.split(key)
        data = self._reset_data(key_reset)
        zeros = jnp.zeros(self.num_envs)
        state = MjxState(data, zeros, zeros.astype(jnp.int32), jnp.zeros((), jnp.int32), key)
        return state, self._observations(data)

    def functional_step(self, state: MjxState, actions: jax.Array):
        data = state.data.replace(ctrl=jnp.clip(actions, self._action_low, self._action_high))

        def physics(_, d):
            return jax.vmap(mjx.step, in_axes=(None, 0))(self._model, d)

        data = jax.lax.fori_loop(0, self.task.frame_skip, physics, data)
        r = evaluate_step(jnp, self.task, data.qpos, data.qvel, state.episode_return, state.episode_length)
        key, key_reset = jax.random.split(state.key)
        fresh = self._reset_data(key_reset)

        def select(reset_value, value):
            mask = r.done.reshape(r.done.shape + (1,) * (value.ndim - 1))
            return jnp.where(mask, reset_value, value)

        data = jax.tree.map(select, fresh, data)
        obs = jnp.where(r.done[:, None], self._observations(data), r.obs)
        info = {"final_obs": r.obs, "episode": {"r": r.episode_return, "l": r.episode_length}, "_episode": r.done}
        new_state = MjxState(
            data,
            jnp.where(r.done, 0.0, r.episode_return),
            jnp.where(r.done, 0, r.episode_length),
            state.nonfinite_worlds + r.nonfinite.sum(dtype=jnp.int32),
            key,
        )
        return new_state, (obs, r.reward, r.terminated, r.truncated, info)

    # ---- VecEnv ----
    def reset(self, seed: int | None = None):
        key = jax.random.key(self._seed if seed is None else seed)
        self._state, obs = self._reset_fn(key)
        return obs, {}

    def step(self, actions):
        self.check_actions_shape(actions.shape)
        if self._state is None:
            self.reset()
        self._state, out = self._step_fn(self._state, jnp.asarray(actions))
        return out

    def check_finite(self) -> None:
        if self._state is None:
            return
        count = int(self._state.nonfinite_worlds)
        if count:
            self._state = self._state._replace(nonfinite_worlds=jnp.zeros((), jnp.int32))
            raise nonfinite_error(self.task.name, count)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything a resumed run needs to continue these worlds exactly where they were."""
        if self._state is None:
            self.reset()
        state = self._state
        return {"qpos": np.asarray(state.data.qpos), "qvel": np.asarray(state.data.qvel), "act": np.asarray(state.data.act),
                "qacc_warmstart": np.asarray(state.data.qacc_warmstart), "time": np.asarray(state.data.time),
                "episode_return": np.asarray(state.episode_return), "episode_length": np.asarray(state.episode_length),
                "key": np.asarray(jax.random.key_data(state.key))}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> jax.Array:
        """Restore worlds saved by state_dict() (same task and world count); returns their observations."""
        if self._state is None:
            self.reset()
        data = self._state.data.replace(**{name: jnp.asarray(state[name], jnp.float32).reshape(getattr(self._state.data, name).shape)
                                           for name in ("qpos", "qvel", "act", "qacc_warmstart", "time")})
        self._state = MjxState(data, jnp.asarray(state["episode_return"], jnp.float32),
                               jnp.asarray(state["episode_length"], jnp.int32), jnp.zeros((), jnp.int32),
                               jax.random.wrap_key_data(jnp.asarray(state["key"])))
        return self._observations(data)

    def set_state(self, qpos: np.ndarray, qvel: np.ndarray) -> jax.Array:
        """Put every world in the given state; returns the observations of that state."""
        if self._state is None:
            self.reset()
        data = self._state.data.replace(qpos=jnp.asarray(qpos, jnp.float32), qvel=jnp.asarray(qvel, jnp.float32))
        self._state = self._state._replace(data=data)
        return self._observations(data)


def _jax_device(device: str | None) -> jax.Device:
    """'cpu', 'cuda' or 'cuda:K' (torch's spelling) as a jax device; None: jax's default."""
    if device is None:
        return jax.devices()[0]
    platform, _, index = device.partition(":")
    return jax.devices("gpu" if platform == "cuda" else platform)[int(index or 0)]
