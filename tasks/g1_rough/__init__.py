"""g1-rough: g1-flat on the terrain grid, with a height scan in the policy's and the critic's observations and
the terrain curriculum (levels up and down by distance walked)."""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..g1_flat import TASK as G1_FLAT_TASK
from ..registry import register
from ..terrain.config import TerrainConfig
from ..terrain.rough_config import RoughConfig
from ..terrain.scan import HeightScan

TERRAIN = TerrainConfig()  # 10 levels x 20 columns of 8 m patches at 0.1 m, the default proportions
SCAN = HeightScan(offset=0.75)  # 1.6 m x 1.0 m at 0.1 m: 187 points; offset: the pelvis stands 0.75 m high

TASK = dataclasses.replace(
    G1_FLAT_TASK,
    name="g1-rough",
    terrain=TERRAIN,
    scan=SCAN,
    # the feet, the pelvis and the torso (with the head) touch the terrain (see TerrainFloor)
    touching=("left_ankle_roll_link", "right_ankle_roll_link", "pelvis", "torso_link"),
    nconmax=96,
    njmax=512,
    agent_cfg=Path(__file__).parent / "agent.yaml",
)


@dataclass(frozen=True)
class G1RoughConfig(RoughConfig):
    """g1-rough's settings (`--env.*`, defaults: the task's): g1-flat's, the terrain grid and the height scan."""

    task = TASK


G1_ROUGH = register(TASK.spec(), G1RoughConfig)
