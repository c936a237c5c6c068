"""Both engines run the same MJCF and MDP terms: equal to each other and to plain mujoco.mj_step."""

import mujoco
import numpy as np
import pytest
import torch

import envs
import tasks
from envs.task import MdpState
from tasks.cartpole import mdp

from .conftest import PARITY_EPISODE_STEPS, PARITY_WORLDS


def _initial_state():
    rng = np.random.default_rng(0)
    qpos = rng.uniform(-0.05, 0.05, (PARITY_WORLDS, 2))
    qvel = rng.uniform(-0.05, 0.05, (PARITY_WORLDS, 2))
    return qpos, qvel


def _actions(steps):
    t = np.arange(steps)[:, None]
    actions = 0.3 * np.sin(0.3 * t + np.arange(PARITY_WORLDS)[None, :])
    actions[:, -1] = 1.5  # the last world is pushed hard (beyond the clip bound) until its pole falls
    return actions[..., None].astype(np.float32)


def _mujoco_reference(qpos0, qvel0, actions):
    """Plain MuJoCo on the CPU, in float64, world by world."""
    model = mujoco.MjModel.from_xml_path(str(tasks.spec("cartpole").mjcf))
    out = []
    for world in range(PARITY_WORLDS):
        data = mujoco.MjData(model)
        data.qpos[:], data.qvel[:] = qpos0[world], qvel0[world]
        rows = []
        for action in actions[:, world]:
            data.ctrl[:] = np.clip(action, -1, 1)
            mujoco.mj_step(model, data)
            state = MdpState(data.qpos[None].copy(), data.qvel[None].copy(), None, None, None, None, model.opt.timestep)
            rows.append(
                (mdp.observations(np, state)[0], mdp.reward(np, state)["alive"][0], mdp.terminated(np, state)[0])
            )
        out.append(rows)
    return out


def _run(env, qpos0, qvel0, actions):
    env = envs.wrap_env(env, "torch")
    env.reset()  # the shared env may have been stepped by other tests: episode counters start at 0
    env.unwrapped.set_state(qpos0, qvel0)
    rows = []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(torch.as_tensor(action))
        rows.append(
            (
                info["final_obs"].numpy().copy(),
                reward.numpy().copy(),
                terminated.numpy().copy(),
                truncated.numpy().copy(),
                obs.numpy().copy(),
                info["_episode"].numpy().copy(),
            )
        )
    return rows


@pytest.fixture(scope="module")
def parity_runs(small_envs):
    qpos0, qvel0 = _initial_state()
    actions = _actions(PARITY_EPISODE_STEPS)
    return {
        "mujoco": _mujoco_reference(qpos0, qvel0, actions),
        **{backend: _run(env, qpos0, qvel0, actions) for backend, env in small_envs.items()},
    }


@pytest.mark.parametrize("backend", envs.BACKENDS)
def test_engine_matches_plain_mujoco_until_each_world_ends(parity_runs, backend):
    reference, run = parity_runs["mujoco"], parity_runs[backend]
    for world in range(PARITY_WORLDS):
        for step, (ref_obs, ref_reward, ref_terminated) in enumerate(reference[world]):
            final_obs, reward, terminated, _, _, _ = run[step]
            np.testing.assert_allclose(final_obs[world], ref_obs, atol=2e-4, err_msg=f"world {world} step {step}")
            assert reward[world] == ref_reward and terminated[world] == ref_terminated, (world, step)
            if ref_terminated:
                break
    # the pushed world did fall, so the test covered a termination
    assert any(row[2] for row in reference[-1])


def test_engines_agree_with_each_other(parity_runs):
    ended = np.zeros(PARITY_WORLDS, bool)  # after its first episode a world restarts from engine-specific noise
    for (w_final, w_reward, w_term, w_trunc, *_), (m_final, m_reward, m_term, m_trunc, *_) in zip(
        parity_runs["warp"], parity_runs["mjx"]
    ):
        np.testing.assert_allclose(w_final[~ended], m_final[~ended], atol=2e-4)
        np.testing.assert_array_equal(w_reward[~ended], m_reward[~ended])
        np.testing.assert_array_equal(w_term[~ended], m_term[~ended])
        np.testing.assert_array_equal(w_trunc[~ended], m_trunc[~ended])
        ended |= w_term | w_trunc


@pytest.mark.parametrize("backend", envs.BACKENDS)
def test_finished_worlds_reset_in_the_same_step_and_report_their_episode(small_envs, backend):
    env = envs.wrap_env(small_envs[backend], "torch")

    env.reset(seed=1)
    pushed = torch.ones(PARITY_WORLDS, 1)
    lengths = torch.zeros(PARITY_WORLDS, dtype=torch.int64)
    saw_termination = saw_truncation = False
    for _ in range(2 * PARITY_EPISODE_STEPS):
        actions = torch.zeros(PARITY_WORLDS, 1)
        actions[0] = pushed[0]  # world 0 falls; the others balance passively long enough to time out
        obs, reward, terminated, truncated, info = env.step(actions)
        lengths += 1
        done = terminated | truncated
        assert torch.equal(info["_episode"], done)
        assert not torch.any(terminated & truncated)
        if done.any():
            assert torch.equal(info["episode"]["l"][done].long(), lengths[done])
            # the returned observations are fresh resets, the final ones are not
            assert torch.all(obs[done].abs() <= 0.05 + 1e-6)
            saw_termination |= bool(terminated.any())
            saw_truncation |= bool(truncated.any())
            assert torch.all(truncated <= (lengths == PARITY_EPISODE_STEPS))
        lengths[done] = 0
    assert saw_termination and saw_truncation


@pytest.mark.parametrize("backend", envs.BACKENDS)
def test_wrong_action_shape_is_a_one_line_error(small_envs, backend):

    env = envs.wrap_env(small_envs[backend], "torch")
    with pytest.raises(ValueError, match=r"actions: shape \(4, 2\) is not allowed; expected \(4, 1\)"):
        env.step(torch.zeros(PARITY_WORLDS, 2))


def test_unknown_task_backend_and_world_count_are_one_line_errors():
    with pytest.raises(ValueError, match="task: 'nope' is not registered; choose one of .*cartpole"):
        tasks.make("nope")
    with pytest.raises(ValueError, match="backend: 'physx' is not allowed; choose one of warp, mjx"):
        tasks.make("cartpole", "physx")
    with pytest.raises(ValueError, match="num_envs: 0 is not allowed; must be a positive integer"):
        tasks.make("cartpole", "warp", num_envs=0)
    with pytest.raises(ValueError, match="override: 'gravity' is not a task field"):
        tasks.make("cartpole", "warp", gravity=1)
