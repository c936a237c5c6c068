"""The legged robots' velocity-command tasks (go1-flat, g1-flat, go1-rough, g1-rough) from one builder: what differs
between them is the robot, its MDP tables and a few numbers (a `VelocityTask`); the TaskSpec is made here once, on
flat ground or, with a terrain, on rough terrain (tasks/terrain/rough_task.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType

import gymnasium as gym
import numpy as np

from envs import JointPositionActions, Randomization, TaskSpec

from .locomotion.events import Locomotion
from .mdp_tables import RewardTable
from .terrain import HeightScan, TerrainConfig
from .terrain.model import TerrainFloor
from .terrain.rough_task import rough_rewards, rough_task, unbounded_box

MAX_PHYSICS_VALUE = 1e3  # |qpos|, |qvel| beyond which a robot's world counts as blown up (TaskSpec.max_physics_value)


def _per_joint(gains, num_joints: int) -> tuple[float, ...]:
    """A robot's PD gains per joint: its tuple, or one number for every joint."""
    return tuple(gains) if isinstance(gains, (tuple, list)) else (gains,) * num_joints


@dataclass(frozen=True)
class VelocityTask:
    """One registered velocity-command task: a robot following base-velocity commands at the control rate of its
    tables, on flat ground or (with `terrain`) on the terrain grid with a height scan and the terrain curriculum."""

    name: str
    robot: ModuleType
    """the robot's module: model_spec(visual=..., floor=...), LAYOUT, TIMESTEP, STIFFNESS, DAMPING"""
    mdp: ModuleType
    """its flat task's tables: POLICY, CRITIC, REWARDS, TERMINATIONS, EVENTS, and CONTROL_DT, EPISODE_S, ACTION_SCALE"""
    robot_name: str
    """the robot as exported metadata names it"""
    randomization: Randomization
    """per world, drawn at each reset"""
    nconmax: int
    njmax: int
    agent_cfg: Path
    terrain: TerrainConfig | None = None
    """None: flat ground"""
    scan: HeightScan | None = None
    """the height scan under the base (with a terrain)"""
    touching: tuple[str, ...] | None = None
    """the geoms (or bodies) that touch the terrain (tasks/terrain/model.py: TerrainFloor); None: all"""
    only_positive_rewards: bool = False
    """each step's total reward clipped at 0 (RewardTable.only_positive)"""
    default_num_envs: int = 1024

    @property
    def events(self) -> Locomotion:
        return self.mdp.EVENTS

    @property
    def reward_table(self) -> RewardTable:
        """The flat task's rewards; on a terrain, without those that only hold on flat ground."""
        table = self.mdp.REWARDS if self.terrain is None else rough_rewards(self.mdp.REWARDS)
        return dataclasses.replace(table, only_positive=self.only_positive_rewards)

    def spec(
        self,
        events: Locomotion | None = None,
        reward: RewardTable | None = None,
        terrain: TerrainConfig | None = None,
        scan: HeightScan | None = None,
    ) -> TaskSpec:
        """The task's TaskSpec; `events`, `reward`, `terrain` and `scan` replace its own (as a configuration sets
        them: tasks/locomotion/config.py, tasks/terrain/rough_config.py)."""
        events = self.events if events is None else events
        flat = self._flat(events, self.reward_table if reward is None else reward)
        if self.terrain is None:
            return flat
        floor = TerrainFloor(terrain or self.terrain, touching=self.touching)
        return rough_task(
            flat,
            self.mdp,
            name=self.name,
            terrain=terrain or self.terrain,
            scan=scan or self.scan,
            model_spec=partial(self.robot.model_spec, floor=floor),
            render_model_spec=partial(self.robot.model_spec, visual=True, floor=floor),
            agent_cfg=self.agent_cfg,
            nconmax=self.nconmax,
            njmax=self.njmax,
            events=events,
        )

    def _flat(self, events: Locomotion, reward: RewardTable) -> TaskSpec:
        robot, mdp = self.robot, self.mdp
        joints = robot.LAYOUT.num_joints
        return TaskSpec(
            name=self.name,
            mjcf=None,
            model_spec=robot.model_spec,
            render_model_spec=partial(robot.model_spec, visual=True),  # play.py --video shows the robot's meshes
            observations=mdp.POLICY,
            reward=reward,
            terminated=mdp.TERMINATIONS,
            single_observation_space=unbounded_box(mdp.POLICY.size),
            states=mdp.CRITIC,  # the critic's noise-free privileged group (skrl's states)
            single_state_space=unbounded_box(mdp.CRITIC.size),
            # actions are offsets from the default pose in units of ACTION_SCALE; the actuators' ranges clip targets
            single_action_space=gym.spaces.Box(-10.0, 10.0, (joints,), np.float32),
            max_episode_steps=round(mdp.EPISODE_S / mdp.CONTROL_DT),
            reset_noise_scale=0.0,  # the reset event places the base and the joints
            # a legged robot's joints turn at tens of rad/s and its base moves at a few m/s: 1e3 is far beyond any real
            # motion, and resets a contact blow-up before its velocities (1e6-1e8 on go1-rough, MJX) reach the agent
            max_physics_value=MAX_PHYSICS_VALUE,
            frame_skip=round(mdp.CONTROL_DT / robot.TIMESTEP),
            joint_actions=JointPositionActions(
                joint_names=robot.LAYOUT.joint_names,
                default_pose=robot.LAYOUT.default_pose,
                scale=(mdp.ACTION_SCALE,) * joints,
                stiffness=_per_joint(robot.STIFFNESS, joints),
                damping=_per_joint(robot.DAMPING, joints),
            ),
            task_state=events.task_state,
            finish_reset=events.finish_reset,
            reset_state=events.reset_state,
            reset_uniforms=events.reset_uniforms,
            advance=events.advance,
            step_uniforms=mdp.POLICY.uniform_count + events.step_uniforms,
            randomization=self.randomization,
            nconmax=self.nconmax,
            njmax=self.njmax,
            metadata={
                "robot": self.robot_name,
                "control_dt": mdp.CONTROL_DT,
                "observation_layout": mdp.POLICY.layout(),
                "commands": events.commands.metadata(),
            },
            agent_cfg=self.agent_cfg,
            default_num_envs=self.default_num_envs,
        )
