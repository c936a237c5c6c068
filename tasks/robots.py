"""Robot models from MuJoCo Menagerie, through the `mujoco-menagerie` package, edited with MjSpec at load.

The package downloads a robot once into its cache, or reads a local Menagerie copy named by MENAGERIE_ROOT
(clusters whose nodes have no internet; tests and CI use ../shared/menagerie). No model file is kept in this
repository. The edits a task makes (its floor and light, sites, contact exclusions, visual meshes off, solver
options) run on the MjSpec, so both engines compile the same model.
"""

from __future__ import annotations

import os

import mujoco

VISUAL_GROUP = 2  # Menagerie's robots put their visual-only meshes in geom group 2 (no contact)


class RobotUnavailableError(RuntimeError):
    """A robot's model files cannot be found or downloaded."""


def robot_spec(robot: str, entry: str) -> mujoco.MjSpec:
    """The Menagerie robot's entry point (an XML file name without .xml, e.g. "go1") as an editable MjSpec;
    one line naming the robot and MENAGERIE_ROOT when its files are not to be had."""
    import mujoco_menagerie

    root = os.environ.get("MENAGERIE_ROOT")
    where = f"MENAGERIE_ROOT={root}" if root else "MENAGERIE_ROOT is unset and the download failed"
    try:
        xml = mujoco_menagerie.get(robot).xml(entry)
    except mujoco_menagerie.UnknownRobotError as error:
        raise RobotUnavailableError(f"robot: {robot!r} is not a MuJoCo Menagerie robot ({error})") from None
    except mujoco_menagerie.UnknownEntryPointError as error:
        raise RobotUnavailableError(f"robot {robot!r}: {error}") from None
    except (mujoco_menagerie.MenagerieError, OSError) as error:
        raise RobotUnavailableError(
            f"robot {robot!r}: model files not available ({where}: {str(error).splitlines()[0]}); point "
            "MENAGERIE_ROOT at a local MuJoCo Menagerie copy or allow the one-time download"
        ) from None
    if not xml.is_file():
        raise RobotUnavailableError(
            f"robot {robot!r}: model file {xml} is missing ({where}); point MENAGERIE_ROOT "
            f"at a complete MuJoCo Menagerie copy"
        )
    try:
        return mujoco.MjSpec.from_file(str(xml))
    except ValueError as error:  # a mesh or an included file is missing
        raise RobotUnavailableError(
            f"robot {robot!r}: {xml} does not load ({where}): {str(error).splitlines()[0]}"
        ) from None


def add_flat_floor(spec: mujoco.MjSpec, name: str = "floor", friction: float = 1.0) -> None:
    """A ground plane and a directional light of the task's own (for robots loaded without their scene)."""
    spec.worldbody.add_geom(
        name=name,
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[0, 0, 0.05],
        friction=[friction, 0.005, 0.0001],
        rgba=[0.3, 0.35, 0.4, 1],
    )
    spec.worldbody.add_light(pos=[0, 0, 3], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)


def drop_visual_geoms(spec: mujoco.MjSpec) -> None:
    """Removes the visual-only meshes (group 2, no contact): training does not render, and the engines would
    otherwise carry their meshes. The meshes no geom uses any more go too."""
    for geom in list(spec.geoms):
        if geom.group == VISUAL_GROUP and geom.contype == 0 and geom.conaffinity == 0:
            spec.delete(geom)
    used = {geom.meshname for geom in spec.geoms if geom.type == mujoco.mjtGeom.mjGEOM_MESH}
    for mesh in list(spec.meshes):
        if mesh.name not in used:
            spec.delete(mesh)


def floor_contacts_only(spec: mujoco.MjSpec, floor: str) -> None:
    """The robot's colliding geoms touch the floor and nothing else (contype/conaffinity bits: a contact needs
    one geom's contype to meet the other's conaffinity)."""
    for geom in spec.geoms:
        if geom.name == floor:
            geom.contype, geom.conaffinity = 1, 0
        elif geom.contype or geom.conaffinity:
            geom.contype, geom.conaffinity = 0, 1


def add_contact_sensors(spec: mujoco.MjSpec, geoms: list[str], floor: str = "floor") -> None:
    """One MuJoCo contact sensor per geom, against the floor: the largest contact's force in its contact frame (3
    numbers, the normal force first). Geom-to-geom matching, the form both MJX and MuJoCo Warp implement."""
    for geom in geoms:
        spec.add_sensor(
            name=f"contact_{geom}",
            type=mujoco.mjtSensor.mjSENS_CONTACT,
            objtype=mujoco.mjtObj.mjOBJ_GEOM,
            objname=geom,
            reftype=mujoco.mjtObj.mjOBJ_GEOM,
            refname=floor,
            intprm=[CONTACT_FORCE, CONTACT_MAX_FORCE, 1],
        )


# contact sensor settings: data = force (bit 1 of mjtConDataField), reduce = the contact with the largest force
CONTACT_FORCE, CONTACT_MAX_FORCE = 1 << 1, 2


def exclude_contacts(spec: mujoco.MjSpec, pairs: list[tuple[str, str]]) -> None:
    """No contact between the bodies of each pair."""
    for first, second in pairs:
        spec.add_exclude(bodyname1=first, bodyname2=second)
