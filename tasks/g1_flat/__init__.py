"""g1-flat: the Unitree G1 humanoid follows base-velocity commands on flat ground (50 Hz, 20 s episodes)."""

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np

from envs import JointPositionActions, Randomization, TaskSpec

from ..locomotion.config import LocomotionConfig
from ..registry import register
from . import mdp, robot


@dataclass(frozen=True)
class G1FlatConfig(LocomotionConfig):
    """g1-flat's settings (`--env.*`, defaults: the task's): episode length, randomization, contact buffers, commands,
    pushes, resets and reward weights."""

    events = mdp.EVENTS
    reward_table = mdp.REWARDS


G1_FLAT = register(
    TaskSpec(
        name="g1-flat",
        mjcf=None,
        model_spec=robot.model_spec,
        render_model_spec=partial(robot.model_spec, visual=True),  # play.py --video shows the robot's meshes
        observations=mdp.POLICY,
        reward=mdp.REWARDS,
        terminated=mdp.TERMINATIONS,
        single_observation_space=gym.spaces.Box(-np.inf, np.inf, (mdp.POLICY.size,), np.float32),
        states=mdp.CRITIC,  # the critic's noise-free privileged group (skrl's states)
        single_state_space=gym.spaces.Box(-np.inf, np.inf, (mdp.CRITIC.size,), np.float32),
        # actions are offsets from the default pose in units of ACTION_SCALE; the actuators' ranges clip the targets
        single_action_space=gym.spaces.Box(-10.0, 10.0, (robot.LAYOUT.num_joints,), np.float32),
        max_episode_steps=round(mdp.EPISODE_S / mdp.CONTROL_DT),
        reset_noise_scale=0.0,  # the reset event below places the base and the joints
        frame_skip=round(mdp.CONTROL_DT / robot.TIMESTEP),
        joint_actions=JointPositionActions(
            joint_names=robot.LAYOUT.joint_names,
            default_pose=robot.LAYOUT.default_pose,
            scale=(mdp.ACTION_SCALE,) * robot.LAYOUT.num_joints,
            stiffness=robot.STIFFNESS,
            damping=robot.DAMPING,
        ),
        task_state=mdp.EVENTS.task_state,
        finish_reset=mdp.EVENTS.finish_reset,
        reset_state=mdp.EVENTS.reset_state,
        reset_uniforms=mdp.EVENTS.reset_uniforms,
        advance=mdp.EVENTS.advance,
        step_uniforms=mdp.POLICY.uniform_count + mdp.EVENTS.step_uniforms,
        # per world, drawn at each reset: link masses (and inertias) and the friction of the model's explicit contact
        # pairs (the feet touch the floor through them; geom friction factors would not reach them)
        randomization=Randomization(mass=(0.9, 1.1), pair_friction=(0.6, 1.25)),
        nconmax=16,
        njmax=256,  # mujoco_warp's default of 64 rows overflows
        metadata={
            "robot": "unitree_g1",
            "control_dt": mdp.CONTROL_DT,
            "observation_layout": mdp.POLICY.layout(),
            "commands": mdp.EVENTS.commands.metadata(),
        },
        agent_cfg=Path(__file__).parent / "agent.yaml",
        default_num_envs=1024,
    ),
    G1FlatConfig,
)
