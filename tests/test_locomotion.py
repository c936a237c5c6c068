"""The locomotion layer without physics: robot loading and its errors, the Go1's written-out layout against its
compiled model, commands, pushes, air time, observation noise and the reward/termination tables, evaluated on
hand-made states in torch and in jax.numpy (the same numbers from both)."""

import math

import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
import torch

import envs
import tasks
from envs import MdpState
from tasks import robots
from tasks.go1_flat import mdp, robot
from tasks.locomotion import terms
from tasks.locomotion.events import Locomotion, Pushes, VelocityCommands

WORLDS = 6
LAYOUT = robot.LAYOUT


def _state(xp, uniform, task_before, qvel=None, action=None, site_z=0.01):
    """A standing Go1 state (base upright at the reset height, joints at the default pose)."""
    qpos = np.zeros((WORLDS, 19), np.float32)
    qpos[:, 2], qpos[:, 3], qpos[:, 7:] = LAYOUT.base_height, 1.0, LAYOUT.default_pose
    qvel = np.zeros((WORLDS, 18), np.float32) if qvel is None else qvel
    site_xpos = np.zeros((WORLDS, 6, 3), np.float32)
    site_xpos[:, :, 2] = site_z
    action = np.zeros((WORLDS, 12), np.float32) if action is None else action

    class Data:
        pass

    data = Data()
    to = (lambda a: torch.as_tensor(a)) if xp is torch else jnp.asarray
    data.site_xpos = to(site_xpos)
    # the contact sensors: each foot presses with 30 N where it is on the ground (its site below 2 cm), else 0
    sensordata = np.zeros(
        (WORLDS, LAYOUT.contact_sensor_start + 3 * (4 + len(LAYOUT.illegal_contact_geoms))), np.float32
    )
    sensordata[:, LAYOUT.contact_sensor_start : LAYOUT.contact_sensor_start + 12 : 3] = 30.0 * (site_z < 0.02)
    data.sensordata = to(sensordata)
    data.actuator_force = to(np.zeros((WORLDS, 12), np.float32))
    data.qacc = to(np.zeros((WORLDS, 18), np.float32))
    before = {name: to(value) for name, value in task_before.items()}
    return MdpState(to(qpos), to(qvel), None, None, data, None, 0.02, to(action), before, before, to(uniform))


def _fresh_task_state(xp, events: Locomotion, uniform):
    state = events.reset_state(xp, uniform)
    return {
        name: np.asarray(state[name]) if name in state else np.zeros((WORLDS, *shape), np.float32)
        for name, shape in events.task_state.items()
    }


# ---- robot loading ----


def test_go1_loads_from_menagerie_root_and_its_layout_matches_the_compiled_model():
    model = robot.model_spec().compile()
    assert tuple(model.actuator(i).name + "_joint" for i in range(model.nu)) == LAYOUT.joint_names
    assert tuple(model.joint(model.actuator_trnid[i, 0]).name for i in range(model.nu)) == LAYOUT.joint_names
    assert [model.site(i).name for i in LAYOUT.foot_sites] == ["FR", "FL", "RR", "RL"]
    assert model.body(LAYOUT.base_body).name == "trunk"
    np.testing.assert_allclose(model.jnt_range[1:, 0], LAYOUT.joint_low)
    np.testing.assert_allclose(model.jnt_range[1:, 1], LAYOUT.joint_high)
    full = robots.robot_spec("unitree_go1", "go1").compile()
    np.testing.assert_allclose(full.key("home").qpos[7:], LAYOUT.default_pose)
    np.testing.assert_allclose(model.actuator_gainprm[:, 0], robot.STIFFNESS)
    np.testing.assert_allclose(model.actuator_biasprm[:, 1:3], [[-robot.STIFFNESS, -robot.DAMPING]] * 12)
    assert model.opt.timestep == robot.TIMESTEP
    # training drops the visual meshes; rendering keeps them
    rendered = envs.task.load_model(tasks.spec("go1-flat"), render=True)  # what play.py --video renders
    assert model.nmesh == 0 and rendered.nmesh == 5 and (rendered.nq, rendered.nv) == (model.nq, model.nv)
    assert set(model.geom_condim[model.geom_contype + model.geom_conaffinity > 0]) == {3}
    _assert_contact_sensors(model, LAYOUT)


def _assert_contact_sensors(model, layout):
    """The layout's contact sensors are the model's, at the addresses the terms read."""
    geoms = [geom for foot in layout.foot_geoms for geom in foot] + list(layout.illegal_contact_geoms)
    first = model.sensor(f"contact_{geoms[0]}").id
    for index, geom in enumerate(geoms):
        sensor = model.sensor(first + index)
        assert sensor.name == f"contact_{geom}" and sensor.type == mujoco.mjtSensor.mjSENS_CONTACT
        assert (
            model.sensor_adr[sensor.id] == layout.contact_sensor_start + 3 * index and model.sensor_dim[sensor.id] == 3
        )
    trunk = model.body(layout.base_body).id
    assert all(model.geom_bodyid[model.geom(g).id] == trunk for g in layout.illegal_contact_geoms[:1])
    _assert_foot_friction(model, layout)


def _assert_foot_friction(model, layout):
    """The friction term's geoms are the feet's, and outrank the floor (their friction is the contact's); its pairs
    are the foot-floor contact pairs, one per foot geom that has one."""
    floor = model.geom("floor").id
    foot_geoms = {model.geom(name).id for foot in layout.foot_geoms for name in foot}
    for geom in layout.foot_friction_geoms:
        assert geom in foot_geoms and model.geom_priority[geom] > model.geom_priority[floor]
    pairs = [p for p in range(model.npair) if {model.pair_geom1[p], model.pair_geom2[p]} & foot_geoms]
    pairs = [p for p in pairs if floor in (model.pair_geom1[p], model.pair_geom2[p])]
    assert tuple(pairs) == layout.foot_friction_pairs
    assert len(layout.foot_friction_geoms) + len(layout.foot_friction_pairs) > 0


def test_contact_sensors_measure_the_same_force_on_both_engines():
    """A 2 kg ball resting on the floor: the contact sensor add_contact_sensors makes reads its weight, m g, in C
    MuJoCo, MuJoCo Warp and MJX alike."""
    import jax
    import mujoco_warp as mjw
    from mujoco import mjx

    spec = mujoco.MjSpec.from_string("""<mujoco><option timestep="0.004"/><worldbody>
      <geom name="floor" type="plane" size="0 0 1"/>
      <body pos="0 0 0.1"><freejoint/><geom name="ball" type="sphere" size="0.1" mass="2"/></body>
    </worldbody></mujoco>""")
    robots.add_contact_sensors(spec, ["ball"])
    model = spec.compile()
    data = mujoco.MjData(model)
    for _ in range(50):
        mujoco.mj_step(model, data)
    warp_model, warp_data = mjw.put_model(model), mjw.make_data(model, nworld=1)
    mjx_model = mjx.put_model(model)
    mjx_data, step = mjx.make_data(mjx_model), jax.jit(mjx.step)
    for _ in range(50):
        mjw.step(warp_model, warp_data)
        mjx_data = step(mjx_model, mjx_data)
    weight = 2 * 9.81
    for force in (data.sensordata[0], warp_data.sensordata.numpy()[0, 0], float(mjx_data.sensordata[0])):
        assert force == pytest.approx(weight, rel=2e-3)


def test_g1_layout_matches_its_compiled_model():
    from tasks.g1_flat import robot as g1

    model = g1.model_spec().compile()
    joints = [model.actuator_trnid[i, 0] for i in range(model.nu)]
    assert tuple(model.joint(j).name for j in joints) == g1.LAYOUT.joint_names
    assert [model.site(i).name for i in g1.LAYOUT.foot_sites] == ["left_foot", "right_foot"]
    assert model.body(g1.LAYOUT.base_body).name == "pelvis" and model.jnt_qposadr[joints[0]] == 7
    np.testing.assert_allclose(model.jnt_range[joints], np.stack([g1.LAYOUT.joint_low, g1.LAYOUT.joint_high], -1))
    np.testing.assert_allclose(model.key("knees_bent").qpos[7:], g1.LAYOUT.default_pose)
    np.testing.assert_allclose(model.actuator_gainprm[:, 0], g1.STIFFNESS)
    np.testing.assert_allclose(-model.actuator_biasprm[:, 2], g1.DAMPING)
    assert model.nmesh == 0 and model.opt.timestep == g1.TIMESTEP
    spec = tasks.spec("g1-flat")
    assert spec.frame_skip * g1.TIMESTEP == pytest.approx(0.02) and spec.max_episode_steps == 1000
    _assert_contact_sensors(model, g1.LAYOUT)


def test_a_missing_robot_is_one_line_naming_it_and_menagerie_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MENAGERIE_ROOT", str(tmp_path))
    with pytest.raises(robots.RobotUnavailableError) as error:
        tasks.make("go1-flat", "warp", num_envs=2)
    message = str(error.value)
    assert "\n" not in message and "unitree_go1" in message and f"MENAGERIE_ROOT={tmp_path}" in message


def test_a_missing_model_file_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "unitree_go1").mkdir()
    monkeypatch.setenv("MENAGERIE_ROOT", str(tmp_path))
    with pytest.raises(robots.RobotUnavailableError) as error:
        robot.model_spec()
    message = str(error.value)
    assert "\n" not in message and "go1.xml" in message and "MENAGERIE_ROOT" in message


def test_an_unknown_robot_is_one_line():
    with pytest.raises(robots.RobotUnavailableError, match="'unitree_go7' is not a MuJoCo Menagerie robot") as error:
        robots.robot_spec("unitree_go7", "go1")
    assert "\n" not in str(error.value)


def test_bad_command_and_push_ranges_are_one_line_each():
    with pytest.raises(
        ValueError, match=r"commands.vx: \(1.0, -1.0\) is not allowed; must be \(low, high\) with low <= high"
    ):
        VelocityCommands(vx=(1.0, -1.0))
    with pytest.raises(ValueError, match="commands.standing_fraction"):
        VelocityCommands(standing_fraction=1.5)
    with pytest.raises(ValueError, match="pushes.interval_s"):
        Pushes(interval_s=(3.0, 1.0))
    with pytest.raises(ValueError, match="task_state.command"):
        envs.TaskSpec(**{**tasks.spec("go1-flat").__dict__, "task_state": {"command": (0,)}})


# ---- commands, pushes, air time ----


@pytest.mark.parametrize("xp", [torch, jnp], ids=["torch", "jax"])
def test_commands_are_drawn_in_range_kept_until_their_timer_ends_and_standing_worlds_get_zero(xp):
    commands = VelocityCommands(
        vx=(0.5, 1.0),
        vy=(-0.2, 0.2),
        wz=(-0.5, 0.5),
        resample_s=(1.0, 2.0),
        standing_fraction=0.0,
        heading_fraction=0.0,
    )
    events = Locomotion(LAYOUT, commands=commands, pushes=None)
    rng = np.random.default_rng(0)
    before = _fresh_task_state(np, events, rng.uniform(size=(WORLDS, events.reset_uniforms)).astype(np.float32))
    command = before["command"]
    assert ((command[:, 0] >= 0.5) & (command[:, 0] <= 1.0)).all() and (np.abs(command[:, 1]) <= 0.2).all()
    before["command_timer"][:3] = 0.01  # these three expire this step
    uniform = rng.uniform(size=(WORLDS, events.step_uniforms)).astype(np.float32)
    state, kicked = events.advance(xp, _state(xp, uniform, before))
    assert kicked is None  # pushes off
    after = np.asarray(state["command"])
    np.testing.assert_array_equal(after[3:], command[3:])
    assert (np.abs(after[:3] - command[:3]).max(-1) > 0).all() and ((after[:3, 0] >= 0.5) & (after[:3, 0] <= 1.0)).all()
    timer = np.asarray(state["command_timer"])[:, 0]
    np.testing.assert_allclose(timer[3:], before["command_timer"][3:, 0] - 0.02, rtol=1e-6)
    assert ((timer[:3] >= 1.0) & (timer[:3] <= 2.0)).all()

    standing = Locomotion(LAYOUT, commands=VelocityCommands(standing_fraction=1.0), pushes=None)
    fresh = _fresh_task_state(np, standing, rng.uniform(size=(WORLDS, standing.reset_uniforms)).astype(np.float32))
    np.testing.assert_array_equal(fresh["command"], 0.0)


@pytest.mark.parametrize("xp", [torch, jnp], ids=["torch", "jax"])
def test_heading_mode_steers_toward_the_heading(xp):
    events = Locomotion(LAYOUT, commands=VelocityCommands(heading_fraction=1.0, standing_fraction=0.0), pushes=None)
    before = _fresh_task_state(np, events, np.full((WORLDS, events.reset_uniforms), 0.5, np.float32))
    before["heading"][:] = 0.5  # rad, the base faces 0
    state, _ = events.advance(xp, _state(xp, np.zeros((WORLDS, events.step_uniforms), np.float32), before))
    np.testing.assert_allclose(np.asarray(state["command"])[:, 2], 0.5 * 0.5, rtol=1e-5)


@pytest.mark.parametrize("xp", [torch, jnp], ids=["torch", "jax"])
def test_pushes_kick_the_base_when_their_timer_ends(xp):
    events = Locomotion(LAYOUT, pushes=Pushes(interval_s=(1.0, 3.0), velocity=0.5))
    before = _fresh_task_state(np, events, np.full((WORLDS, events.reset_uniforms), 0.5, np.float32))
    before["push_timer"][:2] = 0.0
    uniform = np.full((WORLDS, events.step_uniforms), 1.0, np.float32)  # the largest kick: +0.5 m/s on x and y
    state, qvel = events.advance(xp, _state(xp, uniform, before))
    qvel = np.asarray(qvel)
    np.testing.assert_allclose(qvel[:2, :2], 0.5)
    np.testing.assert_array_equal(qvel[2:], 0.0)
    timer = np.asarray(state["push_timer"])[:, 0]
    np.testing.assert_allclose(timer[:2], 3.0)
    np.testing.assert_allclose(timer[2:], before["push_timer"][2:, 0] - 0.02, rtol=1e-6)


@pytest.mark.parametrize("xp", [torch, jnp], ids=["torch", "jax"])
def test_air_time_counts_in_the_air_and_is_rewarded_at_touch_down(xp):
    events = Locomotion(
        LAYOUT, commands=VelocityCommands(vx=(1.0, 1.0), standing_fraction=0.0, heading_fraction=0.0), pushes=None
    )
    task = _fresh_task_state(np, events, np.full((WORLDS, events.reset_uniforms), 0.5, np.float32))
    uniform = np.zeros((WORLDS, events.step_uniforms), np.float32)
    for _ in range(35):  # 0.7 s in the air
        task, _ = events.advance(xp, _state(xp, uniform, task, site_z=0.2))
        task = {name: np.asarray(value) for name, value in task.items()}
    np.testing.assert_allclose(task["air_time"], 0.7, rtol=1e-4)
    np.testing.assert_array_equal(task["contact"], 0.0)
    task, _ = events.advance(xp, _state(xp, uniform, task, site_z=0.01))  # every foot lands
    s = _state(xp, uniform, {n: np.asarray(v) for n, v in task.items()})._replace(task=task)
    np.testing.assert_allclose(np.asarray(task["last_air_time"]), 0.72, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(terms.feet_air_time(xp, s, threshold=0.5)), 4 * 0.22, rtol=1e-3)
    np.testing.assert_array_equal(np.asarray(task["air_time"]), 0.0)


# ---- tables ----


@pytest.mark.parametrize("xp", [torch, jnp], ids=["torch", "jax"])
def test_observation_noise_is_bounded_and_off_without_noise_and_tables_scale_by_dt(xp):
    events = mdp.EVENTS
    task = _fresh_task_state(
        np, events, np.random.default_rng(1).uniform(size=(WORLDS, events.reset_uniforms)).astype(np.float32)
    )
    task["command"][:] = 0.0
    total = mdp.POLICY.uniform_count + events.step_uniforms
    qvel = np.zeros((WORLDS, 18), np.float32)
    qvel[:, 6:] = 2.0  # joint velocities
    noisy = np.asarray(
        mdp.POLICY(
            xp, _state(xp, np.random.default_rng(2).uniform(size=(WORLDS, total)).astype(np.float32), task, qvel)
        )
    )
    clean = np.asarray(mdp.POLICY.without_noise()(xp, _state(xp, np.zeros((WORLDS, total), np.float32), task, qvel)))
    assert noisy.shape == clean.shape == (WORLDS, mdp.POLICY.size)
    np.testing.assert_allclose(clean[:, 6:9], [[0, 0, -1]] * WORLDS, atol=1e-6)  # upright: gravity straight down
    np.testing.assert_allclose(clean[:, 24:36], 2.0 * 0.05, rtol=1e-6)  # joint velocities, scaled
    bounds = np.concatenate([[term.noise * term.scale] * term.size for term in mdp.POLICY.terms])
    assert (np.abs(noisy - clean) <= bounds + 1e-6).all() and (np.abs(noisy - clean) > 0).any()

    s = _state(xp, np.zeros((WORLDS, total), np.float32), task, qvel)
    rewards = {name: np.asarray(value) for name, value in mdp.REWARDS(xp, s).items()}
    np.testing.assert_allclose(rewards["track_lin_vel_xy"], 1.0 * 0.02, rtol=1e-6)  # perfect tracking of a zero command
    assert set(rewards) == set(mdp.REWARDS.weights())
    ended = {name: np.asarray(value) for name, value in mdp.TERMINATIONS(xp, s).items()}
    assert not ended["fallen"].any()


@pytest.mark.parametrize("xp", [torch, jnp], ids=["torch", "jax"])
def test_frames_rotate_into_the_base_frame(xp):
    task = _fresh_task_state(np, mdp.EVENTS, np.full((WORLDS, mdp.EVENTS.reset_uniforms), 0.5, np.float32))
    qvel = np.zeros((WORLDS, 18), np.float32)
    qvel[:, 0] = 1.0  # 1 m/s along world x
    s = _state(xp, np.zeros((WORLDS, 1), np.float32), task, qvel)
    yaw = math.pi / 2  # base turned 90 degrees left: world x is the base's -y
    quat = np.tile([math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)], (WORLDS, 1)).astype(np.float32)
    qpos = np.asarray(s.qpos).copy()
    qpos[:, 3:7] = quat
    s = s._replace(qpos=torch.as_tensor(qpos) if xp is torch else jnp.asarray(qpos))
    np.testing.assert_allclose(np.asarray(terms.base_lin_vel(xp, s)), [[0, -1, 0]] * WORLDS, atol=1e-6)
    np.testing.assert_allclose(np.asarray(terms.yaw(xp, s.qpos[:, 3:7])), yaw, rtol=1e-6)


def test_only_positive_clips_each_steps_total_at_zero_and_go1_rough_uses_it():
    """legged_gym's only_positive_rewards: a step's total below 0 is lifted to 0 by one more logged term (so the terms
    still add up to the reward), a positive total is left alone; go1-rough's table has it (also with its reward
    weights set by flags), the flat tasks' do not."""
    import dataclasses
    from types import SimpleNamespace

    from tasks.mdp_tables import CLIPPED_BELOW_ZERO, RewardTable

    table = RewardTable(
        {"task": (lambda xp, s: s.qpos[:, 0], 1.0), "penalty": (lambda xp, s: s.qpos[:, 1], -1.0)}, only_positive=True
    )
    for xp in (torch, jnp):
        weighted = table(xp, SimpleNamespace(dt=0.5, qpos=xp.asarray([[1.0, 3.0], [3.0, 1.0]])))
        assert set(weighted) == {"task", "penalty", CLIPPED_BELOW_ZERO}
        np.testing.assert_allclose(np.asarray(weighted[CLIPPED_BELOW_ZERO]), [1.0, 0.0])
        np.testing.assert_allclose(np.asarray(sum(weighted.values())), [0.0, 1.0])
    assert table.weights() == {"task": 1.0, "penalty": -1.0}  # the clip is no weighted term (no --env.rewards flag)
    assert tasks.spec("go1-rough").reward.only_positive
    assert not tasks.spec("go1-flat").reward.only_positive and not tasks.spec("g1-rough").reward.only_positive
    configured = dataclasses.replace(tasks.config("go1-rough"), rewards={"action_rate": -0.02})
    assert tasks.spec("go1-rough", configured).reward.only_positive
