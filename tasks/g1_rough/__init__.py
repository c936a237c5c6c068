"""g1-rough: g1-flat on the terrain grid, with a height scan in the policy's and the critic's observations and
the terrain curriculum (levels up and down by distance walked)."""

from functools import partial
from pathlib import Path

from ..g1_flat import G1_FLAT, robot
from ..g1_flat import mdp as flat_mdp
from ..registry import register
from ..terrain.config import TerrainConfig
from ..terrain.model import TerrainFloor
from ..terrain.rough_task import rough_task
from ..terrain.scan import HeightScan

TERRAIN = TerrainConfig()  # 10 levels x 20 columns of 8 m patches at 0.1 m, the default proportions
SCAN = HeightScan(offset=0.75)  # 1.6 m x 1.0 m at 0.1 m: 187 points; offset: the pelvis stands 0.75 m high
# the feet, the pelvis and the torso (with the head) touch the terrain (see TerrainFloor)
FLOOR = TerrainFloor(TERRAIN, touching=("left_ankle_roll_link", "right_ankle_roll_link", "pelvis", "torso_link"))

G1_ROUGH = register(
    rough_task(
        G1_FLAT,
        flat_mdp,
        name="g1-rough",
        terrain=TERRAIN,
        scan=SCAN,
        model_spec=partial(robot.model_spec, floor=FLOOR),
        render_model_spec=partial(robot.model_spec, visual=True, floor=FLOOR),
        agent_cfg=Path(__file__).parent / "agent.yaml",
        nconmax=96,
        njmax=512,
    )
)
