"""PPO learns: cartpole on each engine and gymnasium's CartPole-v1 reach the solved threshold."""

import gymnasium as gym
import pytest

import envs
import tasks
from toolkit.torch import Runner

SOLVED = tasks.spec("cartpole").solved_return


def _runner(env, tmp_path, seed=0, **agent):
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec("cartpole").agent_cfg))
    cfg["seed"] = seed
    cfg["agent"].update(agent)
    cfg["agent"]["experiment"].update(directory=str(tmp_path), checkpoint_interval=0)
    cfg["trainer"].update(disable_progressbar=True, headless=True)
    return cfg


def _solved(stats):
    return stats.mean_return is not None and stats.mean_return >= SOLVED


@pytest.mark.slow
@pytest.mark.parametrize("backend", envs.BACKENDS)
def test_ppo_solves_cartpole(backend, tmp_path):
    env = envs.wrap_env(tasks.make("cartpole", backend, num_envs=1024, seed=0), "torch")
    runner = Runner(env, _runner(env, tmp_path))
    stats = runner.run("train", stop=_solved)
    assert stats.mean_return >= SOLVED, f"{backend}: mean return {stats.mean_return} after {stats.env_steps} env steps"


@pytest.mark.slow
def test_ppo_solves_gymnasium_cartpole_through_wrap_env(tmp_path):
    vector_env = gym.make_vec(
        "CartPole-v1",
        num_envs=32,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    env = envs.wrap_env(vector_env)
    cfg = _runner(env, tmp_path, rollouts=64)
    cfg["models"]["policy"]["class"] = "CategoricalMixin"
    cfg["trainer"]["timesteps"] = 8000
    runner = Runner(env, cfg)
    stats = runner.run("train", stop=_solved)
    assert stats.mean_return >= SOLVED, f"mean return {stats.mean_return} after {stats.env_steps} env steps"


def test_gymnasium_env_with_next_step_autoreset_is_refused():
    vector_env = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
    with pytest.raises(ValueError, match="autoreset_mode: .*NEXT_STEP.* is not allowed; create the env with"):
        envs.wrap_env(vector_env)
