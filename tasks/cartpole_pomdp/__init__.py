"""Cart-pole seen without velocities (a partially observed task): cartpole's model, reward, termination and
episode settings, observations of positions only, so that balancing needs memory (a recurrent policy,
PPO_RNN)."""

import dataclasses
from pathlib import Path

import gymnasium as gym
import numpy as np

from ..cartpole import CARTPOLE
from ..registry import register
from . import mdp

CARTPOLE_POMDP = register(dataclasses.replace(
    CARTPOLE,
    name="cartpole-pomdp",
    observations=mdp.observations,
    reward=mdp.reward,
    terminated=mdp.terminated,
    single_observation_space=gym.spaces.Box(-np.inf, np.inf, (2,), np.float32),  # cart position, pole angle
    agent_cfg=Path(__file__).parent / "agent.yaml",
))
