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
    """`num_envs` worlds stepped in one call (see the module's docstring for what `info` holds).

    Attributes:
        num_envs: number of worlds, N.
        device: where the arrays live ("cpu", "cuda:0", ...).
        framework: the arrays' framework: "torch" (MuJoCo Warp), "jax" (MJX) or "numpy" (gymnasium).
        single_observation_space, single_action_space: one world's spaces (gymnasium Boxes for the tasks here).
        single_state_space: one world's critic-only observations (privileged states); None: the env has none.
        max_episode_steps: steps after which an episode is truncated (a time-out).
    """

    num_envs: int
    device: str
    framework: str
    single_observation_space: gym.spaces.Space
    single_action_space: gym.spaces.Space
    max_episode_steps: int
    single_state_space: gym.spaces.Space | None = None  # the critic's privileged observations (None: none)

    @property
    def observation_space(self) -> gym.spaces.Space:
        """All worlds' observations: single_observation_space batched to (num_envs, *obs_shape)."""
        return batch_space(self.single_observation_space, self.num_envs)

    @property
    def action_space(self) -> gym.spaces.Space:
        """All worlds' actions: single_action_space batched to (num_envs, *action_shape)."""
        return batch_space(self.single_action_space, self.num_envs)

    @abc.abstractmethod
    def reset(self, seed: int | None = None) -> tuple[Any, dict]:
        """Reset every world (reseeding the env's generator when `seed` is given).

        Returns:
            observations: (num_envs, *obs_shape) float32 array of the env's framework, on `device`.
            info: a dict; "states" (num_envs, *state_shape) where the env has a state space.
        """

    @abc.abstractmethod
    def step(self, actions) -> tuple[Any, Any, Any, Any, dict]:
        """Apply one batch of actions to every world and advance it one control step (frame_skip physics steps);
        worlds whose episode ended are reset in the same call (their next observations are the reset's).

        Args:
            actions: (num_envs, *action_shape) array of the env's framework (clipped to the action space).

        Returns:
            observations: (num_envs, *obs_shape) float32, after the step (after the reset where an episode ended).
            rewards: (num_envs,) float32.
            terminated: (num_envs,) bool, the episode ended in a terminal state (a fall, a goal).
            truncated: (num_envs,) bool, the episode hit max_episode_steps.
            info: "final_obs" (num_envs, *obs_shape), "episode" {"r", "l"} (num_envs,) with "_episode" (num_envs,)
                bool, "states" / "final_states" with a state space, "final_task_state", "log" (per-term means).
        """

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
