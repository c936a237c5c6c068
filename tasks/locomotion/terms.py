"""Observation, reward and termination terms of velocity-command locomotion: `(xp, s, layout) -> array`.

Frames: MuJoCo's free joint keeps the base's linear velocity in the world frame (qvel[0:3]) and its angular
velocity in the base frame (qvel[3:6]); the terms rotate what they need into the base frame.
"""

from __future__ import annotations

from .layout import LeggedLayout

# ---- frames ----


def _cross(xp, a, b):
    return xp.stack(
        [
            a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
            a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
            a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
        ],
        axis=-1,
    )


def rotate_inverse(xp, quat, vector):
    """vector (world frame) in the frame of unit quaternions quat (w, x, y, z)."""
    w, u = quat[..., :1], -quat[..., 1:]  # the conjugate rotates back
    return vector + 2.0 * _cross(xp, u, _cross(xp, u, vector) + w * vector)


def base_quat(s):
    return s.qpos[:, 3:7]


def yaw(xp, quat):
    w, x, y, z = quat[:, 0], quat[:, 1], quat[:, 2], quat[:, 3]
    return xp.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def wrap_angle(xp, angle):
    return xp.arctan2(xp.sin(angle), xp.cos(angle))


# ---- observation terms ----


def base_lin_vel(xp, s, layout: LeggedLayout = None):
    """(num_envs, 3) m/s, base frame."""
    return rotate_inverse(xp, base_quat(s), s.qvel[:, 0:3])


def base_ang_vel(xp, s, layout: LeggedLayout = None):
    """(num_envs, 3) rad/s, base frame."""
    return s.qvel[:, 3:6]


def projected_gravity(xp, s, layout: LeggedLayout = None):
    """(num_envs, 3): the unit gravity direction in the base frame ((0, 0, -1) upright)."""
    quat = base_quat(s)
    down = xp.zeros_like(quat[:, 1:]) + _constant(xp, quat, (0.0, 0.0, -1.0))
    return rotate_inverse(xp, quat, down)


def joint_pos(xp, s, layout: LeggedLayout):
    """(num_envs, joints) rad, relative to the default pose."""
    start = layout.joint_qpos_start
    return s.qpos[:, start : start + layout.num_joints] - _constant(xp, s.qpos, layout.default_pose)


def joint_vel(xp, s, layout: LeggedLayout):
    start = layout.joint_qvel_start
    return s.qvel[:, start : start + layout.num_joints]


def command(xp, s, layout: LeggedLayout = None):
    """(num_envs, 3): the commanded vx, vy (m/s, base frame) and yaw rate (rad/s)."""
    return s.task["command"]


def last_action(xp, s, layout: LeggedLayout = None):
    return s.task["last_action"]


# ---- privileged terms (the critic's group: what a real robot does not measure) ----


def base_height(xp, s, layout: LeggedLayout = None):
    """(num_envs, 1) m: the base's height above the flat ground."""
    return s.qpos[:, 2:3]


def feet_contact(xp, s, layout: LeggedLayout = None):
    """(num_envs, feet) 0/1: which feet touch the ground (the task state's contact, updated each step)."""
    return s.task["contact"]


def base_mass(xp, s, layout: LeggedLayout):
    """(num_envs, 1) kg: the base's mass in this world (it differs with mass randomization)."""
    return s.body_mass[:, layout.base_body : layout.base_body + 1]


def foot_friction(xp, s, layout: LeggedLayout):
    """(num_envs, contacts): the sliding friction coefficient of the feet's contacts with the floor in each world (it
    differs per world with friction randomization): the layout's foot geoms' (they outrank the floor's priority),
    then its foot-floor contact pairs'."""
    columns = []
    if layout.foot_friction_geoms:
        columns.append(s.model["geom_friction"][:, list(layout.foot_friction_geoms), 0])
    if layout.foot_friction_pairs:
        columns.append(s.model["pair_friction"][:, list(layout.foot_friction_pairs), 0])
    return xp.concatenate(columns, axis=-1)


def _constant(xp, like, values):
    if xp.__name__ == "torch":
        return xp.tensor(values, dtype=like.dtype, device=like.device)
    return xp.asarray(values, dtype=like.dtype)


# ---- contact sensing: forces from MuJoCo contact sensors (geom against floor), the same on both engines ----


def foot_heights(xp, s, layout: LeggedLayout):
    return s.data.site_xpos[:, list(layout.foot_sites), 2]


def _normal_forces(s, layout: LeggedLayout, first: int, count: int):
    """(num_envs, count) N: the normal contact forces of `count` contact sensors from the `first` on."""
    start = layout.contact_sensor_start + 3 * first
    return s.data.sensordata[:, start : start + 3 * count : 3]


def foot_contact_forces(xp, s, layout: LeggedLayout):
    """(num_envs, feet) N: each foot's largest normal force against the floor (over its geoms)."""
    forces, first = [], 0
    for geoms in layout.foot_geoms:
        forces.append(xp.amax(_normal_forces(s, layout, first, len(geoms)), -1))
        first += len(geoms)
    return xp.stack(forces, axis=-1)


def foot_contact(xp, s, layout: LeggedLayout, threshold: float = 1.0):
    """(num_envs, feet) bool: the foot presses on the floor with more than `threshold` newtons."""
    return foot_contact_forces(xp, s, layout) > threshold


def illegal_contact(xp, s, layout: LeggedLayout, threshold: float = 1.0):
    """(num_envs,) bool: a geom that must not touch the ground (trunk, pelvis, head) presses on it with more than
    `threshold` newtons."""
    first = sum(len(geoms) for geoms in layout.foot_geoms)
    return (_normal_forces(s, layout, first, len(layout.illegal_contact_geoms)) > threshold).any(-1)


# ---- reward terms (positive quantities; the table's weight gives the sign) ----


def track_lin_vel_xy(xp, s, layout: LeggedLayout = None, sigma: float = 0.25):
    """exp(-|command_xy - v_xy|^2 / sigma), base frame."""
    error = s.task["command"][:, :2] - base_lin_vel(xp, s)[:, :2]
    return xp.exp(-(error * error).sum(-1) / sigma)


def track_ang_vel_z(xp, s, layout: LeggedLayout = None, sigma: float = 0.25):
    error = s.task["command"][:, 2] - s.qvel[:, 5]
    return xp.exp(-(error * error) / sigma)


def lin_vel_z(xp, s, layout: LeggedLayout = None):
    velocity = base_lin_vel(xp, s)[:, 2]
    return velocity * velocity


def ang_vel_xy(xp, s, layout: LeggedLayout = None):
    return (s.qvel[:, 3:5] * s.qvel[:, 3:5]).sum(-1)


def flat_orientation(xp, s, layout: LeggedLayout = None):
    gravity = projected_gravity(xp, s)[:, :2]
    return (gravity * gravity).sum(-1)


def joint_torques(xp, s, layout: LeggedLayout = None):
    force = s.data.actuator_force
    return (force * force).sum(-1)


def joint_acc(xp, s, layout: LeggedLayout):
    start = layout.joint_qvel_start
    acc = s.data.qacc[:, start : start + layout.num_joints]
    return (acc * acc).sum(-1)


def action_rate(xp, s, layout: LeggedLayout = None):
    change = s.action - s.task_before["last_action"]
    return (change * change).sum(-1)


def joint_limits(xp, s, layout: LeggedLayout, soft: float = 0.9):
    """How far the joints are outside the middle `soft` fraction of their ranges (rad, summed)."""
    start = layout.joint_qpos_start
    q = s.qpos[:, start : start + layout.num_joints]
    low, high = _constant(xp, q, layout.joint_low), _constant(xp, q, layout.joint_high)
    middle, half = (low + high) / 2, (high - low) / 2 * soft
    return (xp.clip(middle - half - q, 0.0, None) + xp.clip(q - middle - half, 0.0, None)).sum(-1)


def feet_air_time(xp, s, layout: LeggedLayout = None, threshold: float = 0.5, min_command: float = 0.1):
    """At each touch-down, the swing's air time minus `threshold` (s), summed over feet; 0 while the command
    asks to stand (|command_xy| below min_command), where stepping is not wanted."""
    first_contact = s.task["first_contact"]
    reward = ((s.task["last_air_time"] - threshold) * first_contact).sum(-1)
    moving = (s.task["command"][:, :2] * s.task["command"][:, :2]).sum(-1) > min_command * min_command
    return reward * moving


# ---- terminations ----


def fallen(xp, s, layout: LeggedLayout, min_height: float, max_tilt_cos: float = 0.5):
    """The base is below min_height or tilted more than arccos(max_tilt_cos) from upright."""
    up = -projected_gravity(xp, s)[:, 2]
    return (s.qpos[:, 2] < min_height) | (up < max_tilt_cos)
