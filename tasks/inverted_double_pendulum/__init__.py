"""inverted-double-pendulum: gymnasium's InvertedDoublePendulum-v5 (1000 steps of 0.05 s)."""

from pathlib import Path

from envs import TaskSpec

from .. import gymnasium_assets as gym_assets
from ..registry import register
from . import mdp

INVERTED_DOUBLE_PENDULUM = register(
    TaskSpec(
        name="inverted-double-pendulum",
        mjcf=gym_assets.mjcf("inverted_double_pendulum.xml"),
        observations=mdp.observations,
        reward=mdp.reward,
        terminated=mdp.terminated,
        single_observation_space=gym_assets.observation_space(9),
        single_action_space=gym_assets.action_space(1, 1.0),
        max_episode_steps=gym_assets.MAX_EPISODE_STEPS,
        reset_noise_scale=0.1,
        qvel_noise="normal",
        frame_skip=5,
        forward_on_reset=True,  # the first observation holds a constraint force, which mj_forward computes
        solved_return=9100.0,
        agent_cfg=Path(__file__).parent / "agent.yaml",
    )
)
