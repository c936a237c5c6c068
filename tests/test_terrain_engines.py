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
from envs.task import load_model
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


@pytest.mark.parametrize("task", ["go1-rough", "g1-rough"])
def test_the_rough_tasks_models_go_onto_mjx(task):
    """MJX takes the rough tasks' models (put_model raises on what it cannot collide: a cylinder or a contact margin
    against a height field; Menagerie's Go1 has 1 mm margins), without compiling a step."""
    from mujoco import mjx

    model = load_model(tasks.spec(task))
    touching = (model.geom_contype | model.geom_conaffinity) > 0
    assert touching.sum() + model.npair > 1  # the floor and geoms that collide with it (G1: explicit pairs)
    assert not model.geom_margin[touching].any() and not model.pair_margin.any()
    mjx.put_model(model)


def test_bench_times_the_height_scan_against_the_same_worlds_with_zeros_interleaved(monkeypatch):
    """bench.py --no-height-scan builds the task twice (the second with the scan replaced by zeros in both groups),
    times them in turn and reports the scan's cost as their ratio (no world is built: the timing is faked)."""
    from tests.launch_scripts import load_launch_script

    bench = load_launch_script("bench", "bench_height_scan")
    made, timed = [], []

    class Worlds:
        device, num_envs = "cpu", 2

        def __init__(self, overrides):
            self.scanned = not overrides
            self.overrides = overrides

        def close(self):
            pass

    def make(task, backend, num_envs, **kwargs):
        overrides = {name: value for name, value in kwargs.items() if name not in ("device", "config")}
        made.append(Worlds(overrides))
        return made[-1]

    def sim_rate(env, steps, warmup=10):
        timed.append("scan" if env.scanned else "zeros")
        return 100.0 if env.scanned else 125.0

    monkeypatch.setattr(bench.tasks, "make", make)
    monkeypatch.setattr(bench.envs, "wrap_env", lambda env, framework: env)
    monkeypatch.setattr(bench, "sim_rate", sim_rate)
    args = bench.parse(["--task", "go1-rough", "--num-envs", "2", "--train-timesteps", "0", "--no-height-scan"])
    row = bench.measure(args, "go1-rough", "warp", 2)
    assert timed == ["scan", "zeros", "scan", "zeros", "scan"]
    assert row["sim_env_steps_per_s"] == 100 and row["unscanned_env_steps_per_s"] == 125
    assert row["height_scan_cost"] == 0.25
    for group in ("observations", "states"):
        scans = [term for term in made[1].overrides[group].terms if term.name == "height_scan"]
        assert len(scans) == 1 and scans[0].noise == 0.0 and scans[0].term.func.__name__ == "_zeros"
    with pytest.raises(ValueError, match="^--no-height-scan: task 'cartpole' has no height scan; choose a rough task"):
        bench.measure(bench.parse(["--task", "cartpole", "--no-height-scan"]), "cartpole", "warp", 2)


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


def _feet_resting_on_terrain(worlds: int):
    """SMALL's terrain and, per world, a Go1 foot (sphere) and a calf (capsule) at random spots (half of them over
    cell edges, where a foot meets several prisms), sunk 0-3 cm below the highest point under them: their qpos."""
    terrain = generate(SMALL)
    spec = mujoco.MjSpec()
    add_terrain(spec, terrain)
    for kind, size in ((mujoco.mjtGeom.mjGEOM_SPHERE, [0.023, 0, 0]), (mujoco.mjtGeom.mjGEOM_CAPSULE, [0.02, 0.1, 0])):
        body = spec.worldbody.add_body()
        body.add_freejoint()
        body.add_geom(type=kind, size=size, contype=1, conaffinity=0)  # the terrain only, not each other
    model = spec.compile()
    rng = np.random.default_rng(0)
    qpos = np.zeros((worlds, model.nq))
    for body, radius in enumerate((0.023, 0.02)):
        x = rng.uniform(terrain.x0 + 0.3, -terrain.x0 - 0.3, worlds)
        y = rng.uniform(terrain.y0 + 0.3, -terrain.y0 - 0.3, worlds)
        edge = rng.random(worlds) < 0.5
        x[edge] = terrain.x0 + np.round((x[edge] - terrain.x0) / SMALL.resolution) * SMALL.resolution
        around = [terrain.height_at(x + dx, y + dy) for dx in (-0.1, 0, 0.1) for dy in (-0.1, 0, 0.1)]
        yaw = rng.uniform(0, 2 * np.pi, worlds)  # the capsule lies flat (its axis turned to horizontal), any yaw
        quat = np.stack([np.cos(yaw / 2), np.zeros(worlds), np.zeros(worlds), np.sin(yaw / 2)], -1)
        if body == 1:
            quat = np.stack([_quat_mul(q, [np.sqrt(0.5), 0, np.sqrt(0.5), 0]) for q in quat])
        qpos[:, 7 * body : 7 * body + 7] = np.column_stack(
            [x, y, np.max(around, axis=0) + radius - rng.uniform(0.0, 0.03, worlds), quat]
        )
    return model, qpos


def _quat_mul(a, b):
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, np.asarray(a, float), np.asarray(b, float))
    return out


@pytest.mark.slow
@pytest.mark.long  # MuJoCo Warp compiles its height-field colliders for minutes on this CPU
def test_warp_finds_c_mujocos_contacts_of_feet_and_calves_with_the_height_field():
    """MuJoCo Warp 4.0 as released reports contacts 2-17 cm deep (some pulling down) where C MuJoCo finds none, for
    spheres and capsules beside steps and steep cells (envs/hfield_contacts.py); with the engine's fix, each geom's
    deepest contact is C MuJoCo's."""
    import mujoco_warp as mjw

    from envs import hfield_contacts

    hfield_contacts.install_warp()  # what every MuJoCo Warp engine runs
    worlds = 256
    model, qpos = _feet_resting_on_terrain(worlds)
    data = mujoco.MjData(model)
    c_deepest = np.full((worlds, model.ngeom), np.inf)
    for world in range(worlds):
        data.qpos[:] = qpos[world]
        mujoco.mj_forward(model, data)
        c_deepest[world] = _deepest(data.contact.geom1, data.contact.geom2, data.contact.dist, model.ngeom)
    warp_model = mjw.put_model(model)
    warp_data = mjw.make_data(model, nworld=worlds, nconmax=16 * worlds, njmax=32 * worlds)
    warp_data.qpos.assign(qpos.astype(np.float32))
    mjw.forward(warp_model, warp_data)
    count = int(warp_data.nacon.numpy()[0])
    geoms, dist = warp_data.contact.geom.numpy()[:count], warp_data.contact.dist.numpy()[:count]
    world_of = warp_data.contact.worldid.numpy()[:count]
    warp_deepest = np.stack(
        [_deepest(*geoms[world_of == world].T, dist[world_of == world], model.ngeom) for world in range(worlds)]
    )
    c_depth, warp_depth = np.minimum(c_deepest[:, 1:], 0.0), np.minimum(warp_deepest[:, 1:], 0.0)  # none: 0
    assert (c_depth < 0).mean() > 0.7  # most feet and calves touch the terrain
    gap = np.abs(warp_depth - c_depth)
    assert gap.max() < 1e-3, (np.unravel_index(gap.argmax(), gap.shape), gap.max())
    assert np.isfinite(warp_data.qacc.numpy()).all()


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


# go1-rough's reset (+-0.5 m) fits on a 2 m platform; each world is then moved off it, onto the hardest level
GO1_SMALL = dataclasses.replace(SMALL, patch_size=4.0, platform=2.0)
GO1_PLACES = ("random_rough", "pyramid_stairs", "pyramid_stairs_inverted", "boxes")


def _off_the_platform(terrain, qpos):
    """qpos with world i's base 1.4 m off the centre of the hardest GO1_PLACES[i] patch (its feet on the rough part,
    not the platform), as high above the highest point within 0.35 m of it as the reset put it above its platform."""
    qpos = qpos.copy()
    angles = np.linspace(0.0, 2 * np.pi, 16, endpoint=False)
    around = np.concatenate([[[0.0, 0.0]], 0.35 * np.stack([np.cos(angles), np.sin(angles)], -1)])
    for world, kind in enumerate(GO1_PLACES):
        origin = terrain.origins[-1, GO1_SMALL.column_types().index(kind)]
        above_platform = qpos[world, 2] - surface_height(
            np, terrain.lookup_table(np), qpos[world, :1], qpos[world, 1:2]
        )
        x, y = origin[0] + 1.4, origin[1]
        highest = terrain.height_at(x + around[:, 0], y + around[:, 1]).max()
        qpos[world, :3] = [x, y, highest + above_platform[0]]
    return qpos


@pytest.mark.slow
@pytest.mark.long  # MJX compiles a Go1 with a height field for 4-5 minutes on this CPU
def test_go1_rough_warp_and_mjx_agree_step_by_step():
    """As tests/test_go1.py's parity (converged solver, no noise, pushes or randomization), on a small terrain, the
    worlds dropped onto rough ground, stairs, inverted stairs and boxes.

    What agrees step by step: the height scan, the base's orientation and the joint positions, the rewards, the
    terminations and (but for 1 % of the foot-steps) which feet touch the terrain. The velocities are not compared: the
    engines' height-field colliders keep different contacts where a foot touches several of its prisms (C MuJoCo one per
    prism, MuJoCo Warp 4.0 a subset of at most 4 per geom: the deepest and the most spread, MJX its own 4), so the
    impulses of a landing differ (C MuJoCo and MuJoCo Warp from one state: the same velocities to 1e-3 while their
    contact counts match, up to a few rad/s in a joint on a step where C MuJoCo has 11 contacts and MuJoCo Warp 8)."""
    from tasks.go1_rough import TASK as GO1_ROUGH_TASK

    scan = HeightScan(offset=0.3)
    tables = RoughTables.of(go1_mdp, GO1_SMALL, scan)
    quiet = dataclasses.replace(tables, events=dataclasses.replace(tables.events, pushes=None))
    # go1-rough's colliders: every Go1 geom touches the terrain
    floor = TerrainFloor(GO1_SMALL, touching=GO1_ROUGH_TASK.touching)
    task = rough_task(
        GO1_FLAT,
        go1_mdp,
        name="go1-rough-small",
        terrain=GO1_SMALL,
        scan=scan,
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
    state = warp.state_dict()
    task_state = {name[len("task.") :]: value for name, value in state.items() if name.startswith("task.")}
    qpos = _off_the_platform(generate(GO1_SMALL), state["qpos"])
    warp.set_state(qpos, state["qvel"], {**task_state, "terrain_start": qpos[:, :2].copy()})
    layout = {term["name"]: term for term in tables.policy.layout()}
    part = lambda name: slice(layout[name]["start"], layout[name]["start"] + layout[name]["size"])  # noqa: E731
    rng = np.random.default_rng(0)
    sensors = slice(0, 12, 3)  # the feet's normal forces against the terrain
    touched = np.zeros((WORLDS, 4), bool)
    feet_differ = 0  # foot-steps where one engine's foot touches the terrain and the other's does not
    gaps = {name: [] for name in ("height_scan", "projected_gravity", "joint_pos", "reward")}
    for step in range(20):  # 0.4 s: every world lands
        state = warp.state_dict()
        task_state = {name[len("task.") :]: value for name, value in state.items() if name.startswith("task.")}
        action = rng.normal(0.0, 0.5, (WORLDS, 12)).astype(np.float32)
        out = {}
        for backend, env in engines.items():
            env.set_state(state["qpos"], state["qvel"], task_state)
            obs, reward, terminated, _, info = env.step(to_env[backend](action))
            data = env.state.data.sensordata if backend == "mjx" else env._fields.sensordata
            out[backend] = [numpy[backend](x) for x in (info["final_obs"], reward, terminated, data[:, sensors])]
        message = f"step {step}"
        assert np.ptp(out["warp"][0][:, part("height_scan")], axis=1).min() > 0.05, message  # uneven ground
        for name in gaps:
            if name == "reward":
                gaps[name].append(np.abs(out["mjx"][1] - out["warp"][1]))
            else:
                gaps[name].append(np.abs(out["mjx"][0][:, part(name)] - out["warp"][0][:, part(name)]).reshape(-1))
        np.testing.assert_array_equal(out["mjx"][2], out["warp"][2], err_msg=message)
        feet_differ += int(((out["mjx"][3] > 1.0) != (out["warp"][3] > 1.0)).sum())
        touched |= out["warp"][3] > 1.0
    gaps = {name: np.concatenate(values) for name, values in gaps.items()}
    print({name: (float(np.quantile(gap, 0.9)), float(gap.max())) for name, gap in gaps.items()})
    assert touched.sum(1).min() >= 2, touched  # every robot landed on the terrain
    for env in engines.values():
        assert env.check_finite()["nonfinite/worlds"] == 0
    # the same feet touch on all but 1 % of the 320 foot-steps: a foot landing or lifting off within a step touches in
    # one engine and not in the other where their contact sets differ (C MuJoCo sides with either; MuJoCo Warp as
    # released, without envs/hfield_contacts.py: 9 foot-steps, contacts of a foot where C MuJoCo has none)
    assert feet_differ <= 0.01 * touched.size * 20, feet_differ
    # a ray that lands on a step's or a box's edge reads either side of it when the two bases are a millimetre apart
    assert np.quantile(gaps["height_scan"], 0.9) < 1e-3 and gaps["height_scan"].max() < 5e-2
    assert gaps["projected_gravity"].max() < 2e-2
    assert np.quantile(gaps["joint_pos"], 0.9) < 5e-3 and gaps["joint_pos"].max() < 0.05
    assert np.quantile(gaps["reward"], 0.9) < 5e-3


def _site_xpos(env, backend):
    return env.state.data.site_xpos if backend == "mjx" else env._fields.site_xpos


@pytest.mark.slow
@pytest.mark.long  # compiling: MuJoCo Warp ~3 minutes the first time, MJX ~25 (load 6-8) on this CPU
@pytest.mark.parametrize("backend", envs.BACKENDS)
def test_g1_rough_spawns_on_its_patch_steps_with_joint_targets_and_resets_a_fallen_world(backend):
    from tasks.g1_flat import mdp as g1_mdp
    from tasks.g1_flat import robot as g1_robot
    from tasks.g1_rough import SCAN, TERRAIN

    worlds = 4
    terrain = generate(TERRAIN)
    grid = terrain.lookup_table(np)
    spec = tasks.spec("g1-rough")
    clearance = spec.reset_from_previous.__self__.clearance
    env = tasks.make("g1-rough", backend, num_envs=worlds, seed=0)
    to_env, to_numpy = converter("numpy", env.framework), converter(env.framework, "numpy")

    def assert_on_its_patch(qpos, state, which=slice(None)):
        level, column = state["task.terrain_level"][which, 0], state["task.terrain_column"][which, 0]
        origins = terrain.origins[level.astype(int), column.astype(int)]
        assert (np.abs(qpos[which, :2] - origins[:, :2]) <= 0.5 + 1e-5).all()  # on its patch's platform
        above = qpos[which, 2] - surface_height(np, grid, qpos[which, 0], qpos[which, 1])
        low = g1_robot.LAYOUT.base_height + clearance
        assert ((above > low - 1e-4) & (above < low + 0.1)).all(), above  # the reset's lift: at most a few cm

    obs, info = env.reset(seed=0)
    state = env.state_dict()
    assert to_numpy(obs).shape == (worlds, spec.observations.size) == (worlds, 286)
    assert state["task.terrain_level"].max() <= TERRAIN.max_init_level
    assert_on_its_patch(state["qpos"], state)
    scan = {term["name"]: term for term in spec.observations.layout()}["height_scan"]
    assert scan["size"] == SCAN.num_rays == 187
    action = np.full((worlds, 29), 0.2, np.float32)
    for step in range(10):
        obs, reward, terminated, truncated, info = env.step(to_env(action))
        obs, states, reward = to_numpy(obs), to_numpy(info["states"]), to_numpy(reward)
        assert states.shape == (worlds, spec.states.size) == (worlds, 296)
        assert np.isfinite(obs).all() and np.isfinite(states).all() and np.isfinite(reward).all()
        feet = to_numpy(_site_xpos(env, backend))[:, list(g1_robot.LAYOUT.foot_sites)]
        ground = surface_height(np, grid, feet[..., 0], feet[..., 1])
        assert (feet[..., 2] - ground > -0.03).all(), step  # no sole sinks into the terrain
    assert not to_numpy(terminated).any()  # standing on the platform with its joint targets
    ctrl = to_numpy(env.state.data.ctrl if backend == "mjx" else env._ctrl)
    np.testing.assert_allclose(
        ctrl, np.asarray(g1_mdp.EVENTS.layout.default_pose) + g1_mdp.ACTION_SCALE * action, atol=1e-6
    )
    heights = obs[:, scan["start"] : scan["start"] + scan["size"]]
    assert (np.abs(heights) < 0.25).all()  # standing on a flat platform: near 0 (noise 0.1, the spawn's drop)
    # world 1 upside down: it ends its episode and starts the next on its (new) level's patch, upright
    state = env.state_dict()
    qpos, qvel = state["qpos"].copy(), state["qvel"].copy()
    qpos[1, 3:7] = [0.0, 1.0, 0.0, 0.0]
    task_state = {name[len("task.") :]: value for name, value in state.items() if name.startswith("task.")}
    task_state["commanded"] = task_state["commanded"] + 10.0  # its commands asked for 10 m more than it walked
    env.set_state(qpos, qvel, task_state)
    _, _, terminated, _, _ = env.step(to_env(np.zeros((worlds, 29), np.float32)))
    assert to_numpy(terminated).tolist() == [False, True, False, False]
    state = env.state_dict()
    assert_on_its_patch(state["qpos"], state, which=slice(1, 2))
    np.testing.assert_allclose(state["qpos"][1, 4:6], 0.0, atol=1e-6)  # upright (any yaw)
    assert state["task.terrain_level"][1, 0] == max(task_state["terrain_level"][1, 0] - 1, 0)  # it goes down a level
    assert env.check_finite()["nonfinite/worlds"] == 0  # no buffer overflow (Warp), no world reset for NaN
