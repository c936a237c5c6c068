"""Unitree G1 (29 joints) from MuJoCo Menagerie (`unitree_g1`, scene_mjx.xml), as g1-flat edits it at load.

The MJX variant on both engines: its colliders (feet against the floor by explicit contact pairs, capsules and
boxes only) are what MJX implements (g1.xml's mesh and cylinder collisions are not), and its solver options
(4 ms, implicitfast, 5 Newton / 8 line-search iterations) and PD gains (kp 75 / 20 for ankles and wrists, kv 2)
are kept as Menagerie sets them.
"""

from __future__ import annotations

import mujoco

from .. import robots
from ..locomotion.layout import LeggedLayout

TIMESTEP = 0.004
_SIDES = ("left", "right")
JOINTS = (
    tuple(
        f"{side}_{part}_joint"
        for side in _SIDES
        for part in ("hip_pitch", "hip_roll", "hip_yaw", "knee", "ankle_pitch", "ankle_roll")
    )
    + ("waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint")
    + tuple(
        f"{side}_{part}_joint"
        for side in _SIDES
        for part in (
            "shoulder_pitch",
            "shoulder_roll",
            "shoulder_yaw",
            "elbow",
            "wrist_roll",
            "wrist_pitch",
            "wrist_yaw",
        )
    )
)
STIFFNESS = (75.0, 75.0, 75.0, 75.0, 20.0, 20.0) * 2 + (75.0,) * 3 + (75.0, 75.0, 75.0, 75.0, 20.0, 20.0, 20.0) * 2
DAMPING = (2.0,) * 29

LAYOUT = LeggedLayout(
    joint_names=JOINTS,
    # Menagerie's "knees_bent" keyframe
    default_pose=(-0.312, 0.0, 0.0, 0.669, -0.363, 0.0) * 2
    + (0.0, 0.0, 0.073)
    + (0.2, 0.22, 0.0, 1.0, 0.0, 0.0, 0.0, 0.2, -0.22, 0.0, 1.0, 0.0, 0.0, 0.0),
    joint_low=(
        -2.5307,
        -0.5236,
        -2.7576,
        -0.087267,
        -0.87267,
        -0.2618,
        -2.5307,
        -2.9671,
        -2.7576,
        -0.087267,
        -0.87267,
        -0.2618,
        -2.618,
        -0.52,
        -0.52,
        -3.0892,
        -1.5882,
        -2.618,
        -1.0472,
        -1.97222,
        -1.61443,
        -1.61443,
        -3.0892,
        -2.2515,
        -2.618,
        -1.0472,
        -1.97222,
        -1.61443,
        -1.61443,
    ),
    joint_high=(
        2.8798,
        2.9671,
        2.7576,
        2.8798,
        0.5236,
        0.2618,
        2.8798,
        0.5236,
        2.7576,
        2.8798,
        0.5236,
        0.2618,
        2.618,
        0.52,
        0.52,
        2.6704,
        2.2515,
        2.618,
        2.0944,
        1.97222,
        1.61443,
        1.61443,
        2.6704,
        1.5882,
        2.618,
        2.0944,
        1.97222,
        1.61443,
        1.61443,
    ),
    base_height=0.755,  # pelvis height of "knees_bent" with the soles on the floor
    foot_sites=(1, 2),  # left_foot, right_foot (at the soles, after imu_in_pelvis)
    foot_radius=0.01,  # the sole sites sit 3 mm into the floor when standing
    foot_geoms=tuple(
        tuple(f"{side}_{part}_collision" for part in ("foot_box", "foot1", "foot2", "foot3")) for side in _SIDES
    ),
    illegal_contact_geoms=("pelvis_collision", "torso_collision", "head_collision"),
    contact_sensor_start=44,  # after scene_mjx.xml's own sensors (IMUs and frame sensors: 44 numbers)
    foot_friction_pairs=(4, 5, 6, 10, 11, 12),  # scene_mjx.xml's pairs floor-left_foot1..3, floor-right_foot1..3
)


def model_spec(visual: bool = False, solver_iterations: tuple[int, int] | None = None, floor=None) -> mujoco.MjSpec:
    """scene_mjx.xml with the contact sensors of the layout; `solver_iterations` (Newton, line search) replace
    Menagerie's 5 / 8 (the parity test converges the solver); `floor(spec)` replaces the scene's floor (g1-rough:
    the terrain, named "floor" as the scene's contact pairs name it)."""
    spec = robots.robot_spec("unitree_g1", "scene_mjx")
    if floor is not None:
        floor(spec)
    if solver_iterations is not None:
        spec.option.iterations, spec.option.ls_iterations = solver_iterations
    if not visual:
        robots.drop_visual_geoms(spec)
    robots.add_contact_sensors(
        spec, [geom for foot in LAYOUT.foot_geoms for geom in foot] + list(LAYOUT.illegal_contact_geoms)
    )
    return spec
