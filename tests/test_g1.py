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
from tasks.g1_flat import mdp, robot

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
    qpos, qvel = env._qpos.numpy().copy(), env._qvel.numpy().copy()
    qpos[1, 3:7] = [0.0, 1.0, 0.0, 0.0]  # world 1 upside down
    env.set_state(qpos, qvel)
    _, _, terminated, _, info = env.step(torch.zeros((WORLDS, 29)))
    assert terminated.tolist() == [False, True, False, False]
    assert abs(float(env._qpos[1, 2]) - mdp.EVENTS.layout.base_height) < 1e-6  # reset: standing height, upright
    np.testing.assert_allclose(env._qpos[1, 4:6].numpy(), 0.0)
    np.testing.assert_array_equal(env._task_state["last_action"][1].numpy(), 0.0)
    env.check_finite()


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
