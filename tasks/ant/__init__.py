"""ant: gymnasium's Ant-v5 (1000 steps of 0.05 s)."""

from pathlib import Path

from envs import TaskSpec

from .. import gymnasium_assets as gym_assets
from ..registry import register
from . import mdp

ANT = register(
    TaskSpec(
        name="ant",
        mjcf=gym_assets.mjcf("ant.xml"),
        observations=mdp.observations,
        reward=mdp.reward,
        terminated=mdp.terminated,
        tracked=mdp.tracked,
        single_observation_space=gym_assets.observation_space(105),
        single_action_space=gym_assets.action_space(8, 1.0),
        max_episode_steps=gym_assets.MAX_EPISODE_STEPS,
        reset_noise_scale=0.1,
        qvel_noise="normal",
        frame_skip=5,
        forward_on_reset=True,  # the torso position the forward reward starts from is computed by mj_forward
        post_constraint=True,  # cfrc_ext
        agent_cfg=Path(__file__).parent / "agent.yaml",
    )
)
