"""The terrain grid as heights: one array of vertex heights (numpy) with a flat border, seeded and deterministic.

Patches are laid out with levels along x and columns (types) along y, the whole grid centred on the world origin.
Vertex (i, j) sits at x = x0 + i * resolution, y = y0 + j * resolution; heights are metres above the border.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import TerrainConfig


@dataclass(frozen=True, eq=False)
class Terrain:
    config: TerrainConfig
    heights: np.ndarray  # (nx, ny) float32, vertex heights (m)
    origins: np.ndarray  # (num_levels, num_columns, 3) float32: each patch's centre and its platform's height
    x0: float  # world x of vertex row 0
    y0: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.heights.shape

    @property
    def half_extent(self) -> tuple[float, float]:
        """Half the height field's size along x and y (m), as MuJoCo's hfield size takes it."""
        nx, ny = self.heights.shape
        return (nx - 1) * self.config.resolution / 2, (ny - 1) * self.config.resolution / 2

    def height_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Numpy version of the height lookup (MuJoCo's triangles), for tests and spawning checks."""
        from .scan import surface_height

        return surface_height(np, self.lookup_table(np), x, y)

    def lookup_table(self, xp, like=None):
        """The height grid and its placement as arrays of framework `xp` (see scan.HeightGrid)."""
        from .scan import HeightGrid

        return HeightGrid.of(self, xp, like)


def _patch_coordinates(config: TerrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Local coordinates (m, from the patch centre) of a patch's vertices, (N, N) each, u along x."""
    n, res = config.cells_per_patch, config.resolution
    side = (np.arange(n) + 0.5) * res - config.patch_size / 2
    return np.meshgrid(side, side, indexing="ij")


def _lerp(value: tuple[float, float], difficulty: float) -> float:
    return value[0] + (value[1] - value[0]) * difficulty


def _random_rough(config, u, v, difficulty, rng):
    amplitude = _lerp(config.rough_amplitude, difficulty)
    # heights drawn on a coarse grid, linearly interpolated onto the fine one
    coarse = np.arange(-config.patch_size / 2, config.patch_size / 2 + config.rough_step, config.rough_step)
    drawn = rng.uniform(-amplitude, amplitude, (coarse.size, coarse.size))
    side = u[:, 0]
    rows = np.stack([np.interp(side, coarse, drawn[:, k]) for k in range(coarse.size)], axis=1)
    return np.stack([np.interp(side, coarse, rows[k]) for k in range(side.size)], axis=0)


def _platform_reach(config) -> float:
    """Vertices this close to the centre (in x and in y) are the platform's: every cell that touches the platform
    square has its corners on it, so the surface over the whole square is the platform's (MuJoCo interpolates
    within cells)."""
    return config.platform / 2 + config.resolution / 2 + 1e-6


def _distance_to_edge(config, u, v):
    """How far each vertex is from the patch's edge, capped at the platform's edge (m)."""
    ring = np.maximum(np.maximum(np.abs(u), np.abs(v)), _platform_reach(config))
    return config.patch_size / 2 - ring


def _pyramid_slope(config, u, v, difficulty, rng):
    return _lerp(config.slope, difficulty) * _distance_to_edge(config, u, v)


def _pyramid_stairs(config, u, v, difficulty, rng):
    steps = np.floor(_distance_to_edge(config, u, v) / config.step_width + 1e-6)
    return _lerp(config.step_height, difficulty) * steps


def _boxes(config, u, v, difficulty, rng):
    heights = np.zeros_like(u)
    top = _lerp(config.box_height, difficulty)
    half_patch, half_platform = config.patch_size / 2, _platform_reach(config)
    for _ in range(config.num_boxes):
        sx, sy = rng.uniform(*config.box_size, size=2)
        cx, cy = rng.uniform(-half_patch, half_patch, size=2)
        height = rng.uniform(top / 2, top)
        inside = (np.abs(u - cx) <= sx / 2) & (np.abs(v - cy) <= sy / 2)
        heights = np.where(inside, np.maximum(heights, height), heights)
    platform = (np.abs(u) <= half_platform) & (np.abs(v) <= half_platform)
    return np.where(platform, 0.0, heights)  # the spawn platform stays clear


_SHAPES = {
    "flat": lambda config, u, v, difficulty, rng: np.zeros_like(u),
    "random_rough": _random_rough,
    "pyramid_slope": _pyramid_slope,
    "pyramid_slope_inverted": lambda *args: -_pyramid_slope(*args),
    "pyramid_stairs": _pyramid_stairs,
    "pyramid_stairs_inverted": lambda *args: -_pyramid_stairs(*args),
    "boxes": _boxes,
}


def generate(config: TerrainConfig) -> Terrain:
    """The configured grid's heights, its patches' spawn origins and its placement in the world."""
    n, border, res = config.cells_per_patch, config.border_cells, config.resolution
    nx, ny = 2 * border + config.num_levels * n, 2 * border + config.num_columns * n
    heights = np.zeros((nx, ny), np.float64)
    origins = np.zeros((config.num_levels, config.num_columns, 3), np.float32)
    x0, y0 = -(nx - 1) * res / 2, -(ny - 1) * res / 2
    u, v = _patch_coordinates(config)
    platform = (np.abs(u) <= _platform_reach(config)) & (np.abs(v) <= _platform_reach(config))
    rng = np.random.default_rng(config.seed)
    for column, kind in enumerate(config.column_types()):
        for level in range(config.num_levels):
            patch = _SHAPES[kind](config, u, v, config.difficulty(level), rng)
            i, j = border + level * n, border + column * n
            heights[i : i + n, j : j + n] = patch
            centre_x = x0 + (i + (n - 1) / 2) * res
            centre_y = y0 + (j + (n - 1) / 2) * res
            top = patch[platform].max() if platform.any() else patch[n // 2, n // 2]
            origins[level, column] = (centre_x, centre_y, top)
    return Terrain(config, heights.astype(np.float32), origins, float(x0), float(y0))
