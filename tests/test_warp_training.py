"""The Warp agent learns on MuJoCo Warp with each task's default agent configuration (`long`: minutes on 2 CPU
cores, where the Warp agent's dense kernels are its bottleneck; run by hand: python -m pytest -q -m long)."""

import pytest

import envs
import tasks
from toolkit.warp import Runner


def _train(task, num_envs, tmp_path, timesteps, threshold, seed=0):
    env = envs.wrap_env(
        tasks.make(task, "warp", num_envs=num_envs, seed=seed), "torch"
    )  # the Warp agent views its tensors
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec(task).agent_cfg))
    cfg["seed"] = seed
    cfg["agent"]["experiment"].update(directory=str(tmp_path), checkpoint_interval=0)
    cfg["trainer"].update(timesteps=timesteps, disable_progressbar=True, headless=True)
    runner = Runner(env, cfg)
    return runner.run("train", stop=lambda stats: stats.mean_return is not None and stats.mean_return >= threshold)


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.parametrize("seed", range(5))
def test_warp_agent_solves_cartpole_on_mujoco_warp(tmp_path, seed):
    """256 worlds, every seed of 0-4 (the issue's bar), with the default graph capture: seed 0 solved after 864
    timesteps (87-160 s on the shared 2-core CPU)."""
    stats = _train("cartpole", 256, tmp_path, timesteps=3000, threshold=475.0, seed=seed)
    assert stats.mean_return >= 475.0, f"mean return {stats.mean_return} after {stats.env_steps} env steps"


@pytest.mark.slow
@pytest.mark.long
def test_warp_agent_balances_the_inverted_pendulum_for_the_whole_episode(tmp_path):
    """Return 1000 (the pole never falls in 1000 steps): ~300 s on the shared 2-core CPU."""
    stats = _train("inverted-pendulum", 64, tmp_path, timesteps=2000, threshold=1000.0)
    assert stats.mean_return >= 1000.0, f"mean return {stats.mean_return} after {stats.env_steps} env steps"
