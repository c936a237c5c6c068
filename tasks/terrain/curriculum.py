"""Spawning on the terrain and its curriculum, as task state the engines carry (checkpointed, scanned on MJX).

Each world holds a level (row) and a column (terrain type). At each reset a world moves up a level when it
walked farther than half a patch in the episode that ended, and down when it walked less than half the distance
its commands asked for (Isaac Lab's rule); a world that solved the top level goes to a random level, and none
goes below 0. It then spawns on its patch: the flat reset's pose moved to the patch's centre and raised by the
height of the patch's central platform (flat, at least as high as anything under the robot: no penetration) and a
clearance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ..locomotion import terms
from .config import TerrainConfig
from .generator import Terrain, generate

_TERRAINS: dict = {}


def terrain_of(config: TerrainConfig) -> Terrain:
    """The generated terrain of a configuration, made once per process (it is deterministic)."""
    if config not in _TERRAINS:
        _TERRAINS[config] = generate(config)
    return _TERRAINS[config]


@dataclass(frozen=True)
class TerrainCurriculum:
    config: TerrainConfig = field(default_factory=TerrainConfig)
    uniform_offset: int = 0  # where its reset uniforms start in the task's reset uniforms
    # m added to the spawn height: a foot that starts inside a height field's prisms is pushed out sideways
    # (through the prisms' walls) where a plane pushes it up; the robot drops this far instead
    clearance: float = 0.04

    UNIFORMS = 3  # initial level, column, level after solving the top one

    @cached_property
    def terrain(self) -> Terrain:
        return terrain_of(self.config)

    @property
    def task_state(self) -> dict:
        return {
            "terrain_level": (1,),
            "terrain_column": (1,),
            "terrain_placed": (1,),  # 1 once the world was given its first level
            "terrain_start": (2,),  # base x, y where the episode started (m)
            "walked": (1,),  # how far the base is from its start (m), updated each step
            "commanded": (1,),  # the distance the episode's commands asked for so far (m)
        }

    def _origins(self, xp, like):
        origins = self.terrain.origins.reshape(-1, 3)
        if xp.__name__ == "torch":
            cache = self.terrain.__dict__.setdefault("_torch_origins", {})
            if str(like.device) not in cache:
                cache[str(like.device)] = xp.as_tensor(origins, device=like.device)
            return cache[str(like.device)]
        return xp.asarray(origins)

    def next_level(self, xp, previous: dict, u):
        """(level, column) for worlds resetting now, from the task state their episode ended with."""
        config = self.config
        top = config.num_levels - 1
        first = previous["terrain_placed"][:, 0] < 0.5
        initial = xp.floor(u[:, 0] * (min(config.max_init_level, top) + 1))
        walked, commanded = previous["walked"][:, 0], previous["commanded"][:, 0]
        # farther from its start than the terrain's diagonal (or NaN): physics that blew up, not walking; down
        extent = ((config.num_levels**2 + config.num_columns**2) ** 0.5) * config.patch_size + 2.0 * config.border
        blown_up = ~(walked <= extent)
        up = (walked > config.patch_size / 2) & ~blown_up
        down = ((walked < 0.5 * commanded) & ~up) | blown_up
        level = previous["terrain_level"][:, 0] + up * 1.0 - down * 1.0
        level = xp.where(level > top, xp.floor(u[:, 2] * (top + 1)), xp.clip(level, 0.0, top * 1.0))
        level = xp.where(first, initial, level)
        column = xp.where(first, xp.floor(u[:, 1] * config.num_columns), previous["terrain_column"][:, 0])
        return xp.clip(level, 0.0, top * 1.0), xp.clip(column, 0.0, config.num_columns - 1.0)

    def reset(self, xp, qpos, qvel, fresh: dict, previous: dict, u):
        """TaskSpec.reset_from_previous: moves the reset pose onto the world's patch and starts its episode's
        curriculum state."""
        u = u[:, self.uniform_offset : self.uniform_offset + self.UNIFORMS]
        level, column = self.next_level(xp, previous, u)
        index = level * self.config.num_columns + column
        index = index.long() if xp.__name__ == "torch" else index.astype(xp.int32)
        origin = self._origins(xp, qpos)[index]  # (num_envs, 3)
        base = qpos[:, :3] + origin + terms._constant(xp, qpos, (0.0, 0.0, self.clearance))
        qpos = xp.concatenate([base, qpos[:, 3:]], axis=-1)
        zero = level[:, None] * 0.0
        fresh = {
            **fresh,
            "terrain_level": level[:, None],
            "terrain_column": column[:, None],
            "terrain_placed": zero + 1.0,
            "terrain_start": base[:, :2],
            "walked": zero,
            "commanded": zero,
        }
        return qpos, qvel, fresh

    def advance(self, xp, s, state: dict) -> dict:
        """The step's distance walked and commanded, into `state` (the task state after the step)."""
        offset = s.qpos[:, :2] - state["terrain_start"]
        command = state["command"][:, :2]
        speed = xp.sqrt((command * command).sum(-1, keepdims=True))
        return {
            **state,
            "walked": xp.sqrt((offset * offset).sum(-1, keepdims=True)),
            "commanded": state["commanded"] + speed * s.dt,
        }

    def metrics(self, xp, s) -> dict:
        """Logged each step: the mean terrain level over the worlds."""
        return {"terrain/level": s.task["terrain_level"].mean()}


def base_height_above_terrain(xp, s, terrain: TerrainConfig, layout=None):
    """(num_envs, 1) m: the base's height above the terrain right under it (the critic's base height)."""
    from .scan import surface_height

    grid = terrain_of(terrain).lookup_table(xp, s.qpos)
    height = surface_height(xp, grid, s.qpos[:, 0], s.qpos[:, 1])
    return s.qpos[:, 2:3] - height[:, None]


def fallen_on_terrain(xp, s, terrain: TerrainConfig, layout=None, min_height: float = 0.12, max_tilt_cos: float = 0.5):
    """The flat tasks' `fallen`, with the base's height measured from the terrain under it (a pit is no fall)."""
    up = -terms.projected_gravity(xp, s)[:, 2]
    return (base_height_above_terrain(xp, s, terrain)[:, 0] < min_height) | (up < max_tilt_cos)
