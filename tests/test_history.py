"""Observation history (TaskSpec.observation_history): the policy sees its last H observations, oldest first; the
history is per world task state, filled with a world's first observation when it resets, written into
checkpoints, and the same on both engines. A history length of 0 is one line before any world is built."""

import numpy as np
import pytest
import torch

import envs
import tasks

HISTORY, WORLDS, EPISODE = 3, 4, 5
OBS = 4  # cartpole's observations


def _blocks(obs):
    obs = np.asarray(obs)
    return [obs[:, k * OBS : (k + 1) * OBS] for k in range(HISTORY)]


@pytest.fixture(scope="module", params=envs.BACKENDS)
def env(request):
    raw = tasks.make(
        "cartpole", request.param, num_envs=WORLDS, seed=0, observation_history=HISTORY, max_episode_steps=EPISODE
    )
    return envs.wrap_env(raw, "torch")


def test_a_history_length_of_0_is_one_line_before_any_world_is_built(monkeypatch):
    def no_world(*args, **kwargs):
        raise AssertionError("a world was built")

    monkeypatch.setattr(envs, "make_engine", no_world)
    with pytest.raises(ValueError, match=r"^observation_history: 0 is not allowed; must be an integer >= 1"):
        tasks.make("cartpole", "warp", num_envs=2, observation_history=0)


def test_the_policy_sees_its_last_observations_oldest_first_and_a_reset_refills_them(env):
    assert env.observation_space.shape == (HISTORY * OBS,)
    obs, _ = env.reset(seed=1)
    first = _blocks(obs)
    for block in first[:-1]:
        np.testing.assert_array_equal(block, first[-1])  # a fresh history is full of the first observation
    previous = obs
    actions = torch.linspace(-1, 1, WORLDS).reshape(WORLDS, 1)
    for step in range(1, EPISODE + 1):
        obs, _, terminated, truncated, info = env.step(actions)
        ended = np.asarray(terminated) | np.asarray(truncated)
        blocks, before = _blocks(obs), _blocks(previous)
        final = _blocks(info["final_obs"])
        for k in range(HISTORY - 1):  # the final observations shift the history by one step in every world
            np.testing.assert_allclose(final[k], before[k + 1], rtol=1e-6, atol=1e-6)
        live = ~ended
        np.testing.assert_allclose(blocks[-1][live], final[-1][live], rtol=1e-6, atol=1e-6)
        for k in range(HISTORY - 1):
            np.testing.assert_allclose(blocks[k][live], before[k + 1][live], rtol=1e-6, atol=1e-6)
            np.testing.assert_array_equal(blocks[k][ended], blocks[-1][ended])  # refilled at the reset
        previous = obs
    assert ended.all()  # the time limit ended every episode: each world's history was refilled


def test_a_checkpoint_restores_the_history(env):
    env.reset(seed=2)
    for _ in range(2):
        obs, *_ = env.step(torch.full((WORLDS, 1), 0.5))
    saved = env.state_dict()
    assert saved["task.obs_history"].shape == (WORLDS, HISTORY, OBS)
    env.step(torch.full((WORLDS, 1), -0.5))
    restored = env.load_state_dict(saved)
    np.testing.assert_allclose(np.asarray(restored), np.asarray(obs), rtol=1e-6, atol=1e-6)
