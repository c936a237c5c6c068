"""Where a legged robot's quantities sit in the compiled model: written out, so that importing the tasks
compiles no model; a test holds each robot's layout to its compiled model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LeggedLayout:
    joint_names: tuple[str, ...]  # actuated joints, in actuator order (one position actuator each)
    default_pose: tuple[float, ...]  # rad, standing pose the actions are offsets from
    joint_low: tuple[float, ...]  # the joints' ranges (rad)
    joint_high: tuple[float, ...]
    base_height: float  # m, the base's height in the default pose (the reset height)
    foot_sites: tuple[int, ...]  # site ids at the feet's contact points
    foot_radius: float  # m: the feet's contact radius (their sites are this high above the ground in contact)
    # contact sensing: MuJoCo contact sensors (each foot geom and each geom that must not touch the ground, against the
    # floor; 3 numbers each, the normal force first), added at load in this order from `contact_sensor_start` on
    foot_geoms: tuple[tuple[str, ...], ...] = ()  # per foot, its colliding geoms
    illegal_contact_geoms: tuple[str, ...] = ()  # geoms whose touching the ground ends the episode
    contact_sensor_start: int = 0  # sensordata address of the first contact sensor (after the model's own sensors)
    # the feet's friction against the floor (a privileged term): geoms whose sliding friction their floor contacts
    # take (MuJoCo takes the higher-priority geom's), and explicit foot-floor contact pairs (they carry their own)
    foot_friction_geoms: tuple[int, ...] = ()
    foot_friction_pairs: tuple[int, ...] = ()
    base_body: int = 1  # body id of the floating base
    joint_qpos_start: int = 7  # after the free joint's position and quaternion
    joint_qvel_start: int = 6

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def num_feet(self) -> int:
        return len(self.foot_sites)
