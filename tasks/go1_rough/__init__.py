"""go1-rough: go1-flat on the terrain grid, with a height scan in the policy's and the critic's observations and
the terrain curriculum (levels up and down by distance walked)."""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..go1_flat import TASK as GO1_FLAT_TASK
from ..registry import register
from ..terrain.config import TerrainConfig
from ..terrain.rough_config import RoughConfig
from ..terrain.scan import HeightScan

TERRAIN = TerrainConfig()  # 10 levels x 20 columns of 8 m patches at 0.1 m, the default proportions
SCAN = HeightScan(offset=0.3)  # 1.6 m x 1.0 m at 0.1 m: 187 points; offset: the trunk stands about 0.3 m high

TASK = dataclasses.replace(
    GO1_FLAT_TASK,
    name="go1-rough",
    terrain=TERRAIN,
    scan=SCAN,
    # every colliding geom touches the terrain, as on go1-flat: with only the feet and the trunk, a Go1 that folds its
    # legs sinks them through the height field and its trunk drops below the `fallen` height, where on go1-flat its
    # thighs and calves hold it up (random actions on a grid of flat patches: 39 falls against 10; README)
    touching=None,
    # the feet keep the menagerie's soft rubber contact: with MuJoCo's default stiffness the tracking reward did not
    # rise, on the terrain as on go1-flat's plane (0.0036 -> 0.0046 in 18k env steps; soft: 0.0041 -> 0.0058 in 9k).
    # Soft feet went NaN on MuJoCo Warp 4.0's bogus height-field contacts, which envs/hfield_contacts.py fixes (README).
    # Each step's total reward is clipped at 0 (legged_gym's only_positive_rewards): on the terrain the penalties of a
    # policy that does not track yet outweigh its tracking, and it learned to fall (README: the learning test)
    only_positive_rewards=True,
    nconmax=96,
    njmax=256,
    agent_cfg=Path(__file__).parent / "agent.yaml",
)


@dataclass(frozen=True)
class Go1RoughConfig(RoughConfig):
    """go1-rough's settings (`--env.*`, defaults: the task's): go1-flat's, the terrain grid and the height scan."""

    task = TASK


GO1_ROUGH = register(TASK.spec(), Go1RoughConfig)
