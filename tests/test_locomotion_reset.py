"""The locomotion reset event puts no geom into the floor: the base is lifted by what the joint noise would push the
lowest collision geom below it (tasks/locomotion/clearance.py, forward kinematics written once for numpy, torch and
jax.numpy). Held to C MuJoCo's geom-to-floor distances, on the resets of both engines, and by C MuJoCo staying stable
at the training solver from many resets (a foot centimetres deep made it blow up from 1 reset in 6 for go1-flat)."""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
import torch

import tasks
from envs.mjx_engine import MjxVecEnv
from envs.mujoco_world import MujocoWorld
from envs.task import load_model
from tasks.locomotion import terms
from tasks.locomotion.clearance import FloorClearance, _floor_geoms

TASKS = ["go1-flat", "g1-flat"]


def _events(task):
    return tasks.spec(task).finish_reset.__self__  # the task's Locomotion


def _floor_distances(model, qpos) -> np.ndarray:
    """(worlds,) m: C MuJoCo's smallest distance from a floor-touching geom to the floor (negative: inside it)."""
    floor = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    geoms, data, fromto = _floor_geoms(model, floor), mujoco.MjData(model), np.zeros(6)
    distances = []
    for pose in np.asarray(qpos, np.float64):
        data.qpos[:] = pose
        mujoco.mj_kinematics(model, data)
        distances.append(min(mujoco.mj_geomDistance(model, data, g, floor, 1.0, fromto) for g in geoms))
    return np.array(distances)


@pytest.mark.parametrize("task", TASKS)
def test_the_lowest_point_is_c_mujocos_for_any_pose_in_numpy_torch_and_jax(task):
    events = _events(task)
    model, layout = load_model(tasks.spec(task)), events.layout
    clearance = FloorClearance.for_model_spec(events.model_spec)
    rng = np.random.default_rng(0)
    joints = np.array(layout.default_pose) + rng.uniform(-0.5, 0.5, (40, layout.num_joints))
    qpos = np.tile(model.qpos0, (40, 1))
    qpos[:, 2], qpos[:, 3:7], qpos[:, 7 : 7 + layout.num_joints] = 1.0, [np.cos(0.4), 0, 0, np.sin(0.4)], joints
    lowest = clearance.lowest_point(np, joints)
    np.testing.assert_allclose(1.0 + lowest, _floor_distances(model, qpos), atol=1e-9)  # yawed: heights unchanged
    in_torch = clearance.lowest_point(torch, torch.tensor(joints, dtype=torch.float32)).numpy()
    in_jax = clearance.lowest_point(jnp, jnp.asarray(joints, jnp.float32))  # jitted: the MJX reset, below
    np.testing.assert_allclose(in_torch, lowest, atol=1e-6)
    np.testing.assert_allclose(np.asarray(in_jax), lowest, atol=1e-6)
    lift = clearance.lift(np, joints, base_height=-lowest[0])  # the first pose just touches the floor
    np.testing.assert_allclose(lift, np.maximum(lowest[0] - lowest, 0.0))
    assert lift[0] == 0.0 and (lift > 0).any()


def _assert_clear_and_no_higher_than_needed(model, layout, qpos) -> None:
    """No floor-touching geom inside the floor (float32: 1e-5 m); a lifted base has its lowest geom on the floor; the
    rest start at the layout's base height."""
    distances = _floor_distances(model, qpos)
    assert distances.min() > -1e-5, distances.min()
    lifted = qpos[:, 2] > layout.base_height + 1e-5
    assert lifted.any()
    np.testing.assert_allclose(distances[lifted], 0.0, atol=1e-5)
    np.testing.assert_allclose(qpos[~lifted, 2], layout.base_height, atol=1e-6)


def test_warp_resets_put_no_geom_into_the_floor_and_lift_no_higher_than_needed():
    """MuJoCo Warp's resets (torch), go1-flat, 128 worlds x 2 seeds (g1-flat's: tests/test_g1.py). Without the lift
    the joint noise puts Go1's feet up to 4 cm into the floor."""
    spec = tasks.spec("go1-flat")
    warp = tasks.make("go1-flat", "warp", num_envs=128, seed=0)
    poses = []
    for seed in range(2):
        warp.reset(seed=seed)
        poses.append(warp._qpos.numpy().copy())
    _assert_clear_and_no_higher_than_needed(load_model(spec), _events("go1-flat").layout, np.concatenate(poses))


@pytest.mark.parametrize("task", TASKS)
def test_mjx_resets_put_no_geom_into_the_floor_and_its_terms_see_each_worlds_friction(task):
    """MJX's jitted reset (jax.numpy), 128 worlds x 2 seeds: as Warp's. In the same program, the foot friction term
    reads each world's randomized friction fields (Warp's are held to its contacts in test_go1.py / test_g1.py)."""
    events, spec = _events(task), tasks.spec(task)
    layout = events.layout
    mjx = MjxVecEnv(spec, 128, device="cpu", seed=0)

    @jax.jit
    def reset(key):
        data, _ = mjx._reset_data(key)
        fields = mjx._random_model_fields(jax.random.fold_in(key, 1))
        return data.qpos, fields, terms.foot_friction(jnp, mjx._mdp_state(data, None, fields), layout)

    poses = []
    for seed in range(2):
        qpos, fields, friction = reset(jax.random.key(seed))
        poses.append(np.asarray(qpos))
    _assert_clear_and_no_higher_than_needed(load_model(spec), layout, np.concatenate(poses))
    expected = [np.asarray(fields[name])[:, list(ids), 0] for name, ids in _friction_sources(layout)]
    np.testing.assert_allclose(np.asarray(friction), np.concatenate(expected, -1))
    assert np.asarray(friction).std(0).min() > 0  # per world


def _friction_sources(layout):
    return [
        (name, ids)
        for name, ids in (("geom_friction", layout.foot_friction_geoms), ("pair_friction", layout.foot_friction_pairs))
        if ids
    ]


@pytest.mark.parametrize("task", TASKS)
def test_c_mujoco_at_the_training_solver_is_stable_from_60_resets(task):
    """sim2sim's world (C MuJoCo, the task's own few solver iterations) holding the default pose for 10 steps
    from each of 60 resets: no step blows up (go1-flat: 10 of 60 did before the reset lifted the base). Its terms
    see the model's own friction."""
    spec = tasks.spec(task)
    world = MujocoWorld(spec, seed=0, interval_events=False)
    zero = np.zeros(spec.single_action_space.shape)
    unstable = 0
    for _ in range(60):
        world.reset()
        for _ in range(10):
            *_, info = world.step(zero)
            unstable += info["unstable"]
    assert unstable == 0
    layout = _events(task).layout
    nominal = [getattr(world.model, name)[list(ids), 0] for name, ids in _friction_sources(layout)]
    np.testing.assert_allclose(terms.foot_friction(np, world.state(), layout)[0], np.concatenate(nominal))
