"""Rough terrain without an engine: its configuration's one-line errors, the generator (deterministic, shapes,
border, difficulty), the height scan against C MuJoCo's mj_ray on the generated model (and torch = jax.numpy =
numpy, finite everywhere), spawning and the curriculum rule, and the rough tasks' tables."""

import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
import torch

import tasks
from envs import MdpState
from tasks.terrain import HeightScan, TerrainConfig, generate
from tasks.terrain.curriculum import TerrainCurriculum, base_height_above_terrain
from tasks.terrain.model import add_terrain
from tasks.terrain.scan import height_scan, surface_height

# every type at every level on a small grid (fast to build and to ray-cast)
SMALL = TerrainConfig(
    num_levels=3,
    num_columns=7,
    patch_size=3.0,
    resolution=0.1,
    border=0.5,
    platform=1.0,
    proportions=tuple((name, 1 / 7) for name in tasks.terrain.TERRAIN_TYPES),
    num_boxes=6,
    seed=3,
)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"proportions": (("flat", 0.5), ("pyramid_stairs", 0.4))}, "terrain.proportions: they add up to 0.9"),
        ({"step_height": (-0.05, 0.2)}, "terrain.step_height: (-0.05, 0.2) is not allowed"),
        ({"proportions": (("lava", 1.0),)}, "terrain.proportions: 'lava' is not a terrain type"),
        ({"patch_size": 8.05}, "terrain.patch_size: 8.05 is not allowed with resolution 0.1"),
        ({"num_levels": 0}, "terrain.num_levels: 0 is not allowed"),
        ({"platform": 9.0}, "terrain.platform: 9.0 is not allowed"),
    ],
)
def test_bad_terrain_config_is_one_line(fields, message):
    with pytest.raises(ValueError) as error:
        TerrainConfig(**fields)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


@pytest.mark.parametrize("fields", [{"size": (-1.0, 1.0)}, {"resolution": 0.0}, {"size": (1.6,)}])
def test_scan_grid_without_rays_is_one_line(fields):
    with pytest.raises(ValueError) as error:
        HeightScan(**fields)
    assert str(error.value).startswith("height_scan.") and "\n" not in str(error.value)


def test_generator_is_seeded_and_laid_out():
    terrain = generate(SMALL)
    again, other = generate(SMALL), generate(TerrainConfig(**{**SMALL.__dict__, "seed": 4}))
    assert np.array_equal(terrain.heights, again.heights)
    assert not np.array_equal(terrain.heights, other.heights)  # the random types draw again
    border, n = SMALL.border_cells, SMALL.cells_per_patch
    assert terrain.heights.shape == (2 * border + 3 * n, 2 * border + 7 * n)
    assert terrain.heights.dtype == np.float32 and np.isfinite(terrain.heights).all()
    assert not terrain.heights[:border].any() and not terrain.heights[:, -border:].any()  # the flat border
    assert SMALL.column_types() == tasks.terrain.TERRAIN_TYPES

    # each type's difficulty grows with the level: stairs climb higher, pits sink deeper, flat stays flat
    def patch(level, column):
        i, j = border + level * n, border + column * n
        return terrain.heights[i : i + n, j : j + n]

    types = SMALL.column_types()
    stairs, pit, flat = types.index("pyramid_stairs"), types.index("pyramid_stairs_inverted"), types.index("flat")
    tops = [patch(level, stairs).max() for level in range(3)]
    assert tops[0] < tops[1] < tops[2]
    steps = np.unique(np.round(patch(2, stairs), 5))
    assert np.allclose(np.diff(steps), SMALL.step_height[1])  # whole steps of the hardest level's height
    assert patch(2, pit).min() == pytest.approx(-tops[2])
    assert not patch(2, flat).any()
    # spawn origins: patch centres at their platform's height (the top of the pyramid, the bottom of the pit)
    assert terrain.origins[2, stairs, 2] == pytest.approx(tops[2])
    assert terrain.origins[2, pit, 2] == pytest.approx(-tops[2])
    assert terrain.height_at(terrain.origins[2, stairs, 0], terrain.origins[2, stairs, 1]) == pytest.approx(tops[2])


@pytest.fixture(scope="module")
def small_model():
    terrain = generate(SMALL)
    spec = mujoco.MjSpec()
    add_terrain(spec, terrain)
    model = spec.compile()
    return terrain, model, mujoco.MjData(model)


def _rays(model, data, x, y, top=5.0):
    """C MuJoCo's height of the terrain under each point (a ray straight down)."""
    mujoco.mj_forward(model, data)
    geom = np.zeros(1, np.int32)
    down = np.array([0.0, 0.0, -1.0])
    return np.array(
        [top - mujoco.mj_ray(model, data, np.array([px, py, top]), down, None, 1, -1, geom) for px, py in zip(x, y)]
    )


def test_height_lookup_equals_mj_ray_on_the_generated_model(small_model):
    terrain, model, data = small_model
    rng = np.random.default_rng(0)
    nx, ny = terrain.heights.shape
    res = SMALL.resolution
    x = terrain.x0 + rng.uniform(0.0, (nx - 1) * res, 200)
    y = terrain.y0 + rng.uniform(0.0, (ny - 1) * res, 200)
    expected = _rays(model, data, x, y)
    grid = terrain.lookup_table(np)
    assert np.abs(surface_height(np, grid, x, y) - expected).max() < 1e-4
    for xp, to in ((torch, torch.as_tensor), (jnp, jnp.asarray)):
        got = np.asarray(surface_height(xp, terrain.lookup_table(xp), to(x), to(y)))
        assert np.abs(got - expected).max() < 1e-4, xp.__name__


def test_height_lookup_is_finite_off_the_terrain_and_for_nonfinite_positions(small_model):
    terrain = small_model[0]
    far = np.array([-1e6, 1e6, np.inf, -np.inf, np.nan, 0.0])
    for xp, to in ((np, np.asarray), (torch, torch.as_tensor), (jnp, jnp.asarray)):
        heights = np.asarray(surface_height(xp, terrain.lookup_table(xp), to(far), to(far[::-1].copy())))
        assert np.isfinite(heights).all(), xp.__name__
    assert np.asarray(surface_height(np, terrain.lookup_table(np), far[:2], far[:2])).tolist() == [0.0, 0.0]


def _base_state(xp, positions, yaw):
    to = {torch: torch.as_tensor, jnp: jnp.asarray, np: np.asarray}[xp]
    qpos = np.zeros((len(positions), 7), np.float32)
    qpos[:, :3] = positions
    qpos[:, 3], qpos[:, 6] = np.cos(yaw / 2), np.sin(yaw / 2)
    return MdpState(to(qpos), to(np.zeros((len(positions), 6), np.float32)), None, None, None, None, 0.02)


def test_height_scan_is_yaw_aligned_and_equals_mj_ray(small_model):
    terrain, model, data = small_model
    scan = HeightScan(size=(1.6, 1.0), resolution=0.1, offset=0.3, clip=1.0)
    assert scan.num_rays == 187
    positions = np.array([terrain.origins[1, 4] + (0.7, -0.4, 0.5), terrain.origins[2, 6] + (1.0, 0.3, 0.5)])
    yaw = np.array([0.0, 2.0])
    for xp in (torch, jnp):
        values = np.asarray(height_scan(xp, _base_state(xp, positions, yaw), scan, SMALL))
        assert values.shape == (2, 187)
        for world in range(2):
            px, py = np.array(scan.points()).T
            c, s = np.cos(yaw[world]), np.sin(yaw[world])
            x, y = positions[world, 0] + c * px - s * py, positions[world, 1] + s * px + c * py
            expected = positions[world, 2] - _rays(model, data, x, y) - scan.offset
            assert np.abs(values[world] - expected).max() < 1e-4


def _curriculum_previous(level, placed, walked, commanded, column=2.0):
    one = np.ones((len(level), 1))
    return {
        "terrain_level": np.asarray(level, float)[:, None],
        "terrain_column": one * column,
        "terrain_placed": np.asarray(placed, float)[:, None],
        "terrain_start": np.zeros((len(level), 2)),
        "walked": np.asarray(walked, float)[:, None],
        "commanded": np.asarray(commanded, float)[:, None],
    }


def test_curriculum_rule():
    curriculum = TerrainCurriculum(SMALL)  # 3 levels, patches of 3 m: up past 1.5 m walked
    previous = _curriculum_previous(
        level=[1, 1, 1, 0, 2, 1, 0, 1, 1],
        placed=[1, 1, 1, 1, 1, 1, 0, 1, 1],
        walked=[2.5, 0.4, 1.2, 0.0, 3.0, 0.95, 0.0, 1.5e11, np.nan],
        commanded=[9.0, 1.0, 2.0, 4.0, 9.0, 1.9, 0.0, 1.0, 1.0],
    )
    u = np.full((9, 3), 0.99)
    u[4, 2] = 0.0  # the world that solved the top level goes to level floor(0.0 * 3)
    with np.errstate(invalid="ignore"):
        level, column = curriculum.next_level(np, previous, u)
    # up (walked > 1.5 m), down (< half its 1 m), stays, stays at 0, top solved -> random, stays, first -> initial,
    # and the two whose physics blew up (farther than the whole terrain, or NaN) go down, not up
    assert level.tolist() == [2, 0, 1, 0, 0, 1, 2, 0, 0]
    assert column.tolist() == [2, 2, 2, 2, 2, 2, 6, 2, 2]  # a world keeps its column; a new one draws one


def test_reset_places_the_base_on_its_patch_with_no_penetration():
    curriculum = TerrainCurriculum(SMALL)
    terrain = curriculum.terrain
    worlds = 7
    previous = _curriculum_previous([0] * worlds, [1] * worlds, [0] * worlds, [0] * worlds)
    previous["terrain_level"][:, 0] = 2
    previous["terrain_column"][:, 0] = np.arange(worlds)  # every type at its hardest level
    qpos = np.zeros((worlds, 7))
    qpos[:, 0], qpos[:, 1], qpos[:, 2], qpos[:, 3] = 0.2, -0.2, 0.27, 1.0  # the flat reset's pose
    qpos, _, fresh = curriculum.reset(np, qpos, np.zeros((worlds, 6)), {}, previous, np.zeros((worlds, 3)))
    assert np.allclose(qpos[:, :2], terrain.origins[2, :, :2] + (0.2, -0.2))
    # a Go1's feet are inside +-0.3 m of its base, inside the 1 m platform: the terrain under them is nowhere above it
    offsets = np.linspace(-0.3, 0.3, 7)
    for world in range(worlds):
        x, y = np.meshgrid(qpos[world, 0] + offsets, qpos[world, 1] + offsets)
        under = terrain.height_at(x.ravel(), y.ravel())
        assert under.max() <= qpos[world, 2] - 0.27 - curriculum.clearance + 1e-6
    assert fresh["terrain_level"][:, 0].tolist() == [2] * worlds
    assert np.allclose(fresh["terrain_start"], qpos[:, :2]) and not fresh["walked"].any()
    s = _base_state(np, qpos[:, :3], np.zeros(worlds))
    above = base_height_above_terrain(np, s, SMALL)[:, 0]
    assert (above >= 0.27 + curriculum.clearance - 1e-5).all()
    assert np.allclose(
        np.delete(above, 1), 0.27 + curriculum.clearance, atol=1e-5
    )  # on a flat platform (not random_rough's): exactly


def test_rough_tasks_extend_the_flat_tables():
    from tasks.go1_flat import mdp as flat

    rough = tasks.spec("go1-rough")
    assert [term.name for term in rough.observations.terms] == [t.name for t in flat.POLICY.terms] + ["height_scan"]
    assert rough.single_observation_space.shape == (flat.POLICY.size + 187,)
    assert rough.single_state_space.shape == (flat.CRITIC.size + 187,)
    assert rough.observations.terms[-1].clip == 1.0 and rough.observations.terms[-1].noise > 0
    # the flat rewards but the level-base one (a slope or a stair tilts the base)
    assert rough.reward.terms == {name: term for name, term in flat.REWARDS.terms.items() if name != "flat_orientation"}
    assert set(rough.task_state) >= {"terrain_level", "terrain_column", "command"}
    assert rough.metadata["height_scan"]["shape"] == [17, 11]
    g1 = tasks.spec("g1-rough")
    assert g1.single_observation_space.shape[0] == tasks.spec("g1-flat").single_observation_space.shape[0] + 187


def test_go1_rough_touches_the_terrain_with_every_geom():
    """Every colliding Go1 geom collides with the terrain (folded legs do not sink through it), without contact
    margins."""
    import mujoco

    from envs.task import load_model

    model = load_model(tasks.spec("go1-rough"))
    colliding = [g for g in range(model.ngeom) if model.geom_contype[g] or model.geom_conaffinity[g]]
    names = {mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) for g in colliding}
    assert {"floor", "FR", "FL", "RR", "RL"} <= names and len(colliding) > 6  # legs and trunk too
    assert model.geom_margin.max() == 0.0  # MJX refuses height-field contacts with a margin
