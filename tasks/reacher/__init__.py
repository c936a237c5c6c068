"""reacher: gymnasium's Reacher-v5 (50 steps of 0.02 s)."""

from pathlib import Path

from envs import TaskSpec

from .. import gymnasium_assets as gym_assets
from ..registry import register
from . import mdp

REACHER = register(
    TaskSpec(
        name="reacher",
        mjcf=gym_assets.mjcf("reacher.xml"),
        observations=mdp.observations,
        reward=mdp.reward,
        terminated=mdp.terminated,
        single_observation_space=gym_assets.observation_space(10),
        single_action_space=gym_assets.action_space(2, 1.0),
        max_episode_steps=50,  # gymnasium registers Reacher-v5 with 50 steps
        reset_noise_scale=0.1,
        qvel_noise_scale=0.005,
        finish_reset=mdp.place_goal,
        reset_uniforms=2,
        frame_skip=2,
        forward_on_reset=True,  # the first observation reads the fingertip's position, which mj_forward computes
        solved_return=-3.75,  # gymnasium's reward threshold for Reacher-v5
        agent_cfg=Path(__file__).parent / "agent.yaml",
    )
)
