"""Hand any VecEnv, or a gymnasium vector env, to torch or JAX agents with no copy.

`wrap_env` returns a `FrameworkEnv`, whose `observation_space` and `action_space` are the spaces of one world,
as skrl's wrappers expose them.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from .convert import FRAMEWORKS, converter, tree_map
from .finite_check import DEFAULT_MAX_FRACTION
from .vec_env import SimulationError, VecEnv, nonfinite_error


class GymnasiumVecEnv(VecEnv):
    """A gymnasium vector env (numpy arrays) under the VecEnv contract: episode statistics and dense final
    observations. It needs same-step autoreset, the only mode where the final observation of a truncated
    episode arrives with its transition."""

    framework = "numpy"
    device = "cpu"

    def __init__(self, env: gym.vector.VectorEnv):
        mode = env.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
        if mode != gym.vector.AutoresetMode.SAME_STEP:
            raise ValueError(
                f"autoreset_mode: {mode} is not allowed; create the env with gymnasium.make_vec(id, num_envs, "
                "vectorization_mode='sync', vector_kwargs={'autoreset_mode': gymnasium.vector.AutoresetMode.SAME_STEP})"
            )
        self.env = env
        self.num_envs = env.num_envs
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space
        spec = getattr(env, "spec", None)
        self.max_episode_steps = getattr(spec, "max_episode_steps", None) or 0
        self._episode_return = np.zeros(self.num_envs)
        self._episode_length = np.zeros(self.num_envs, dtype=np.int64)
        self._nonfinite_worlds = 0

    def reset(self, seed: int | None = None):
        self._episode_return[:] = 0
        self._episode_length[:] = 0
        obs, info = self.env.reset(seed=seed)
        return obs, info

    def step(self, actions):
        actions = np.asarray(actions)
        self.check_actions_shape(actions.shape)
        space = self.single_action_space
        if isinstance(space, gym.spaces.Box):
            actions = np.clip(actions, space.low, space.high)
        obs, reward, terminated, truncated, info = self.env.step(actions.astype(space.dtype, copy=False))
        # a world whose reward or observation is NaN or inf is counted and reported by check_finite(), as the
        # engines report theirs
        flat_obs = (
            obs.reshape(self.num_envs, -1)
            if isinstance(obs, np.ndarray) and np.issubdtype(obs.dtype, np.floating)
            else None
        )
        finite = np.isfinite(reward) if flat_obs is None else np.isfinite(reward) & np.isfinite(flat_obs).all(-1)
        self._nonfinite_worlds += int((~finite).sum())
        done = terminated | truncated
        self._episode_return += reward
        self._episode_length += 1
        final_obs = obs.copy()
        if "_final_obs" in info:
            for index in np.flatnonzero(info["_final_obs"]):
                final_obs[index] = info["final_obs"][index]
        info = {
            key: value
            for key, value in info.items()
            if key not in ("final_obs", "_final_obs", "final_info", "_final_info")
        }
        info.update(
            final_obs=final_obs,
            episode={"r": self._episode_return.copy(), "l": self._episode_length.copy()},
            _episode=done,
        )
        self._episode_return[done] = 0
        self._episode_length[done] = 0
        return obs, reward.astype(np.float32), terminated, truncated, info

    def check_finite(self, max_fraction: float = 0.0) -> dict:
        """A gymnasium env's worlds cannot be reset one by one, and their NaN would reach the agent: any stops the
        run (whatever `max_fraction`)."""
        count, self._nonfinite_worlds = self._nonfinite_worlds, 0
        if count:
            name = getattr(getattr(self.env, "spec", None), "id", None) or type(self.env).__name__
            raise nonfinite_error(name, count)
        return {}

    def close(self) -> None:
        self.env.close()


class FrameworkEnv:
    """A VecEnv whose inputs and outputs are arrays of `framework` (`wrap_env` makes one); its spaces are one
    world's, as skrl's wrappers expose them, and `unwrapped` is the VecEnv."""

    num_agents = 1

    def __init__(self, env: VecEnv, framework: str):
        self.unwrapped = env
        self.framework = framework
        self._states = None  # the critic's states beside the last observations handed out (None without a state space)
        self._to_agent = converter(env.framework, framework)
        self._to_env = converter(framework, env.framework)
        self._nonfinite_actions = None  # worlds given a NaN or inf action since the last check_finite(), on the device

    @property
    def num_envs(self) -> int:
        return self.unwrapped.num_envs

    @property
    def device(self) -> str:
        return self.unwrapped.device

    @property
    def observation_space(self) -> gym.spaces.Space:
        return self.unwrapped.single_observation_space

    @property
    def action_space(self) -> gym.spaces.Space:
        return self.unwrapped.single_action_space

    @property
    def state_space(self) -> gym.spaces.Space | None:
        """The critic's privileged observations of one world (skrl's state space); None: the env has none."""
        return getattr(self.unwrapped, "single_state_space", None)

    def state(self):
        """The states beside the last observations reset() or step() returned (skrl's env.state()); None without
        a state space."""
        return self._states

    def reset(self, seed: int | None = None):
        obs, info = self.unwrapped.reset(seed=seed)
        info = tree_map(self._to_agent, info)
        self._states = info.get("states")
        return self._to_agent(obs), info

    def step(self, actions):
        self._count_nonfinite_actions(actions)
        obs, reward, terminated, truncated, info = self.unwrapped.step(self._to_env(actions))
        to = self._to_agent
        info = tree_map(to, info)
        self._states = info.get("states")
        return to(obs), to(reward), to(terminated), to(truncated), info

    def _count_nonfinite_actions(self, actions) -> None:
        """Count the worlds given a NaN or inf action (simulators take them silently: MuJoCo Warp applies no force),
        without waiting for the device; check_finite() reports them."""
        if not hasattr(actions, "dtype") or "float" not in str(actions.dtype):
            return
        if self.framework == "torch":
            bad = (~actions.isfinite()).reshape(actions.shape[0], -1).any(-1).sum()
        else:
            import jax.numpy as jnp

            bad = (~jnp.isfinite(actions)).reshape(actions.shape[0], -1).any(-1).sum()
        self._nonfinite_actions = bad if self._nonfinite_actions is None else self._nonfinite_actions + bad

    def check_finite(self, max_fraction: float = DEFAULT_MAX_FRACTION) -> dict:
        """The env's check (its counts of non-finite worlds; more than `max_fraction` blown up stops the run), then
        the actions': any NaN action stops the run, as it comes from the agent."""
        count = int(self._nonfinite_actions) if self._nonfinite_actions is not None else 0
        self._nonfinite_actions = None
        metrics = {}
        if hasattr(self.unwrapped, "check_finite"):  # first: NaN observations make NaN actions, not the other way
            metrics = self.unwrapped.check_finite(max_fraction) or {}
        if count:
            raise SimulationError(
                f"actions: {count} world-steps were given NaN or inf actions (the simulator takes them "
                "silently); the agent's policy is not finite. Check its update (agent.learning_rate, "
                "agent.grad_norm_clip) or the observations it is given"
            )
        return metrics

    def state_dict(self) -> dict | None:
        """The worlds' state as numpy arrays, for checkpoints; None for envs that cannot save it."""
        return self.unwrapped.state_dict() if hasattr(self.unwrapped, "state_dict") else None

    def load_state_dict(self, state: dict):
        """Restore worlds saved by state_dict(); returns their observations (state() their states)."""
        obs = self._to_agent(self.unwrapped.load_state_dict(state))
        self._states = self._to_agent(self.unwrapped.critic_states()) if self.state_space is not None else None
        return obs

    def render(self, *args, **kwargs):
        return self.unwrapped.render(*args, **kwargs)

    def close(self) -> None:
        self.unwrapped.close()


def wrap_env(env, framework: str | None = None) -> FrameworkEnv:
    """An env whose every input and output is an array of `framework`, handed over without a copy (DLPack).

    Args:
        env: an `envs.VecEnv` (`tasks.make(...)`), a `gymnasium.vector.VectorEnv` made with same-step autoreset, or a
            FrameworkEnv (re-wrapped from its VecEnv).
        framework: "torch" or "jax" (None: the engine's own: torch for MuJoCo Warp and gymnasium, jax for MJX).

    Returns:
        A `FrameworkEnv` with skrl's wrapper API: `observation_space`, `action_space` and `state_space` are ONE
        world's spaces; `reset()` -> (observations (num_envs, *obs_shape), info); `step(actions (num_envs,
        *action_shape))` -> (observations, rewards (num_envs,), terminated (num_envs,), truncated (num_envs,),
        info), each a `framework` array on `device`; `state()` the critic's states (num_envs, *state_shape) or None.
    """
    if framework is not None and framework not in ("torch", "jax"):
        raise ValueError(f"framework: {framework!r} is not allowed; choose one of torch, jax")
    if isinstance(env, FrameworkEnv):
        env = env.unwrapped
    if isinstance(env, gym.vector.VectorEnv):
        env = GymnasiumVecEnv(env)
    if not isinstance(env, VecEnv):
        raise TypeError(
            f"env: {type(env).__name__} is not allowed; expected envs.VecEnv or a "
            "gymnasium.vector.VectorEnv (gymnasium.make_vec)"
        )
    native = env.framework if env.framework in FRAMEWORKS[:2] else "torch"
    return FrameworkEnv(env, framework or native)
