"""half-cheetah: gymnasium's HalfCheetah-v5 (1000 steps of 0.05 s)."""

from pathlib import Path

from envs import TaskSpec

from .. import gymnasium_assets as gym_assets
from ..registry import register
from . import mdp

HALF_CHEETAH = register(
    TaskSpec(
        name="half-cheetah",
        mjcf=gym_assets.mjcf("half_cheetah.xml"),
        observations=mdp.observations,
        reward=mdp.reward,
        terminated=mdp.terminated,
        tracked=mdp.tracked,
        single_observation_space=gym_assets.observation_space(17),
        single_action_space=gym_assets.action_space(6, 1.0),
        max_episode_steps=gym_assets.MAX_EPISODE_STEPS,
        reset_noise_scale=0.1,
        qvel_noise="normal",
        frame_skip=5,
        agent_cfg=Path(__file__).parent / "agent.yaml",
    )
)
