"""MuJoCo Warp's sphere and capsule contacts with a height field, as C MuJoCo finds them.

mujoco_warp 4.0 collides a height field prism by prism with GJK. A sphere or a capsule is first shrunk to its centre
point or segment; when that is outside the prism but within the radius (a shallow contact), `_inflate` turns the
distance into the contact. For a height field it has a branch of its own: when GJK's support points on the prism
came from both upward and downward search directions ("a side"), it drops GJK's answer and measures straight down
from the sphere's lowest point to the prism's top triangle or, outside it, to the height of one of its top vertices,
and reports that as a penetration whatever its sign. Beside a step, a box's wall or a steep cell, that vertex can be
far above or below the foot: measured on go1-rough, contacts 2-17 cm deep where C MuJoCo finds none, some with the
normal pointing down (pulling the foot into the ground), and a solver that answers NaN within a substep.

`install_warp()` gives `_inflate` C MuJoCo's rule for every pair, the height field's included: the contact along
GJK's closest points, its depth the radius minus their distance. Only sphere and capsule contacts with height fields
change (every other pair took that path already); C MuJoCo and MuJoCo Warp then find the same contacts (tested in
tests/test_terrain_engines.py). Applied once, before MuJoCo Warp builds its collision kernels.
"""

from typing import Tuple

import warp as wp
from mujoco_warp._src import collision_gjk
from mujoco_warp._src.collision_core import Geom
from mujoco_warp._src.collision_gjk import Polytope, _get_face_verts, _tri_affine_coord

_installed: set[str] = set()


@wp.func
def _inflate(
    result: collision_gjk.GJKResult,
    geom1: Geom,
    geom2: Geom,
    geomtype1: int,
    geomtype2: int,
    margin1: float,
    margin2: float,
) -> Tuple[float, wp.vec3, wp.vec3]:
    # the closest points of the shrunk geoms, moved out by their radii along the line joining them
    x1 = result.x1
    x2 = result.x2
    n = wp.normalize(x2 - x1)
    if margin1 > 0.0:
        x1 += margin1 * n
    if margin2 > 0.0:
        x2 -= margin2 * n
    return result.dist - (margin1 + margin2), x1, x2


@wp.func
def _epa_witness(
    pt: Polytope, geom1: Geom, geom2: Geom, geomtype1: int, geomtype2: int, face_idx: int
) -> Tuple[wp.vec3, wp.vec3, float]:
    # the point of EPA's closest face nearest the origin, on each geom, by its affine coordinates on the face
    face = _get_face_verts(pt.face[face_idx])
    v1 = pt.vert[2 * face[0]] - pt.vert[2 * face[0] + 1]
    v2 = pt.vert[2 * face[1]] - pt.vert[2 * face[1] + 1]
    v3 = pt.vert[2 * face[2]] - pt.vert[2 * face[2] + 1]
    coordinates = _tri_affine_coord(v1, v2, v3, pt.face_pr[face_idx])
    x1 = wp.vec3(0.0)
    x2 = wp.vec3(0.0)
    for i in range(3):
        x1 += coordinates[i] * pt.vert[2 * face[i]]
        x2 += coordinates[i] * pt.vert[2 * face[i] + 1]
    return x1, x2, -wp.sqrt(pt.face_norm2[face_idx])


def install_warp() -> None:
    """Replace mujoco_warp's `_inflate` and `_epa_witness` (read when its collision kernels are built, so before the
    first step)."""
    if "warp" in _installed:
        return
    collision_gjk._inflate = _inflate
    collision_gjk._epa_witness = _epa_witness
    _installed.add("warp")
