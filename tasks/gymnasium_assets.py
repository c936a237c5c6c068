"""gymnasium's MuJoCo v5 tasks: their MJCF files, read from the installed gymnasium package (not copied), and
the spaces and terms their tasks share."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import gymnasium.envs.mujoco
import numpy as np

ASSETS = Path(gymnasium.envs.mujoco.__file__).parent / "assets"
MAX_EPISODE_STEPS = 1000  # gymnasium registers every task here with this time limit


def mjcf(file_name: str) -> Path:
    return ASSETS / file_name


def action_space(size: int, bound: float) -> gym.spaces.Box:
    """The actuators' control ranges (+-bound for each of `size` actuators), as gymnasium's MujocoEnv makes its
    action space from the MJCF (written out so that importing the tasks does not compile every model; a test
    holds them to gymnasium's)."""
    return gym.spaces.Box(-bound, bound, (size,), np.float32)


def observation_space(size: int) -> gym.spaces.Box:
    return gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)


def in_open_range(value, low: float, high: float):
    return (value > low) & (value < high)


def never_terminated(xp, s):
    """The tasks that end only at the time limit: False for every world, on the state's device (a NaN world, which
    the engine's finiteness check reports, compares unequal to itself)."""
    return s.qpos[:, 0] != s.qpos[:, 0]


def control_cost(xp, s, weight: float):
    """-weight * |ctrl|^2: gymnasium's control cost, on the action that reached the simulator."""
    return -weight * (s.ctrl * s.ctrl).sum(-1)


def forward_velocity(s, position):
    """Velocity along x of a position measured at the start (s.before[:, 0]) and the end of the step."""
    return (position - s.before[:, 0]) / s.dt
