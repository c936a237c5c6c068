"""Per-world task state, on the simplest task: cartpole with a step counter and the last action as task state.
It advances each step, resets with its world, is checkpointed and restored, and the compiled MJX training loop
carries it through its scan exactly as the step-by-step path does."""

import numpy as np
import pytest

import envs
import tasks
from envs.convert import converter
from toolkit.jax import Runner

from .test_compiled import _cfg

WORLDS = 4
EPISODE = 10  # 24 training steps end mid-episode


def _advance(xp, s):
    return {"steps": s.task_before["steps"] + 1, "last_action": s.action}, None


def _counting_cartpole(backend):
    """The counter starts at zero (no reset_state), so it must equal the episode length of every world."""
    return tasks.make(
        "cartpole",
        backend,
        num_envs=WORLDS,
        seed=0,
        max_episode_steps=EPISODE,
        task_state={"steps": (1,), "last_action": (1,)},
        advance=_advance,
    )


def _task_state(env) -> dict:
    raw = getattr(env, "unwrapped", env)
    state = raw.state.task_state if raw.framework == "jax" else raw._task_state
    return {name: np.asarray(value) for name, value in state.items()}


def _episode_length(env) -> np.ndarray:
    raw = getattr(env, "unwrapped", env)
    return np.asarray(raw.state.episode_length if raw.framework == "jax" else raw._episode_length)


@pytest.mark.parametrize("backend", envs.BACKENDS)
def test_task_state_advances_resets_with_its_world_and_survives_a_checkpoint(backend):
    env = _counting_cartpole(backend)
    to_env, to_numpy = converter("numpy", env.framework), converter(env.framework, "numpy")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    ended = np.zeros(WORLDS, bool)
    for _ in range(2 * EPISODE):
        action = rng.uniform(-1, 1, (WORLDS, 1)).astype(np.float32)
        _, _, terminated, truncated, _ = env.step(to_env(action))
        done = to_numpy(terminated) | to_numpy(truncated)
        ended |= done
        state = _task_state(env)
        np.testing.assert_array_equal(state["steps"][:, 0], _episode_length(env))
        np.testing.assert_allclose(state["last_action"][~done], np.clip(action, -1, 1)[~done])
        np.testing.assert_array_equal(state["last_action"][done], 0.0)  # reset worlds start from zeros
    assert ended.all()
    saved = env.state_dict()
    np.testing.assert_array_equal(saved["task.steps"][:, 0], _episode_length(env))
    env.reset(seed=5)
    env.step(to_env(np.zeros((WORLDS, 1), np.float32)))
    env.load_state_dict(saved)
    np.testing.assert_array_equal(_task_state(env)["steps"], saved["task.steps"])
    np.testing.assert_array_equal(_task_state(env)["last_action"], saved["task.last_action"])


def test_the_compiled_mjx_loop_carries_the_task_state(tmp_path):
    env = envs.wrap_env(_counting_cartpole("mjx"), "jax")
    runner = Runner(env, _cfg(tmp_path, compiled=True))
    runner.run("train")
    assert runner.trainer.compiled_loop is not None
    state = _task_state(env)
    assert state["steps"].max() > 0
    np.testing.assert_array_equal(state["steps"][:, 0], _episode_length(env))
