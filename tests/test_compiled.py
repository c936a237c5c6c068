"""The compiled MJX + JAX path: one program per rollout and one per update, the same results as the step-by-step
path, and K seeds vmapped into one program with K separately logged runs."""

import json
import os

import jax
import numpy as np
import pytest

import envs
import tasks
from tests.launch_scripts import run_launch_script
from toolkit.config import ConfigError
from toolkit.jax import Runner


def _cfg(tmp_path, task="cartpole", **trainer):
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec(task).agent_cfg))
    cfg["seed"] = 3
    cfg["agent"].update(rollouts=8)
    if cfg["agent"]["class"] == "PPO_RNN":
        cfg["models"]["policy"]["rnn"]["sequence_length"] = 4
    cfg["agent"]["experiment"].update(directory=str(tmp_path), checkpoint_interval=0, write_interval=8)
    cfg["trainer"].update(disable_progressbar=True, headless=True, timesteps=24, **trainer)
    return cfg


@pytest.mark.parametrize("agent_cfg_of", ["cartpole", "cartpole-pomdp"], ids=["PPO", "PPO_RNN"])
def test_compiled_and_step_by_step_paths_train_the_same_agent(agent_cfg_of, small_envs, tmp_path):
    """Three iterations from the same seed on the same worlds (episodes of 30 steps, so they end inside rollouts
    and recurrent sequences): same weights, statistics, recurrent states and returns."""
    env = envs.wrap_env(small_envs["mjx"], "jax")
    results = {}
    for compiled in (False, True):
        runner = Runner(env, _cfg(tmp_path / str(compiled), agent_cfg_of, compiled=compiled))
        if compiled:
            calls = []
            original = runner.agent._act
            runner.agent._act = lambda *a, **k: calls.append(1) or original(*a, **k)
        stats = runner.run("train")
        results[compiled] = (runner.agent, stats)
    (step_agent, step_stats), (compiled_agent, compiled_stats) = results[False], results[True]
    assert calls == [], "the compiled path must not act step by step"
    programs = runner.trainer.compiled_loop
    assert programs._rollout._cache_size() == 1 and programs._update._cache_size() == 1, "each program compiles once"
    assert step_stats.timestep == compiled_stats.timestep == 24 and step_stats.episodes == compiled_stats.episodes > 0
    assert compiled_stats.mean_return == pytest.approx(step_stats.mean_return, rel=1e-4)
    assert compiled_stats.log.keys() == step_stats.log.keys() and "reward/alive" in compiled_stats.log
    assert compiled_stats.log["reward/alive"] == pytest.approx(step_stats.log["reward/alive"], rel=1e-4)
    step_state, compiled_state = step_agent.training_state(), compiled_agent.training_state()
    assert step_state.keys() == compiled_state.keys()
    for name in step_state.keys() - {"key"}:
        for a, b in zip(jax.tree.leaves(step_state[name]), jax.tree.leaves(compiled_state[name])):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=1e-5, err_msg=name)
    for tag in ("Loss / Value loss", "Learning / Learning rate"):
        assert compiled_stats.agents[0][tag] == pytest.approx(step_stats.agents[0][tag], rel=1e-3)


def test_compiled_true_where_it_cannot_apply_is_a_one_line_error(small_envs, tmp_path):
    env = envs.wrap_env(small_envs["mjx"], "jax")
    cfg = _cfg(tmp_path, compiled=True)
    cfg["agent"]["random_timesteps"] = 8
    with pytest.raises(ConfigError, match=r"trainer.compiled: True is not allowed; agent.random_timesteps > 0"):
        Runner(env, cfg).run("train")


def test_num_seeds_trains_k_vmapped_agents_each_logged_in_its_own_run_and_resumes(tmp_path):
    completed = run_launch_script(
        "train",
        "--backend",
        "mjx",
        "--num-seeds",
        "2",
        "--seed",
        "5",
        "--num-envs",
        "8",
        "--timesteps",
        "64",
        "--headless",
        "--no-stop-when-solved",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--agent.rollouts",
        "16",
        "--agent.experiment.write_interval",
        "16",
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["num_envs"] == 16 and [entry["seed"] for entry in result["seeds"]] == [5, 6]
    curves = []
    for entry in result["seeds"]:
        folder = entry["run_dir"]
        assert os.path.basename(folder) == f"seed_{entry['seed']}"
        records = [json.loads(line) for line in open(os.path.join(folder, "metrics.jsonl"))]
        assert [record["timestep"] for record in records] == [16, 32, 48, 64]
        assert all(len(record["agents"]) == 1 and record["env_steps"] == record["timestep"] * 8 for record in records)
        curves.append([record["agents"][0]["Loss / Value loss"] for record in records])
        assert os.path.isfile(os.path.join(folder, "checkpoints", "last.pt"))
        assert os.path.isfile(os.path.join(folder, "launch.yaml")) and os.path.isfile(
            os.path.join(folder, "config.yaml")
        )
    assert curves[0] != curves[1], "two seeds must train two different agents"

    resumed = run_launch_script("train", "--resume", result["run_dir"], "--timesteps", "96", "--headless", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["env_steps"] == 96 * 16
    for entry in result["seeds"]:
        records = [json.loads(line) for line in open(os.path.join(entry["run_dir"], "metrics.jsonl"))]
        assert [record["timestep"] for record in records] == [16, 32, 48, 64, 80, 96]
