"""What an engine needs to know about a task: its MJCF model and its MDP terms.

MDP terms are written once against the array API shared by torch and jax.numpy (`xp` is the module), so the
Warp engine evaluates them in torch on zero-copy views of the simulator state and the MJX engine evaluates
them in jax.numpy inside its jitted step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym

# (xp, qpos, qvel) -> batched array
Term = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    mjcf: Path
    observations: Term  # -> (num_envs, obs_dim)
    reward: Term  # -> (num_envs,)
    terminated: Term  # -> (num_envs,) bool
    single_observation_space: gym.spaces.Box
    single_action_space: gym.spaces.Box
    max_episode_steps: int
    reset_noise_scale: float  # qpos and qvel start at their defaults plus uniform(-scale, scale)
    frame_skip: int = 1
    solved_return: float | None = None  # mean episode return at which the task counts as solved
    agent_cfg: Path | None = None  # default agent configuration (Runner YAML)
    default_num_envs: int = 1024

    def __post_init__(self):
        if self.frame_skip < 1:
            raise ValueError(f"frame_skip: {self.frame_skip} is not allowed; must be >= 1")
        if self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps: {self.max_episode_steps} is not allowed; must be >= 1")
