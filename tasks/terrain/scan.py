"""Height scans: a yaw-aligned grid of points under the base, each the base's height above the terrain there.

MJX's ray casting has no height fields, so neither engine casts rays: the terrain is a height grid known at
load, and a scan reads it directly, written once in `xp` for torch and jax.numpy. Between vertices the surface is
MuJoCo's own (each cell two triangles split along its (0, 0)-(1, 1) diagonal), so a scan equals what C MuJoCo's
`mj_ray` returns on the same model. Points outside the grid read its edge (the flat border), and a non-finite
position reads the grid's first vertex: a lookup never indexes out of range and never returns inf or NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..locomotion import terms


class HeightGrid(NamedTuple):
    heights: Any  # (nx * ny,) vertex heights, x-major
    nx: int
    ny: int
    x0: float
    y0: float
    resolution: float

    @classmethod
    def of(cls, terrain, xp, like=None) -> "HeightGrid":
        """The terrain's grid as an `xp` array (torch: on `like`'s device, made once per device)."""
        flat = terrain.heights.reshape(-1)
        if xp.__name__ == "torch":
            device = "cpu" if like is None else like.device
            cache = terrain.__dict__.setdefault("_torch_grids", {})
            if str(device) not in cache:
                cache[str(device)] = xp.as_tensor(flat, device=device)
            array = cache[str(device)]
        else:
            array = xp.asarray(flat)
        nx, ny = terrain.heights.shape
        return cls(array, nx, ny, terrain.x0, terrain.y0, terrain.config.resolution)


def _index(xp, value):
    return value.long() if xp.__name__ == "torch" else value.astype(xp.int32)


def surface_height(xp, grid: HeightGrid, x, y):
    """Terrain height (m) at world points x, y (any equal shapes), on MuJoCo's triangles; always finite."""
    fx = (x - grid.x0) / grid.resolution
    fy = (y - grid.y0) / grid.resolution
    fx = xp.clip(xp.where(xp.isfinite(fx), fx, xp.zeros_like(fx)), 0.0, grid.nx - 1.0)
    fy = xp.clip(xp.where(xp.isfinite(fy), fy, xp.zeros_like(fy)), 0.0, grid.ny - 1.0)
    ix = xp.clip(xp.floor(fx), 0.0, grid.nx - 2.0)
    iy = xp.clip(xp.floor(fy), 0.0, grid.ny - 2.0)
    tx, ty = fx - ix, fy - iy
    base = _index(xp, ix) * grid.ny + _index(xp, iy)
    h = grid.heights
    h00, h01, h10, h11 = h[base], h[base + 1], h[base + grid.ny], h[base + grid.ny + 1]
    lower = h00 + (h10 - h00) * tx + (h11 - h10) * ty  # the triangle (0,0), (1,0), (1,1)
    upper = h00 + (h01 - h00) * ty + (h11 - h01) * tx  # the triangle (0,0), (0,1), (1,1)
    return xp.where(tx >= ty, lower, upper)


@dataclass(frozen=True)
class HeightScan:
    """A grid of `size` (m, along the base's heading and to its left) at `resolution` (m), centred under the
    base and turned with its yaw (not its roll or pitch). Each point reads base height - terrain height -
    `offset`; the observation term clips it to +-`clip` and adds noise like any other."""

    size: tuple[float, float] = (1.6, 1.0)  # m, along the heading and to the left
    resolution: float = 0.1  # m between points
    offset: float = 0.5  # m: about the base's standing height, so a flat floor reads near 0
    clip: float = 1.0  # m, each point's reading clipped to +-clip

    def __post_init__(self):
        if not (isinstance(self.resolution, (int, float)) and math.isfinite(self.resolution) and self.resolution > 0):
            raise ValueError(f"height_scan.resolution: {self.resolution!r} is not allowed; must be a number > 0")
        if len(self.size) != 2 or not all(math.isfinite(side) and side >= 0 for side in self.size):
            raise ValueError(
                f"height_scan.size: {tuple(self.size)!r} gives a grid with no rays; must be (length, width) with "
                "sides >= 0 m"
            )
        if not self.clip > 0:
            raise ValueError(f"height_scan.clip: {self.clip!r} is not allowed; must be > 0")

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(int(math.floor(side / self.resolution + 1e-6)) + 1 for side in self.size)

    @property
    def num_rays(self) -> int:
        return self.shape[0] * self.shape[1]

    def points(self) -> list[tuple[float, float]]:
        """The grid's points in the base's yaw frame (m), x-major."""
        nx, ny = self.shape
        xs = [(i - (nx - 1) / 2) * self.resolution for i in range(nx)]
        ys = [(j - (ny - 1) / 2) * self.resolution for j in range(ny)]
        return [(x, y) for x in xs for y in ys]


def scan_points(xp, s, scan: HeightScan):
    """(num_envs, rays) world x and y of the scan's points, and the base's height (num_envs, 1)."""
    points = terms._constant(xp, s.qpos, scan.points())  # (rays, 2)
    heading = terms.yaw(xp, terms.base_quat(s))[:, None]
    cos, sin = xp.cos(heading), xp.sin(heading)
    x = s.qpos[:, 0:1] + cos * points[:, 0] - sin * points[:, 1]
    y = s.qpos[:, 1:2] + sin * points[:, 0] + cos * points[:, 1]
    return x, y, s.qpos[:, 2:3]


def height_scan(xp, s, scan: HeightScan, terrain, layout=None):
    """(num_envs, rays): base height above the terrain (a TerrainConfig) at each scan point, minus the scan's
    offset (m)."""
    from .curriculum import terrain_of

    x, y, base_z = scan_points(xp, s, scan)
    return base_z - surface_height(xp, terrain_of(terrain).lookup_table(xp, s.qpos), x, y) - scan.offset
