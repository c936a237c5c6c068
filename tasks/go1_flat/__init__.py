"""go1-flat: the Unitree Go1 follows base-velocity commands on flat ground (50 Hz, 20 s episodes)."""

from dataclasses import dataclass
from pathlib import Path

from envs import Randomization

from ..locomotion.config import LocomotionConfig
from ..registry import register
from ..velocity_task import VelocityTask
from . import mdp, robot

TASK = VelocityTask(
    name="go1-flat",
    robot=robot,
    mdp=mdp,
    robot_name="unitree_go1",
    # per world, drawn at each reset: link masses (and inertias) and geom friction
    randomization=Randomization(mass=(0.9, 1.1), friction=(0.6, 1.25)),
    nconmax=32,
    njmax=128,
    agent_cfg=Path(__file__).parent / "agent.yaml",
)


@dataclass(frozen=True)
class Go1FlatConfig(LocomotionConfig):
    """go1-flat's settings (`--env.*`, defaults: the task's): episode length, randomization, contact buffers, commands,
    pushes, resets and reward weights."""

    task = TASK


GO1_FLAT = register(TASK.spec(), Go1FlatConfig)
