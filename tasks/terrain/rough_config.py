"""A rough-terrain velocity task's typed configuration: its flat task's settings (LocomotionConfig) plus the terrain
grid and the height scan (`--env.terrain.num-levels 6`, `--env.terrain.proportions flat 0.5 boxes 0.5`,
`--env.height-scan.size 1.2 0.8`)."""

from __future__ import annotations

from dataclasses import dataclass

from envs import TaskSpec

from ..locomotion.config import LocomotionConfig
from .config import TerrainConfig
from .rough_task import check_platform
from .scan import HeightScan


@dataclass(frozen=True)
class RoughConfig(LocomotionConfig):
    """A task subclasses it naming its VelocityTask (`task`, one with a terrain), whose terrain and scan are the
    defaults. The task is rebuilt with them: the generated height field, the spawn patches and the curriculum's
    levels, the scan's observation term and the observation spaces all follow."""

    terrain: TerrainConfig = TerrainConfig()
    """the terrain grid: levels (rows) and type columns, each type's share (`proportions TYPE SHARE ...`, adding up
    to 1), patch size, resolution, each type's (easiest, hardest) parameters, and the curriculum's starting levels
    (`max-init-level`)"""
    height_scan: HeightScan = HeightScan()
    """the height scan under the base (in the policy's and the critic's observations): grid size (m, along the
    heading and to the left), spacing (m), offset subtracted (m) and clip (m)"""

    def __post_init__(self):
        super().__post_init__()
        for name, kind in (("terrain", TerrainConfig), ("height_scan", HeightScan)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"env.{name}: {getattr(self, name)!r} is not allowed; must be a {kind.__name__}")
        check_platform(self.terrain, self.reset.position)  # a reset that could spawn off the patch's platform

    @classmethod
    def from_spec(cls, spec: TaskSpec, **values) -> "RoughConfig":
        return super().from_spec(spec, terrain=cls.task.terrain, height_scan=cls.task.scan, **values)

    def updated(self, values: dict, where: str = "env") -> "RoughConfig":
        # runs from before the rough tasks had this configuration stored the generic one's reset noise, which was
        # always 0 for them (their reset event places the robot): such a launch.yaml still resumes
        if isinstance(values, dict) and values.get("reset_noise_scale") == 0.0:
            values = {key: value for key, value in values.items() if key != "reset_noise_scale"}
        return super().updated(values, where)

    def built_with(self) -> dict:
        return {**super().built_with(), "terrain": self.terrain, "scan": self.height_scan}
