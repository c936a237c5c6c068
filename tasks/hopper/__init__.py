"""hopper: gymnasium's Hopper-v5 (1000 steps of 0.008 s)."""

from pathlib import Path

from envs import TaskSpec

from .. import gymnasium_assets as gym_assets
from ..registry import register
from . import mdp

HOPPER = register(
    TaskSpec(
        name="hopper",
        mjcf=gym_assets.mjcf("hopper.xml"),
        observations=mdp.observations,
        reward=mdp.reward,
        terminated=mdp.terminated,
        tracked=mdp.tracked,
        single_observation_space=gym_assets.observation_space(11),
        single_action_space=gym_assets.action_space(3, 1.0),
        max_episode_steps=gym_assets.MAX_EPISODE_STEPS,
        reset_noise_scale=5e-3,
        frame_skip=4,
        solved_return=1000.0,
        agent_cfg=Path(__file__).parent / "agent.yaml",
        default_num_envs=256,  # what the default agent was measured with (README, Tasks)
    )
)
