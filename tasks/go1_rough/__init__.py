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
FEET = ("FR", "FL", "RR", "RL")
STIFF_FOOT = (0.9, 0.95, 0.001)  # MuJoCo's default solimp (dmin, dmax, width)


def floor_and_stiff_feet(spec) -> None:
    """The terrain, and feet whose contacts are MuJoCo's default stiffness instead of the menagerie's soft rubber:
    a soft foot sinks ~8 mm into the height field and meets the neighbouring cells' prisms at their edges, where
    MuJoCo Warp far from the field's centre now and then returns a bogus metre-deep contact and NaN (README; random
    actions on 128 worlds: 7 worlds went NaN with soft feet, none with these)."""
    FLOOR(spec)
    for geom in spec.geoms:
        if geom.name in FEET:
            geom.solimp[:3] = STIFF_FOOT


GO1_ROUGH = register(
    rough_task(
        GO1_FLAT,
        flat_mdp,
        name="go1-rough",
        terrain=TERRAIN,
        scan=SCAN,
        model_spec=partial(robot.model_spec, floor=floor_and_stiff_feet),
        render_model_spec=partial(robot.model_spec, visual=True, floor=floor_and_stiff_feet),
        agent_cfg=Path(__file__).parent / "agent.yaml",
        nconmax=96,
        njmax=256,
    )
)
