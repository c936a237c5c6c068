"""g1-flat: the Unitree G1 humanoid follows base-velocity commands on flat ground (50 Hz, 20 s episodes)."""

from dataclasses import dataclass
from pathlib import Path

from envs import Randomization

from ..locomotion.config import LocomotionConfig
from ..registry import register
from ..velocity_task import VelocityTask
from . import mdp, robot

TASK = VelocityTask(
    name="g1-flat",
    robot=robot,
    mdp=mdp,
    robot_name="unitree_g1",
    # per world, drawn at each reset: link masses (and inertias) and the friction of the model's explicit contact
    # pairs (the feet touch the floor through them; geom friction factors would not reach them)
    randomization=Randomization(mass=(0.9, 1.1), pair_friction=(0.6, 1.25)),
    nconmax=16,
    njmax=256,  # mujoco_warp's default of 64 rows overflows
    agent_cfg=Path(__file__).parent / "agent.yaml",
)


@dataclass(frozen=True)
class G1FlatConfig(LocomotionConfig):
    """g1-flat's settings (`--env.*`, defaults: the task's): episode length, randomization, contact buffers, commands,
    pushes, resets and reward weights."""

    task = TASK


G1_FLAT = register(TASK.spec(), G1FlatConfig)
