"""PPO with each task's default agent configuration learns gymnasium's tasks on our engines (slow)."""

import pytest

import envs
import tasks
from toolkit.torch import Runner


def _train(task, backend, num_envs, tmp_path, timesteps, threshold):
    env = envs.wrap_env(tasks.make(task, backend, num_envs=num_envs, seed=0), "torch")
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec(task).agent_cfg))
    cfg["agent"]["experiment"].update(directory=str(tmp_path), checkpoint_interval=0)
    cfg["trainer"].update(timesteps=timesteps, disable_progressbar=True, headless=True)
    runner = Runner(env, cfg)
    return runner.run("train", stop=lambda stats: stats.mean_return is not None and stats.mean_return >= threshold)


@pytest.mark.slow
def test_ppo_balances_the_inverted_pendulum_for_the_whole_episode(tmp_path):
    """Return 1000: the pole never falls in 1000 steps (it learns that in a few hundred steps; the rest is the
    1000-step episodes that prove it)."""
    stats = _train("inverted-pendulum", "warp", 64, tmp_path, timesteps=2000, threshold=1000.0)
    assert stats.mean_return >= 1000.0, f"mean return {stats.mean_return} after {stats.env_steps} env steps"


@pytest.mark.slow
@pytest.mark.long  # 7 minutes on the 2-core CPU: run by hand, not in CI
def test_ppo_hopper_passes_1000(tmp_path):
    """About 600k env steps: 7 minutes on a 2-core CPU, where MuJoCo Warp steps 256 hoppers at ~1,500 env-steps/s."""
    stats = _train("hopper", "warp", 256, tmp_path, timesteps=4000, threshold=1000.0)
    assert stats.mean_return >= 1000.0, f"mean return {stats.mean_return} after {stats.env_steps} env steps"
