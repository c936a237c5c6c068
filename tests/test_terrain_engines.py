"""Rough terrain on the engines.

Fast: the mechanism the terrain curriculum rides on, on cartpole (compiled in seconds): a reset that reads the task
state the world's episode ended with (`reset_from_previous`) and per-step metrics, on both engines alike.
Long (by hand; MuJoCo Warp compiles its height-field colliders for minutes on this CPU, MJX a Go1 with a height
field for longer): go1-rough on MuJoCo Warp (spawning on the patch, no penetration, the curriculum's levels, the
metric, a checkpoint), and contacts with the height field agreeing between MJX, MuJoCo Warp and C MuJoCo along a
trajectory (primitives dropped on the generated terrain, and go1-rough step by step).
"""

import dataclasses
from functools import partial

import mujoco
import numpy as np
import pytest
import torch

import envs
import tasks
from envs.convert import converter
from tasks.go1_flat import GO1_FLAT, robot
from tasks.go1_flat import mdp as go1_mdp
from tasks.terrain import TerrainConfig, generate
from tasks.terrain.curriculum import base_height_above_terrain
from tasks.terrain.model import TerrainFloor, add_terrain
from tasks.terrain.rough_task import RoughTables, rough_task
from tasks.terrain.scan import HeightScan, surface_height

WORLDS = 4
EPISODE = 3


def _count_episodes(xp, qpos, qvel, fresh, previous, uniform):
    """Each reset counts the world's episodes and starts its cart 0.1 m further right per episode."""
    episodes = previous["episodes"] + 1.0
    qpos = xp.concatenate([qpos[:, :1] * 0.0 + 0.1 * episodes, qpos[:, 1:]], axis=-1)
    return qpos, qvel, {**fresh, "episodes": episodes}


def _episodes_metric(xp, s):
    return {"episodes/mean": s.task["episodes"].mean()}


@pytest.mark.parametrize("backend", envs.BACKENDS)
def test_a_reset_reads_the_state_its_episode_ended_with_and_metrics_are_logged(backend):
    env = tasks.make(
        "cartpole",
        backend,
        num_envs=WORLDS,
        seed=0,
        max_episode_steps=EPISODE,
        task_state={"episodes": (1,)},
        reset_from_previous=_count_episodes,
        metrics=_episodes_metric,
    )
    to_env, to_numpy = converter("numpy", env.framework), converter(env.framework, "numpy")
    task_state = (lambda: env.state.task_state) if backend == "mjx" else (lambda: env._task_state)
    qpos = (lambda: env.state.data.qpos) if backend == "mjx" else (lambda: env._qpos)
    env.reset(seed=0)
    np.testing.assert_array_equal(to_numpy(task_state()["episodes"])[:, 0], 1.0)  # the first reset: from zeros
    np.testing.assert_allclose(to_numpy(qpos())[:, 0], 0.1, atol=1e-6)
    for step in range(1, 2 * EPISODE + 1):
        _, _, _, truncated, info = env.step(to_env(np.zeros((WORLDS, 1), np.float32)))
    assert to_numpy(truncated).all()  # every world ended its second episode at this step and began its third
    np.testing.assert_array_equal(to_numpy(task_state()["episodes"])[:, 0], 3.0)
    np.testing.assert_allclose(to_numpy(qpos())[:, 0], 0.3, atol=1e-6)
    assert float(info["log"]["episodes/mean"]) == 2.0  # logged on the state reached, before the reset
    np.testing.assert_array_equal(env.state_dict()["task.episodes"][:, 0], 3.0)


# ---- long: the height field on the engines ----

SMALL = TerrainConfig(
    num_levels=3,
    num_columns=7,
    patch_size=3.0,
    border=0.5,
    platform=1.0,
    seed=3,
    proportions=tuple((name, 1 / 7) for name in tasks.terrain.TERRAIN_TYPES),
    num_boxes=6,
)


@pytest.mark.slow
@pytest.mark.long  # MuJoCo Warp compiles its height-field colliders for a Go1 for minutes on this CPU
def test_go1_rough_spawns_on_its_patch_and_climbs_the_curriculum():
    from tasks.go1_rough import TERRAIN

    terrain = generate(TERRAIN)
    env = tasks.make("go1-rough", "warp", num_envs=8, seed=0, max_episode_steps=5)
    env.reset(seed=0)
    state = env._task_state
    level, column = state["terrain_level"][:, 0].long(), state["terrain_column"][:, 0].long()
    assert level.max() <= TERRAIN.max_init_level and column.unique().numel() > 1
    origins = torch.as_tensor(terrain.origins)[level, column]
    assert ((env._qpos[:, :2] - origins[:, :2]).abs() <= 0.5 + 1e-5).all()  # on its patch's platform
    above = base_height_above_terrain(torch, env._state(), TERRAIN)[:, 0]
    expected_height = robot.LAYOUT.base_height + tasks.spec("go1-rough").reset_from_previous.__self__.clearance
    torch.testing.assert_close(above, torch.full_like(above, expected_height), atol=0.1, rtol=0)
    for _ in range(4):
        _, _, terminated, _, info = env.step(torch.zeros((8, 12)))
        feet = env._fields.site_xpos[:, list(robot.LAYOUT.foot_sites)]
        ground = surface_height(torch, terrain.lookup_table(torch), feet[..., 0], feet[..., 1])
        assert (feet[..., 2] - ground > -0.02).all()  # no foot sinks into the terrain
    env.check_finite()  # no buffer overflow with the height field's contacts
    assert float(info["log"]["terrain/level"]) == pytest.approx(level.float().mean().item())
    # every world "walked" 10 m in its episode (its start moved away): each goes up a level at its next reset
    before = env._task_state["terrain_level"].clone()
    env._task_state["terrain_start"] = env._task_state["terrain_start"] - 10.0
    _, _, terminated, truncated, _ = env.step(torch.zeros((8, 12)))
    assert (terminated | truncated).all()
    expected = torch.where(before + 1 > TERRAIN.num_levels - 1, env._task_state["terrain_level"], before + 1)
    torch.testing.assert_close(env._task_state["terrain_level"], expected)
    saved = env.state_dict()
    assert {"task.terrain_level", "task.terrain_column", "task.walked", "task.commanded"} <= set(saved)
    env.reset(seed=7)
    env.load_state_dict(saved)
    torch.testing.assert_close(env._task_state["terrain_level"], expected)


def _primitives_on_terrain():
    """A sphere, a capsule and a box dropped on the hardest rough, slope and stairs patches of SMALL."""
    terrain = generate(SMALL)
    spec = mujoco.MjSpec()
    add_terrain(spec, terrain)
    spec.option.timestep = 0.004
    types = SMALL.column_types()
    shapes = [
        (mujoco.mjtGeom.mjGEOM_SPHERE, [0.05, 0, 0], "random_rough", (0.9, 0.3)),
        (mujoco.mjtGeom.mjGEOM_CAPSULE, [0.03, 0.1, 0], "pyramid_slope", (0.8, 0.2)),
        (mujoco.mjtGeom.mjGEOM_BOX, [0.1, 0.08, 0.05], "pyramid_stairs", (0.75, 0.1)),
    ]
    for index, (kind, size, where, (dx, dy)) in enumerate(shapes):
        origin = terrain.origins[2, types.index(where)]
        x, y = origin[0] + dx, origin[1] + dy
        z = float(terrain.height_at(np.array([x]), np.array([y]))[0]) + 0.12
        body = spec.worldbody.add_body(name=f"body{index}", pos=[x, y, z], quat=[0.96, 0.1, 0.2, 0.1])
        body.add_freejoint()
        body.add_geom(type=kind, size=size, condim=3)
    return spec.compile()


def _deepest(geom1, geom2, dist, ngeom):
    """Per geom: its deepest contact distance with the terrain (geom 0); +inf where it has none."""
    deepest = np.full(ngeom, np.inf)
    for first, second, distance in zip(geom1, geom2, dist):
        other = second if first == 0 else first
        deepest[other] = min(deepest[other], distance)
    return deepest


@pytest.mark.slow
@pytest.mark.long  # MJX compiles the height-field colliders for 3 minutes, MuJoCo Warp for 4, on this CPU
def test_contacts_with_the_height_field_agree_between_engines():
    import jax
    import mujoco_warp as mjw
    from mujoco import mjx

    model = _primitives_on_terrain()
    mjx_model = mjx.put_model(model)
    mjx_data = mjx.make_data(mjx_model)
    mjx_step = jax.jit(mjx.step)
    warp_model = mjw.put_model(model)
    warp_data = mjw.make_data(model, nworld=1, nconmax=64, njmax=256)
    data = mujoco.MjData(model)
    landed = set()
    for step in range(40):  # 0.16 s: falling, landing on the rough patch, the slope and a stair's edge
        mjx_data = mjx_step(mjx_model, mjx_data)
        mjw.step(warp_model, warp_data)
        mujoco.mj_step(model, data)
        qpos_warp = warp_data.qpos.numpy()[0]
        np.testing.assert_allclose(np.asarray(mjx_data.qpos), qpos_warp, atol=2e-2, err_msg=f"step {step}")
        np.testing.assert_allclose(data.qpos, qpos_warp, atol=2e-2, err_msg=f"step {step}")
        contact = mjx_data._impl.contact
        mjx_deepest = _deepest(*(np.asarray(contact.geom).T), np.asarray(contact.dist), model.ngeom)
        count = int(warp_data.nacon.numpy()[0])
        geoms = warp_data.contact.geom.numpy()[:count]
        warp_deepest = _deepest(geoms[:, 0], geoms[:, 1], warp_data.contact.dist.numpy()[:count], model.ngeom)
        c_deepest = _deepest(data.contact.geom1, data.contact.geom2, data.contact.dist, model.ngeom)
        touching = [geom for geom in range(1, model.ngeom) if c_deepest[geom] < 0]
        landed.update(touching)
        for geom in touching:  # each body touching the terrain in C MuJoCo does in both engines, as deep
            assert mjx_deepest[geom] == pytest.approx(c_deepest[geom], abs=3e-3), (step, geom)
            assert warp_deepest[geom] == pytest.approx(c_deepest[geom], abs=3e-3), (step, geom)
    assert landed == {1, 2, 3}


@pytest.mark.slow
@pytest.mark.long  # MJX compiles a Go1 with a height field for many minutes on this CPU
def test_go1_rough_warp_and_mjx_agree_step_by_step():
    """As tests/test_go1.py's parity (converged solver, no noise, pushes or randomization), on a small terrain."""
    tables = RoughTables.of(go1_mdp, SMALL, HeightScan(offset=0.3))
    quiet = dataclasses.replace(tables, events=dataclasses.replace(tables.events, pushes=None))
    floor = TerrainFloor(SMALL)
    task = rough_task(
        GO1_FLAT,
        go1_mdp,
        name="go1-rough-small",
        terrain=SMALL,
        scan=HeightScan(offset=0.3),
        model_spec=partial(robot.model_spec, solver_iterations=(100, 50), floor=floor),
        render_model_spec=None,
        agent_cfg=None,
        nconmax=96,
        njmax=256,
    )
    task = dataclasses.replace(
        task,
        observations=tables.policy.without_noise(),
        advance=quiet.advance,
        reset_state=quiet.events.reset_state,
        randomization=envs.Randomization(),
    )
    engines = {backend: envs.make_engine(task, backend, WORLDS, seed=0) for backend in ("warp", "mjx")}
    numpy = {backend: converter(env.framework, "numpy") for backend, env in engines.items()}
    to_env = {backend: converter("numpy", env.framework) for backend, env in engines.items()}
    warp = engines["warp"]
    warp.reset(seed=0)
    rng = np.random.default_rng(0)
    sensors = slice(0, 12, 3)  # the feet's normal forces against the terrain
    for step in range(10):
        state = warp.state_dict()
        task_state = {name[len("task.") :]: value for name, value in state.items() if name.startswith("task.")}
        action = rng.normal(0.0, 0.5, (WORLDS, 12)).astype(np.float32)
        out = {}
        for backend, env in engines.items():
            env.set_state(state["qpos"], state["qvel"], task_state)
            obs, reward, terminated, _, info = env.step(to_env[backend](action))
            data = env.state.data.sensordata if backend == "mjx" else env._fields.sensordata
            out[backend] = [numpy[backend](x) for x in (info["final_obs"], reward, terminated, data[:, sensors])]
        np.testing.assert_allclose(out["mjx"][0], out["warp"][0], atol=2e-2, rtol=1e-2, err_msg=f"step {step}")
        np.testing.assert_allclose(out["mjx"][1], out["warp"][1], atol=1e-3, err_msg=f"step {step}")
        np.testing.assert_array_equal(out["mjx"][2], out["warp"][2])
        np.testing.assert_array_equal(out["mjx"][3] > 1.0, out["warp"][3] > 1.0)  # the same feet touch the terrain
