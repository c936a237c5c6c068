"""The VecEnv contract every engine implements.

A VecEnv steps `num_envs` worlds in one call. Everything it returns is a batched array of its engine's native
framework (`framework`: "torch" for MuJoCo Warp, "jax" for MJX, "numpy" for gymnasium vector envs), living on
`device`; `envs.wrap_env` hands the same arrays to another framework without copying.

step() resets finished worlds automatically, in the same call, and reports in `info`:
- "final_obs": observations before the reset, equal to the returned observations where no episode ended
  (what time-limit bootstrapping needs);
- "episode": {"r": return, "l": length} of the episodes that ended this step, valid where "_episode" is True
  (gymnasium's RecordEpisodeStatistics layout);
- for envs with a state space (the critic's privileged observations, `single_state_space` not None): "states",
  the states beside the returned observations, and "final_states", those before the reset (reset() returns
  "states" in its info too). Envs without one leave them out and their states are None;
- for tasks with a task state (commands, timers, ...): "final_task_state", {name: per-world values before the
  reset} (the observation history left out: "final_obs" holds it).
"""

from __future__ import annotations

import abc
from typing import Any

import gymnasium as gym
from gymnasium.vector.utils import batch_space

DEFAULT_MAX_FRACTION = 0.5  # the fraction of worlds that may blow up in one update before a run stops


class SimulationError(RuntimeError):
    """The simulator produced non-finite values."""


def nonfinite_error(task_name: str, count: int) -> SimulationError:
    return SimulationError(
        f"simulation: {count} world-steps of task {task_name!r} produced NaN or inf (state or "
        "reward); those worlds were reset. Lower the timestep or check the actions"
    )


class VecEnv(abc.ABC):
    num_envs: int
    device: str
    framework: str
    single_observation_space: gym.spaces.Space
    single_action_space: gym.spaces.Space
    max_episode_steps: int
    single_state_space: gym.spaces.Space | None = None  # the critic's privileged observations (None: none)

    @property
    def observation_space(self) -> gym.spaces.Space:
        return batch_space(self.single_observation_space, self.num_envs)

    @property
    def action_space(self) -> gym.spaces.Space:
        return batch_space(self.single_action_space, self.num_envs)

    @abc.abstractmethod
    def reset(self, seed: int | None = None) -> tuple[Any, dict]:
        """Reset every world; returns (observations, info)."""

    @abc.abstractmethod
    def step(self, actions) -> tuple[Any, Any, Any, Any, dict]:
        """Apply one batch of actions; returns (observations, rewards, terminated, truncated, info)."""

    def check_finite(self, max_fraction: float = DEFAULT_MAX_FRACTION) -> dict:
        """The counts of worlds that went NaN or inf since the last check, as metrics (envs.finite_check.report:
        `nonfinite/worlds`, `nonfinite/fraction`, `nonfinite/<source>`), then cleared; raise SimulationError when
        more than `max_fraction` of the worlds blew up.

        The engines reset such worlds at once and count them on the device during step(), so that the step loop
        never waits for the host; trainers call this once per update."""
        return {}

    def close(self) -> None:
        pass

    def render(self, *args, **kwargs):
        return None

    def check_actions_shape(self, shape: tuple[int, ...]) -> None:
        expected = (self.num_envs, *self.single_action_space.shape)
        if tuple(shape) != expected:
            raise ValueError(
                f"actions: shape {tuple(shape)} is not allowed; expected {expected} (num_envs, *action_shape)"
            )
