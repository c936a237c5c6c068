"""inverted-pendulum: gymnasium's InvertedPendulum-v5 (1000 steps of 0.04 s; return 1000 = never fell)."""

from pathlib import Path

from envs import TaskSpec

from .. import gymnasium_assets as gym_assets
from ..registry import register
from . import mdp

INVERTED_PENDULUM = register(
    TaskSpec(
        name="inverted-pendulum",
        mjcf=gym_assets.mjcf("inverted_pendulum.xml"),
        observations=mdp.observations,
        reward=mdp.reward,
        terminated=mdp.terminated,
        single_observation_space=gym_assets.observation_space(4),
        single_action_space=gym_assets.action_space(1, 3.0),
        max_episode_steps=gym_assets.MAX_EPISODE_STEPS,
        reset_noise_scale=0.01,
        frame_skip=2,
        solved_return=1000.0,
        agent_cfg=Path(__file__).parent / "agent.yaml",
        default_num_envs=64,  # what the default agent was measured with (README, Tasks)
    )
)
