"""walker2d: gymnasium's Walker2d-v5 (its v5 model, walker2d_v5.xml; 1000 steps of 0.008 s)."""

from pathlib import Path

from envs import TaskSpec

from .. import gymnasium_assets as gym_assets
from ..registry import register
from . import mdp

WALKER2D = register(
    TaskSpec(
        name="walker2d",
        mjcf=gym_assets.mjcf("walker2d_v5.xml"),
        observations=mdp.observations,
        reward=mdp.reward,
        terminated=mdp.terminated,
        tracked=mdp.tracked,
        single_observation_space=gym_assets.observation_space(17),
        single_action_space=gym_assets.action_space(6, 1.0),
        max_episode_steps=gym_assets.MAX_EPISODE_STEPS,
        reset_noise_scale=5e-3,
        frame_skip=4,
        agent_cfg=Path(__file__).parent / "agent.yaml",
    )
)
