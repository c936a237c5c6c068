"""Unitree Go1 from MuJoCo Menagerie (`unitree_go1`, go1.xml), as go1-flat edits it at load."""

from __future__ import annotations

import mujoco

from .. import robots
from ..locomotion.layout import LeggedLayout

TIMESTEP = 0.004  # s; 5 substeps per 50 Hz control step
# Newton solver iterations: few, as GPU simulators run legged robots (the warm-started solver converges in a
# handful on flat ground); Menagerie's 100/50 cost MuJoCo Warp's step several times over for the same gait
SOLVER_ITERATIONS, SOLVER_LS_ITERATIONS = 4, 8
STIFFNESS, DAMPING = 35.0, 0.5  # PD gains of every joint (N m/rad, N m s/rad); Menagerie's kp is 100
LEGS = ("FR", "FL", "RR", "RL")

LAYOUT = LeggedLayout(
    joint_names=tuple(f"{leg}_{part}_joint" for leg in LEGS for part in ("hip", "thigh", "calf")),
    default_pose=(0.0, 0.9, -1.8) * 4,  # Menagerie's "home" keyframe
    joint_low=(-0.863, -0.686, -2.818) * 4,
    joint_high=(0.863, 4.501, -0.888) * 4,
    base_height=0.27,  # trunk height of the "home" keyframe (it settles at 0.24 under these gains)
    foot_sites=(2, 3, 4, 5),  # the sites FR, FL, RR, RL (after head and imu)
    foot_radius=0.023,
    foot_geoms=(("FR",), ("FL",), ("RR",), ("RL",)),  # the foot spheres
    illegal_contact_geoms=tuple(f"trunk_collision_{k}" for k in range(8)),  # the trunk's boxes and cylinders
    contact_sensor_start=0,  # go1.xml has no sensors of its own
    # the foot spheres FR, FL, RR, RL (priority 1, the floor's 0: their friction is their contacts')
    foot_friction_geoms=(16, 24, 33, 42),
)


def model_spec(
    visual: bool = False,
    solver_iterations: tuple[int, int] = (SOLVER_ITERATIONS, SOLVER_LS_ITERATIONS),
    floor=robots.add_flat_floor,
) -> mujoco.MjSpec:
    """go1.xml on a flat floor of the task's own; visual meshes only when rendering; one PD gain pair for all
    joints; the solver options both engines run (a 4 ms timestep, few solver iterations).

    Collision simplifications: the robot touches the floor only (no self-collisions: legs do not reach each
    other in this task, and the pairs cost narrowphase work on every substep), and every contact has condim 3
    (MJX implements no condim 1 with elliptic cones, and the feet's torsional/rolling friction, condim 6,
    adds constraint rows a flat-ground task does not need). `floor(spec)` adds the geom "floor" (go1-rough: the
    terrain)."""
    spec = robots.robot_spec("unitree_go1", "go1")
    floor(spec)
    if not visual:
        robots.drop_visual_geoms(spec)
    spec.option.timestep = TIMESTEP
    spec.option.iterations, spec.option.ls_iterations = solver_iterations
    robots.floor_contacts_only(spec, floor="floor")
    for geom in spec.geoms:
        if geom.contype or geom.conaffinity:
            geom.condim = 3
    trunk_geoms = [geom for geom in spec.geoms if geom.parent.name == "trunk" and (geom.contype or geom.conaffinity)]
    for index, geom in enumerate(trunk_geoms):
        geom.name = f"trunk_collision_{index}"
    robots.add_contact_sensors(
        spec, [geom for foot in LAYOUT.foot_geoms for geom in foot] + list(LAYOUT.illegal_contact_geoms)
    )
    for actuator in spec.actuators:
        actuator.gainprm[0] = STIFFNESS
        actuator.biasprm[1] = -STIFFNESS
        actuator.biasprm[2] = -DAMPING
    return spec
