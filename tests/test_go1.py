"""go1-flat on the engines: it stands on its default pose, its task state is reset per world and restored from a
checkpoint exactly, and MuJoCo Warp and MJX agree step by step.

Parity method (as tests/test_task_parity.py): before each step both engines are put in the same state (physics
and task state) and take the same action; what the step returns is compared. Observation noise, pushes and
randomization are off for it (they draw from each engine's own generator), and the solver runs Menagerie's
100 Newton / 50 line-search iterations: with training's 4 / 8 the result still depends on the warm start, which
each engine keeps from its own previous step (set_state does not carry it), and the two differ by up to 3 rad/s
in one step. Tolerances: float32 physics with contacts and each engine's own solver code: observations agree to
2e-2 (+1e-2 relative) after a 20 ms step from the same state, rewards to 1e-3.
"""

import dataclasses
from functools import partial

import numpy as np
import pytest
import torch

import tasks
from envs.convert import converter
from tasks.go1_flat import mdp, robot

WORLDS = 4


def _quiet(**overrides):
    """go1-flat without observation noise, pushes or randomization (for comparisons across engines and runs)."""
    events = dataclasses.replace(mdp.EVENTS, pushes=None)
    return dict(
        observations=mdp.POLICY.without_noise(),
        advance=events.advance,
        reset_state=events.reset_state,
        randomization=tasks.spec("cartpole").randomization,
        **overrides,
    )


CONVERGED = partial(robot.model_spec, solver_iterations=(100, 50))


@pytest.fixture(scope="module")
def warp_env():
    return tasks.make("go1-flat", "warp", num_envs=WORLDS, seed=0)


def test_go1_stands_on_its_default_pose_and_the_task_state_is_per_world(warp_env):
    env = warp_env
    obs, _ = env.reset(seed=1)
    assert obs.shape == (WORLDS, mdp.POLICY.size)
    command = env._task_state["command"].clone()
    assert (command.abs().max(-1).values > 0).sum() >= 2  # drawn per world (a standing world has zeros)
    for _ in range(50):  # 1 s of holding the default pose
        obs, reward, terminated, truncated, info = env.step(torch.zeros((WORLDS, 12)))
    assert not terminated.any() and not truncated.any()
    height = env._qpos[:, 2]
    assert ((height > 0.2) & (height < 0.3)).all(), height
    assert set(info["log"]) >= {f"reward/{name}" for name in mdp.REWARDS.weights()} | {"termination/fallen"}
    # the last action reaches the task state; joint targets are the default pose plus scale * action
    action = torch.full((WORLDS, 12), 0.4)
    env.step(action)
    torch.testing.assert_close(env._task_state["last_action"], action)
    torch.testing.assert_close(env._ctrl, torch.tensor(mdp.EVENTS.layout.default_pose) + mdp.ACTION_SCALE * action)


def test_a_world_that_falls_is_reset_with_fresh_task_state(warp_env):
    env = warp_env
    env.reset(seed=2)
    qpos, qvel = env._qpos.cpu().numpy().copy(), env._qvel.cpu().numpy().copy()
    qpos[0, 3:7] = [0.0, 1.0, 0.0, 0.0]  # world 0 upside down
    env.set_state(qpos, qvel, {"last_action": np.ones((WORLDS, 12), np.float32)})
    _, _, terminated, _, info = env.step(torch.zeros((WORLDS, 12)))
    assert terminated.tolist() == [True, False, False, False]
    assert float(info["log"]["termination/fallen"]) == pytest.approx(0.25)
    # reset world 0 forgets the last action; the others remember this step's (zero) action
    np.testing.assert_array_equal(env._task_state["last_action"].numpy(), 0.0)
    assert env._qpos[0, 3] > 0.99 or abs(float(env._qpos[0, 6])) > 0  # upright again (a yaw-only quaternion)
    np.testing.assert_allclose(env._qpos[0, 4:6].numpy(), 0.0)


def test_a_checkpoint_restores_the_task_state_and_the_run_continues_identically(warp_env):
    env = warp_env
    env.reset(seed=3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(10):
        env.step(torch.randn((WORLDS, 12), generator=generator) * 0.3)
    saved = env.state_dict()
    assert {"task.command", "task.air_time", "task.push_timer", "task.action"} <= set(saved)
    actions = [torch.randn((WORLDS, 12), generator=generator) * 0.3 for _ in range(5)]
    first = [env.step(a)[:2] for a in actions]
    env.reset(seed=99)  # elsewhere entirely
    env.load_state_dict(saved)
    second = [env.step(a)[:2] for a in actions]
    for (obs_a, reward_a), (obs_b, reward_b) in zip(first, second):
        torch.testing.assert_close(obs_a, obs_b)
        torch.testing.assert_close(reward_a, reward_b)


def test_feet_and_trunk_contacts_come_from_contact_forces(warp_env):
    from tasks.locomotion import terms

    env = warp_env
    env.reset(seed=5)
    for _ in range(25):  # standing on the default pose
        env.step(torch.zeros((WORLDS, 12)))
    forces = terms.foot_contact_forces(torch, env._state(), mdp.LAYOUT)
    assert (forces > 1.0).all() and (env._task_state["contact"] == 1).all()
    weight = float(env._body_mass[0].sum()) * 9.81  # the four feet carry the robot (it settles: within 25 %)
    assert forces.sum(-1).mean() == pytest.approx(weight, rel=0.25)
    qpos, qvel = env._qpos.cpu().numpy().copy(), env._qvel.cpu().numpy().copy()
    qpos[0, 2], qpos[0, 3:7] = 0.04, [0.0, 1.0, 0.0, 0.0]  # world 0 on its back, the trunk pressing on the floor
    env.set_state(qpos, qvel)
    _, _, terminated, _, info = env.step(torch.zeros((WORLDS, 12)))
    assert terminated.tolist() == [True, False, False, False]
    assert float(info["log"]["termination/illegal_contact"]) == pytest.approx(0.25)


def test_the_critic_group_is_noise_free_and_privileged(warp_env):
    env = warp_env
    obs, info = env.reset(seed=4)
    states = info["states"]
    assert states.shape == (WORLDS, mdp.CRITIC.size) and env.single_state_space.shape == (mdp.CRITIC.size,)
    obs, _, _, _, info = env.step(torch.zeros((WORLDS, 12)))
    states = info["states"]
    # the policy's terms come first, without noise: the base's angular velocity exactly, where the policy's is noisy
    torch.testing.assert_close(states[:, 3:6], env._qvel[:, 3:6])
    assert (obs[:, 3:6] - env._qvel[:, 3:6]).abs().max() > 1e-3
    layout = {term["name"]: term for term in mdp.CRITIC.layout()}
    height, feet, mass = (layout[name]["start"] for name in ("base_height", "feet_contact", "base_mass"))
    torch.testing.assert_close(states[:, height], env._qpos[:, 2])
    torch.testing.assert_close(states[:, feet : feet + 4], env._task_state["contact"])
    torch.testing.assert_close(states[:, mass], env._body_mass[:, 1] * 0.2)  # each world's randomized trunk mass
    assert states[:, mass].std() > 0
    _assert_the_feet_friction_is_what_the_contacts_use(env, states[:, layout["foot_friction"]["start"] :][:, :4])


def _assert_the_feet_friction_is_what_the_contacts_use(env, friction):
    """The critic's foot friction is each world's randomized one (0.8 x [0.6, 1.25]), and it is the sliding friction
    MuJoCo Warp gives every contact of that foot with the floor."""
    assert friction.shape == (WORLDS, 4) and friction.std() > 0
    assert ((friction >= 0.8 * 0.6 - 1e-6) & (friction <= 0.8 * 1.25 + 1e-6)).all()
    for _ in range(3):
        env.step(torch.zeros((WORLDS, 12)))
    contact, count = env._data.contact, int(env._data.nacon.numpy()[0])
    geoms, worlds = contact.geom.numpy()[:count], contact.worldid.numpy()[:count]
    used = contact.friction.numpy()[:count, 0]
    checked = 0
    for foot, geom in enumerate(mdp.LAYOUT.foot_friction_geoms):
        for index in np.flatnonzero((geoms == geom).any(-1) & (geoms == 0).any(-1)):  # foot against floor (geom 0)
            assert used[index] == pytest.approx(float(friction[worlds[index], foot]), rel=1e-6)
            checked += 1
    assert checked >= WORLDS * 2  # the robots stand: their feet touch the floor


@pytest.mark.slow
@pytest.mark.long  # MJX compiles go1-flat's step for 5 minutes on this CPU, then 8 minutes of parity
def test_warp_and_mjx_agree_step_by_step():
    envs_ = {
        backend: tasks.make("go1-flat", backend, num_envs=WORLDS, seed=0, **_quiet(model_spec=CONVERGED))
        for backend in ("warp", "mjx")
    }
    numpy = {backend: converter(env.framework, "numpy") for backend, env in envs_.items()}
    to_env = {backend: converter("numpy", env.framework) for backend, env in envs_.items()}
    warp = envs_["warp"]
    warp.reset(seed=0)
    rng = np.random.default_rng(0)
    for step in range(20):
        state = warp.state_dict()
        task_state = {name[len("task.") :]: value for name, value in state.items() if name.startswith("task.")}
        action = rng.normal(0.0, 0.5, (WORLDS, 12)).astype(np.float32)
        out = {}
        for backend, env in envs_.items():
            env.set_state(state["qpos"], state["qvel"], task_state)
            obs, reward, terminated, truncated, info = env.step(to_env[backend](action))
            out[backend] = [numpy[backend](x) for x in (info["final_obs"], reward, terminated)]
        np.testing.assert_allclose(out["mjx"][0], out["warp"][0], atol=2e-2, rtol=1e-2, err_msg=f"step {step}")
        np.testing.assert_allclose(out["mjx"][1], out["warp"][1], atol=1e-3, err_msg=f"step {step}")
        np.testing.assert_array_equal(out["mjx"][2], out["warp"][2])
