"""The terrain in a MuJoCo model: one height field geom added with MjSpec at load, the same for both engines."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from .config import TerrainConfig
from .curriculum import terrain_of
from .generator import Terrain

BASE_DEPTH = 1.0  # m of solid below the lowest point (MuJoCo's hfield base)


def add_terrain(spec: mujoco.MjSpec, terrain: Terrain, name: str = "floor", friction: float = 1.0) -> None:
    """The terrain as a height field geom named `name` (tasks name it "floor", so contact sensors, contact pairs
    and contact filters that name the floor collide with it) and a light above it."""
    heights = terrain.heights
    low, high = float(heights.min()), float(heights.max())
    elevation = max(high - low, 1e-3)  # MuJoCo needs a positive elevation range, even for a flat grid
    nx, ny = heights.shape
    half_x, half_y = terrain.half_extent
    # MuJoCo's hfield: rows along y, columns along x, heights scaled to [0, 1] of the elevation range
    spec.add_hfield(
        name=f"{name}_hfield",
        nrow=ny,
        ncol=nx,
        size=[half_x, half_y, elevation, BASE_DEPTH],
        userdata=((heights.T - low) / elevation).astype(np.float32).reshape(-1).tolist(),
    )
    spec.worldbody.add_geom(
        name=name,
        type=mujoco.mjtGeom.mjGEOM_HFIELD,
        hfieldname=f"{name}_hfield",
        pos=[terrain.x0 + half_x, terrain.y0 + half_y, low],
        friction=[friction, 0.005, 0.0001],
        rgba=[0.45, 0.5, 0.55, 1],
    )
    spec.worldbody.add_light(pos=[0, 0, 5], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)


def capsules_for_cylinders(spec: mujoco.MjSpec) -> None:
    """Colliding cylinders become capsules of the same radius and length (longer by the radius at each end): MJX
    collides no cylinder with a height field. The same model then runs on both engines."""
    for geom in spec.geoms:
        if geom.type == mujoco.mjtGeom.mjGEOM_CYLINDER and (geom.contype or geom.conaffinity):
            geom.type = mujoco.mjtGeom.mjGEOM_CAPSULE


def no_margins(spec: mujoco.MjSpec) -> None:
    """Colliding geoms get no contact margin or gap: MJX collides no height field with a geom that has one (it
    raises at put_model; Menagerie's Go1 gives its geoms a 1 mm margin). The same model then runs on both engines."""
    for geom in spec.geoms:
        if geom.contype or geom.conaffinity:
            geom.margin = geom.gap = 0.0
    for pair in spec.pairs:
        pair.margin = pair.gap = 0.0


@dataclass(frozen=True)
class TerrainFloor:
    """A robot's floor as its task builds it: the terrain of `config` as the geom "floor" (replacing a floor the
    robot's scene has), its colliding cylinders as capsules, no contact margins. With `touching`, only those geoms
    (by name, or all of a body's by the body's name) touch the terrain: the feet and what ends an episode when it
    touches. Fewer geoms against a height field spare MJX four contacts each and MuJoCo Warp a narrowphase over
    prisms; a shin that sinks into the prisms within one substep is pushed out sideways, through their walls."""

    config: TerrainConfig
    touching: tuple[str, ...] | None = None  # geom or body names

    def __call__(self, spec: mujoco.MjSpec) -> None:
        for geom in list(spec.geoms):
            if geom.name == "floor":
                spec.delete(geom)
        add_terrain(spec, terrain_of(self.config))
        capsules_for_cylinders(spec)
        no_margins(spec)
        if self.touching is None:
            return
        for geom in spec.geoms:
            if geom.name != "floor" and not self._touches(geom):
                geom.contype = geom.conaffinity = 0
        for pair in list(spec.pairs):  # explicit contact pairs with the floor (G1's scene)
            names = (pair.geomname1, pair.geomname2)
            if "floor" in names:
                other = names[1] if names[0] == "floor" else names[0]
                if not self._touches(spec.geom(other)):
                    spec.delete(pair)

    def _touches(self, geom) -> bool:
        return geom.name in self.touching or geom.parent.name in self.touching
