"""go1-flat as tables: observations, rewards, terminations, commands and events of the Go1 on flat ground.

Numbers chosen after Isaac Lab's and mjlab's flat velocity tasks and MuJoCo Playground's Go1 joystick (read,
not copied), and stated here: 50 Hz control, 20 s episodes, tracking sigma 0.25, actions 0.25 rad per unit.
"""

from __future__ import annotations

from functools import partial

from ..locomotion import terms
from ..locomotion.events import Locomotion, Pushes, ResetRanges, VelocityCommands
from ..mdp_tables import ObservationGroup, ObsTerm, RewardTable, TerminationTable
from .robot import LAYOUT, model_spec

ACTION_SCALE = 0.25  # rad of joint target per unit of action
CONTROL_DT = 0.02  # s (50 Hz)
EPISODE_S = 20.0


def _on(term, **params):
    """A term bound to the Go1's layout (and parameters)."""
    return partial(term, layout=LAYOUT, **params)


J = LAYOUT.num_joints
# The policy's observations: noisy, as a real robot's IMU and encoders would give them.
POLICY = ObservationGroup(
    (
        ObsTerm("base_lin_vel", _on(terms.base_lin_vel), 3, noise=0.1),
        ObsTerm("base_ang_vel", _on(terms.base_ang_vel), 3, noise=0.2),
        ObsTerm("projected_gravity", _on(terms.projected_gravity), 3, noise=0.05),
        ObsTerm("command", _on(terms.command), 3),
        ObsTerm("joint_pos", _on(terms.joint_pos), J, noise=0.01),
        ObsTerm("joint_vel", _on(terms.joint_vel), J, noise=1.5, scale=0.05),
        ObsTerm("last_action", _on(terms.last_action), J),
    )
)

# The critic's privileged group (asymmetric actor-critic): the policy's terms without noise, and what the robot does
# not measure: base height, foot contacts, the base mass and the feet's floor friction this world's randomization drew.
CRITIC = ObservationGroup(
    (
        *POLICY.terms,
        ObsTerm("base_height", _on(terms.base_height), 1),
        ObsTerm("feet_contact", _on(terms.feet_contact), LAYOUT.num_feet),
        ObsTerm("base_mass", _on(terms.base_mass), 1, scale=0.2),
        ObsTerm("foot_friction", _on(terms.foot_friction), 4),
    ),
    noise=False,
)

REWARDS = RewardTable(
    {
        "track_lin_vel_xy": (_on(terms.track_lin_vel_xy), 1.0),
        "track_ang_vel_z": (_on(terms.track_ang_vel_z), 0.5),
        "lin_vel_z": (_on(terms.lin_vel_z), -2.0),
        "ang_vel_xy": (_on(terms.ang_vel_xy), -0.05),
        "flat_orientation": (_on(terms.flat_orientation), -2.5),
        "joint_torques": (_on(terms.joint_torques), -2e-4),
        "joint_acc": (_on(terms.joint_acc), -2.5e-7),
        "action_rate": (_on(terms.action_rate), -0.01),
        "joint_limits": (_on(terms.joint_limits), -1.0),
        "feet_air_time": (_on(terms.feet_air_time, threshold=0.5), 0.25),
    }
)

TERMINATIONS = TerminationTable(
    {
        "fallen": _on(terms.fallen, min_height=0.12),  # the trunk on the ground or tilted past 60 degrees
        "illegal_contact": _on(terms.illegal_contact),  # the trunk pressing on the floor (> 1 N, contact sensors)
    }
)

EVENTS = Locomotion(
    layout=LAYOUT,
    commands=VelocityCommands(
        vx=(-1.0, 1.0),
        vy=(-0.5, 0.5),
        wz=(-1.0, 1.0),
        resample_s=(5.0, 10.0),
        standing_fraction=0.1,
        heading_fraction=0.25,
    ),
    pushes=Pushes(interval_s=(1.0, 3.0), velocity=0.3),
    reset=ResetRanges(position=0.5, yaw=3.14159, joint=0.1, velocity=0.2),
    uniform_offset=POLICY.uniform_count,
    model_spec=model_spec,  # the reset lifts the base so that the joint noise puts no geom into the floor
)
