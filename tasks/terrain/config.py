"""The terrain grid's configuration: a frozen dataclass, checked when it is made (one line per fault)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Terrain types. "pyramid" shapes raise the patch's centre (a robot spawned there walks down to the edges);
# "inverted" ones sink it (it climbs out).
TERRAIN_TYPES = (
    "flat",
    "random_rough",  # heights uniform in +-amplitude, on a coarser grid (`rough_step`), linearly interpolated
    "pyramid_slope",
    "pyramid_slope_inverted",
    "pyramid_stairs",
    "pyramid_stairs_inverted",
    "boxes",  # random boxes standing on the ground, rasterised into the height field
)

DEFAULT_PROPORTIONS = (
    ("flat", 0.1),
    ("random_rough", 0.2),
    ("pyramid_slope", 0.1),
    ("pyramid_slope_inverted", 0.1),
    ("pyramid_stairs", 0.2),
    ("pyramid_stairs_inverted", 0.2),
    ("boxes", 0.1),
)


def _range(name: str, value, low: float = 0.0) -> None:
    if len(value) != 2 or not low <= value[0] <= value[1] or not all(math.isfinite(v) for v in value):
        raise ValueError(
            f"terrain.{name}: {tuple(value)!r} is not allowed; must be (easiest, hardest) with {low:g} <= easiest "
            "<= hardest"
        )


@dataclass(frozen=True)
class TerrainConfig:
    """A grid of square patches: rows are difficulty levels (row 0 the easiest), columns are terrain types,
    `proportions` of the columns each. A type's parameter given as (easiest, hardest) grows linearly with the
    row. The grid sits in one MuJoCo height field of `resolution` metres per cell, inside a flat border of
    `border` metres at height 0."""

    num_levels: int = 10  # rows
    num_columns: int = 20  # columns, shared among the types by `proportions`
    proportions: tuple[tuple[str, float], ...] = DEFAULT_PROPORTIONS  # TYPE SHARE pairs, shares adding up to 1
    patch_size: float = 8.0  # m, side of one square patch
    resolution: float = 0.1  # m per height-field cell
    border: float = 4.0  # m of flat ground around the grid
    platform: float = 2.0  # m, side of the flat square at each patch's centre (where worlds spawn)
    seed: int = 0  # the random types' draws (same seed, same terrain)
    rough_amplitude: tuple[float, float] = (0.01, 0.08)  # m, random_rough's heights: +-amplitude
    rough_step: float = 0.2  # m between random_rough's drawn heights
    slope: tuple[float, float] = (0.0, 0.4)  # rise over run of the pyramid slopes
    step_height: tuple[float, float] = (0.05, 0.2)  # m, pyramid stairs
    step_width: float = 0.3  # m, the stairs' tread
    box_height: tuple[float, float] = (0.03, 0.15)  # m, boxes: each box uniform in [h/2, h] for the level's h
    box_size: tuple[float, float] = (0.4, 1.0)  # m, sides of the boxes (uniform in this range)
    num_boxes: int = 20  # boxes per patch
    max_init_level: int = 3  # worlds start at a level uniform in 0..min(max_init_level, num_levels - 1)

    def __post_init__(self):
        for name in ("num_levels", "num_columns", "num_boxes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"terrain.{name}: {value!r} is not allowed; must be an integer >= 1")
        if not isinstance(self.max_init_level, int) or self.max_init_level < 0:
            raise ValueError(f"terrain.max_init_level: {self.max_init_level!r} is not allowed; must be an integer >= 0")
        if not isinstance(self.seed, int):
            raise ValueError(f"terrain.seed: {self.seed!r} is not allowed; must be an integer")
        for name in ("patch_size", "resolution", "step_width", "rough_step"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"terrain.{name}: {value!r} is not allowed; must be a finite number > 0")
        if not self.border >= 0:
            raise ValueError(f"terrain.border: {self.border!r} is not allowed; must be >= 0")
        cells = self.patch_size / self.resolution
        if abs(cells - round(cells)) > 1e-6 or round(cells) < 4:
            raise ValueError(
                f"terrain.patch_size: {self.patch_size!r} is not allowed with resolution {self.resolution!r}; "
                "must be a whole number (>= 4) of cells"
            )
        if not 0 <= self.platform < self.patch_size:
            raise ValueError(
                f"terrain.platform: {self.platform!r} is not allowed; must be in [0, patch_size={self.patch_size})"
            )
        for name in ("rough_amplitude", "slope", "step_height", "box_height"):
            _range(name, getattr(self, name))
        _range("box_size", self.box_size)
        if self.box_size[0] <= 0:
            raise ValueError(f"terrain.box_size: {self.box_size!r} is not allowed; sides must be > 0")
        stairs = any(name.startswith("pyramid_stairs") and share > 0 for name, share in self.proportions)
        if stairs and self.step_width < self.resolution:
            raise ValueError(
                f"terrain.step_width: {self.step_width!r} is not allowed; must be >= resolution ({self.resolution})"
            )
        self._check_proportions()

    def _check_proportions(self) -> None:
        names = [name for name, _ in self.proportions]
        for name, share in self.proportions:
            if name not in TERRAIN_TYPES:
                raise ValueError(
                    f"terrain.proportions: {name!r} is not a terrain type; choose from {', '.join(TERRAIN_TYPES)}"
                )
            if not (math.isfinite(share) and share >= 0):
                raise ValueError(f"terrain.proportions: {name} {share!r} is not allowed; must be >= 0")
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"terrain.proportions: {names!r} is not allowed; each type at most once, at least one")
        total = sum(share for _, share in self.proportions)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"terrain.proportions: they add up to {total:g}, which is not allowed; must add up to 1")

    @property
    def cells_per_patch(self) -> int:
        return round(self.patch_size / self.resolution)

    @property
    def border_cells(self) -> int:
        return round(self.border / self.resolution)

    def column_types(self) -> tuple[str, ...]:
        """Each column's terrain type: columns go to the types in order, in proportion to their shares."""
        out, cumulative, bounds = [], 0.0, []
        for name, share in self.proportions:
            cumulative += share
            bounds.append((cumulative, name))
        for column in range(self.num_columns):
            middle = (column + 0.5) / self.num_columns
            out.append(next((name for bound, name in bounds if middle < bound + 1e-9), bounds[-1][1]))
        return tuple(out)

    def difficulty(self, level: int) -> float:
        """0 at the easiest row, 1 at the hardest."""
        return level / max(self.num_levels - 1, 1)
