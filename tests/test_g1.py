"""g1-flat on MuJoCo Warp: the humanoid's task state, joint targets and fall termination, on the same layer as
go1-flat (its layout against the compiled model is in test_locomotion.py); and MJX against MuJoCo Warp along a
trajectory (long).

Parity method and tolerances as go1-flat's (tests/test_go1.py): each step both engines start from the same state
(physics and task state) and take the same action, with observation noise, pushes and randomization off and the
solver converged (100 Newton / 50 line-search iterations: with Menagerie's 5 / 8 the step depends on each engine's
own warm start); observations and the critic's states agree to 2e-2 (+1e-2 relative) after a 20 ms step (float32
physics with contacts, each engine's own solver code), rewards to 1e-3, terminations exactly.
"""

import dataclasses
from functools import partial

import numpy as np
import pytest
import torch

import tasks
from envs.convert import converter
from envs.task import load_model
from tasks.g1_flat import mdp, robot
from tests.test_locomotion_reset import _assert_clear_and_no_higher_than_needed as clear_of_the_floor

WORLDS = 4


def test_g1_steps_with_joint_targets_and_a_fallen_world_is_reset():
    env = tasks.make("g1-flat", "warp", num_envs=WORLDS, seed=0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (WORLDS, mdp.POLICY.size) == (WORLDS, 99)
    action = torch.full((WORLDS, 29), 0.2)
    obs, reward, terminated, truncated, info = env.step(action)
    assert torch.isfinite(obs).all() and torch.isfinite(reward).all()
    torch.testing.assert_close(env._ctrl, torch.tensor(mdp.EVENTS.layout.default_pose) + mdp.ACTION_SCALE * action)
    torch.testing.assert_close(env._task_state["last_action"], action)
    height = env._qpos[:, 2]
    assert ((height > 0.6) & (height < 0.8)).all(), height  # still standing after 20 ms
    _assert_the_feet_friction_is_what_the_contacts_use(env, info["states"])
    qpos, qvel = env._qpos.numpy().copy(), env._qvel.numpy().copy()
    qpos[1, 3:7] = [0.0, 1.0, 0.0, 0.0]  # world 1 upside down
    env.set_state(qpos, qvel)
    _, _, terminated, _, info = env.step(torch.zeros((WORLDS, 29)))
    assert terminated.tolist() == [False, True, False, False]
    # reset: standing height (lifted where the joint noise would put a foot into the floor), upright
    lift = mdp.EVENTS.base_lift(torch, env._qpos[1:2, 7:36])
    assert abs(float(env._qpos[1, 2]) - mdp.EVENTS.layout.base_height - float(lift[0])) < 1e-6
    np.testing.assert_allclose(env._qpos[1, 4:6].numpy(), 0.0)
    np.testing.assert_array_equal(env._task_state["last_action"][1].numpy(), 0.0)
    env.check_finite()
    # resets put no geom into the floor (the reset's lift: tests/test_locomotion_reset.py), 32 of them
    poses = []
    for seed in range(8):
        env.reset(seed=seed)
        poses.append(env._qpos.numpy().copy())
    clear_of_the_floor(load_model(tasks.spec("g1-flat")), mdp.EVENTS.layout, np.concatenate(poses))


def _assert_the_feet_friction_is_what_the_contacts_use(env, states):
    """The critic's foot friction is each world's randomized contact-pair friction (1.0 x [0.6, 1.25]), the sliding
    friction MuJoCo Warp gives those pairs' contacts."""
    term = {term["name"]: term for term in mdp.CRITIC.layout()}["foot_friction"]
    friction = states[:, term["start"] : term["start"] + term["size"]].numpy()
    assert friction.shape == (WORLDS, 6) and friction.std() > 0 and (friction >= 0.6 - 1e-6).all()
    assert (friction <= 1.25 + 1e-6).all()
    model, contact, count = env.mj_model, env._data.contact, int(env._data.nacon.numpy()[0])
    geoms, worlds, used = (
        contact.geom.numpy()[:count],
        contact.worldid.numpy()[:count],
        contact.friction.numpy()[:count],
    )
    checked = 0
    for column, pair in enumerate(robot.LAYOUT.foot_friction_pairs):
        pair_geoms = sorted((model.pair_geom1[pair], model.pair_geom2[pair]))
        for index in np.flatnonzero((np.sort(geoms, -1) == pair_geoms).all(-1)):
            assert used[index, :2] == pytest.approx([friction[worlds[index], column]] * 2, rel=1e-6)
            checked += 1
    assert checked >= WORLDS  # the robots stand on their feet


@pytest.mark.slow
@pytest.mark.long  # MJX compiles g1-flat's step for minutes on this CPU, then the steps of both engines
def test_warp_and_mjx_agree_step_by_step_along_a_trajectory():
    events = dataclasses.replace(mdp.EVENTS, pushes=None)
    quiet = dict(
        observations=mdp.POLICY.without_noise(),
        advance=events.advance,
        reset_state=events.reset_state,
        randomization=tasks.spec("cartpole").randomization,
        model_spec=partial(robot.model_spec, solver_iterations=(100, 50)),
    )
    envs_ = {backend: tasks.make("g1-flat", backend, num_envs=WORLDS, seed=0, **quiet) for backend in ("warp", "mjx")}
    numpy = {backend: converter(env.framework, "numpy") for backend, env in envs_.items()}
    to_env = {backend: converter("numpy", env.framework) for backend, env in envs_.items()}
    warp = envs_["warp"]
    warp.reset(seed=0)
    rng = np.random.default_rng(0)
    for step in range(20):  # the trajectory is Warp's: each step both engines start where Warp's last step ended
        state = warp.state_dict()
        task_state = {name[len("task.") :]: value for name, value in state.items() if name.startswith("task.")}
        action = rng.normal(0.0, 0.3, (WORLDS, 29)).astype(np.float32)
        out = {}
        for backend, env in envs_.items():
            env.set_state(state["qpos"], state["qvel"], task_state)
            obs, reward, terminated, truncated, info = env.step(to_env[backend](action))
            out[backend] = [numpy[backend](x) for x in (info["final_obs"], info["final_states"], reward, terminated)]
        np.testing.assert_allclose(
            out["mjx"][0], out["warp"][0], atol=2e-2, rtol=1e-2, err_msg=f"observations, step {step}"
        )
        np.testing.assert_allclose(out["mjx"][1], out["warp"][1], atol=2e-2, rtol=1e-2, err_msg=f"states, step {step}")
        np.testing.assert_allclose(out["mjx"][2], out["warp"][2], atol=1e-3, err_msg=f"rewards, step {step}")
        np.testing.assert_array_equal(out["mjx"][3], out["warp"][3])
