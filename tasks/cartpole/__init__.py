"""Cart-pole: push a cart along a rail to keep a hinged pole upright for 500 steps (10 s)."""

from pathlib import Path

import gymnasium as gym
import numpy as np

from envs import TaskSpec

from ..registry import register
from . import mdp

_HERE = Path(__file__).parent

CARTPOLE = register(
    TaskSpec(
        name="cartpole",
        mjcf=_HERE / "cartpole.xml",
        observations=mdp.observations,
        reward=mdp.reward,
        terminated=mdp.terminated,
        single_observation_space=gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
        single_action_space=gym.spaces.Box(-1.0, 1.0, (1,), np.float32),  # force, times the motor's 10 N gear
        max_episode_steps=500,
        reset_noise_scale=0.05,
        solved_return=475.0,
        agent_cfg=_HERE / "agent.yaml",
    )
)
