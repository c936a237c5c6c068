"""humanoid: gymnasium's Humanoid-v5 (1000 steps of 0.015 s).

One change to gymnasium's model: its PGS solver, which neither MJX nor MuJoCo Warp implements, is replaced by
Newton (the same constraint problem, solved by another method; the solution agrees to solver tolerance)."""

from pathlib import Path

import mujoco

from envs import TaskSpec

from .. import gymnasium_assets as gym_assets
from ..registry import register
from . import mdp


def use_newton_solver(model) -> None:
    model.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON


HUMANOID = register(
    TaskSpec(
        name="humanoid",
        mjcf=gym_assets.mjcf("humanoid.xml"),
        observations=mdp.observations,
        reward=mdp.reward,
        terminated=mdp.terminated,
        tracked=mdp.tracked,
        single_observation_space=gym_assets.observation_space(348),
        single_action_space=gym_assets.action_space(17, 0.4),
        max_episode_steps=gym_assets.MAX_EPISODE_STEPS,
        reset_noise_scale=1e-2,
        frame_skip=5,
        forward_on_reset=True,  # the first observation holds com inertias, velocities and actuator forces
        post_constraint=True,  # cfrc_ext
        edit_model=use_newton_solver,
        agent_cfg=Path(__file__).parent / "agent.yaml",
    )
)
