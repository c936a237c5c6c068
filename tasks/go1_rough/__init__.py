"""go1-rough: go1-flat on the terrain grid, with a height scan in the policy's and the critic's observations and
the terrain curriculum (levels up and down by distance walked)."""

from functools import partial
from pathlib import Path

from ..go1_flat import GO1_FLAT, robot
from ..go1_flat import mdp as flat_mdp
from ..registry import register
from ..terrain.config import TerrainConfig
from ..terrain.model import TerrainFloor
from ..terrain.rough_task import rough_task
from ..terrain.scan import HeightScan

TERRAIN = TerrainConfig()  # 10 levels x 20 columns of 8 m patches at 0.1 m, the default proportions
SCAN = HeightScan(offset=0.3)  # 1.6 m x 1.0 m at 0.1 m: 187 points; offset: the trunk stands about 0.3 m high
# every colliding geom touches the terrain, as on go1-flat: with only the feet and the trunk, a Go1 that folds its
# legs sinks them through the height field and its trunk drops below the `fallen` height, where on go1-flat its
# thighs and calves hold it up (random actions on a grid of flat patches: 39 falls against 10; README)
FLOOR = TerrainFloor(TERRAIN)

GO1_ROUGH = register(
    rough_task(
        GO1_FLAT,
        flat_mdp,
        name="go1-rough",
        terrain=TERRAIN,
        scan=SCAN,
        model_spec=partial(robot.model_spec, floor=FLOOR),
        render_model_spec=partial(robot.model_spec, visual=True, floor=FLOOR),
        agent_cfg=Path(__file__).parent / "agent.yaml",
        nconmax=96,
        njmax=256,
    )
)
