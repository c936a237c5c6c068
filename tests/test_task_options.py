"""Task options on both engines: domain randomization (off: identical worlds; on: worlds differ), per-term reward
logs, Warp buffer overflows as errors, and the tasks' spaces against gymnasium's."""

import gymnasium as gym
import numpy as np
import pytest

import envs
import tasks
from envs.convert import converter

from .conftest import PARITY_WORLDS
from .test_task_parity import CASES

WORLDS = PARITY_WORLDS
RANDOMIZED = {"mass": (0.5, 1.5), "friction": (0.5, 1.5), "actuator_gain": (0.5, 1.5)}


def _same_start_rollout(env, steps=10):
    """Every world from the same state with the same actions; returns the observations, (steps, worlds, obs)."""
    to_numpy, to_env = converter(env.framework, "numpy"), converter("numpy", env.framework)
    env.reset()
    env.set_state(np.tile(env.mj_model.qpos0, (WORLDS, 1)) + 0.01, np.full((WORLDS, env.mj_model.nv), 0.01))
    actions = np.tile(np.linspace(-0.3, 0.3, steps)[:, None, None], (1, WORLDS, env.single_action_space.shape[0]))
    rows = []
    for step in range(steps):
        obs, _, terminated, truncated, _ = env.step(to_env(actions[step].astype(np.float32)))
        assert not (to_numpy(terminated) | to_numpy(truncated)).any()  # no reset: the worlds' own dynamics only
        rows.append(to_numpy(obs))
    return np.stack(rows)


@pytest.mark.parametrize("backend", envs.BACKENDS)
def test_randomization_is_off_by_default_and_worlds_differ_when_on(backend, small_envs):
    observations = _same_start_rollout(small_envs[backend])  # cartpole as registered: no randomization
    np.testing.assert_array_equal(observations, np.broadcast_to(observations[:, :1], observations.shape))

    randomized = tasks.make(
        "cartpole", backend, num_envs=WORLDS, seed=0, max_episode_steps=1000, randomization=RANDOMIZED
    )
    observations = _same_start_rollout(randomized)
    spread = np.abs(observations - observations[:, :1]).max(axis=(0, 2))
    assert (spread[1:] > 1e-5).all(), spread  # every world moved differently from world 0


def test_randomized_model_fields_stay_in_their_ranges_and_are_redrawn_at_reset():
    env = tasks.make("hopper", "warp", num_envs=WORLDS, seed=0, randomization=RANDOMIZED)
    import torch
    import warp as wp

    mass = wp.to_torch(env._model.body_mass)
    friction = wp.to_torch(env._model.geom_friction)[..., 0]
    gain = wp.to_torch(env._model.actuator_gainprm)[..., 0]
    env.reset()
    for value, nominal in (
        (mass, env.mj_model.body_mass),
        (friction, env.mj_model.geom_friction[:, 0]),
        (gain, env.mj_model.actuator_gainprm[:, 0]),
    ):
        ratio = value.numpy() / np.where(nominal == 0, 1, nominal)
        assert value.shape[0] == WORLDS
        assert ((ratio >= 0.5 - 1e-6) & (ratio <= 1.5 + 1e-6) | (nominal == 0)).all()
        assert np.ptp(ratio[:, nominal != 0], axis=0).min() > 0  # the worlds drew different factors
    before = mass.clone()
    env.step(torch.zeros((WORLDS, 3)))
    torch.testing.assert_close(mass, before)  # not redrawn on a step without a reset
    env.reset()
    assert not torch.equal(mass, before)


@pytest.mark.parametrize("backend", envs.BACKENDS)
def test_saved_worlds_continue_with_their_randomized_model(backend):
    """A checkpoint's env state carries each world's drawn masses and gains: a fresh env (other seed, other
    draws) that loads it steps exactly as the saved one."""
    made = [
        tasks.make(
            "cartpole",
            backend,
            num_envs=WORLDS,
            seed=seed,
            randomization={"mass": (0.5, 2.0), "actuator_gain": (0.5, 2.0)},
        )
        for seed in (0, 1)
    ]
    to_numpy, to_env = converter(made[0].framework, "numpy"), converter("numpy", made[0].framework)
    push = to_env(np.full((WORLDS, 1), 0.5, np.float32))
    for env in made:
        env.reset()
    made[0].step(push)
    state = made[0].state_dict()
    made[1].load_state_dict(state)
    first, second = (to_numpy(env.step(push)[0]) for env in made)
    np.testing.assert_allclose(second, first, rtol=1e-6, atol=1e-7)
    # set_state keeps the worlds' models too
    first, second = (
        to_numpy(env.set_state(state["qpos"].reshape(WORLDS, -1), state["qvel"].reshape(WORLDS, -1))) for env in made
    )
    np.testing.assert_allclose(second, first, rtol=1e-6, atol=1e-7)
    first, second = (to_numpy(env.step(push)[0]) for env in made)
    np.testing.assert_allclose(second, first, rtol=1e-6, atol=1e-7)


def test_bad_randomization_is_a_one_line_error():
    with pytest.raises(ValueError, match="randomization.mass"):
        tasks.make("cartpole", "warp", num_envs=2, randomization={"mass": (1.5, 0.5)})


@pytest.mark.parametrize("backend", envs.BACKENDS)
def test_reward_terms_are_logged_and_add_up_to_the_reward(backend, small_envs):
    env = small_envs[backend]
    to_numpy, to_env = converter(env.framework, "numpy"), converter("numpy", env.framework)
    env.reset()
    _, reward, _, _, info = env.step(to_env(np.zeros((WORLDS, 1), np.float32)))
    assert set(info["log"]) == {"reward/alive"}
    assert float(to_numpy(info["log"]["reward/alive"])) == pytest.approx(float(to_numpy(reward).mean()))


def test_warp_buffer_overflow_raises_a_clear_error():
    """Too small a contact buffer must stop training with an error that names the setting, not give physics
    with contacts silently dropped."""
    import torch

    env = tasks.make("hopper", "warp", num_envs=2, seed=0, nconmax=1, njmax=1)
    env.reset()
    for _ in range(30):  # the hopper drops onto the floor within these steps
        env.step(torch.zeros((2, 3)))
    with pytest.raises(envs.SimulationError, match="nconmax"):
        env.check_finite()
    env.check_finite()  # reported once, then cleared


def test_task_spaces_match_gymnasium():
    for task, (gym_id, *_rest) in CASES.items():
        spec = tasks.spec(task)
        reference = gym.make(gym_id)
        assert spec.single_observation_space.shape == reference.observation_space.shape, task
        np.testing.assert_array_equal(spec.single_action_space.low, reference.action_space.low, err_msg=task)
        np.testing.assert_array_equal(spec.single_action_space.high, reference.action_space.high, err_msg=task)
        assert spec.max_episode_steps == reference.spec.max_episode_steps, task
        assert spec.frame_skip == reference.unwrapped.frame_skip, task
        reference.close()


@pytest.mark.parametrize("backend", envs.BACKENDS)
def test_reacher_resets_place_the_goal_as_gymnasium_does(backend):
    """Reacher-v5's reset: arm angles qpos0 + U(-0.1, 0.1), arm velocities U(-0.005, 0.005), the goal uniform in
    the disk of radius 0.2 (gymnasium samples the square and rejects), standing still."""
    worlds = 2048
    env = tasks.make("reacher", backend, num_envs=worlds, seed=0)
    env.reset()
    state = env.state_dict()
    qpos, qvel = state["qpos"].reshape(worlds, -1), state["qvel"].reshape(worlds, -1)
    goal = qpos[:, 2:]
    radius2 = (goal**2).sum(-1)
    assert radius2.max() < 0.2**2 and abs(radius2.mean() - 0.2**2 / 2) < 1e-3  # uniform in the disk: E[r^2] = R^2/2
    assert abs(np.arctan2(goal[:, 1], goal[:, 0]).mean()) < 0.1 and abs(goal.mean(0)).max() < 5e-3
    assert np.abs(qpos[:, :2] - env.mj_model.qpos0[:2]).max() <= 0.1 and np.ptp(qpos[:, :2]) > 0.19
    assert np.abs(qvel[:, :2]).max() <= 0.005 and np.ptp(qvel[:, :2]) > 0.009 and (qvel[:, 2:] == 0).all()
