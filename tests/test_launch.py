"""launch/train.py and launch/bench.py from the command line, as users and cluster jobs call them."""

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
import yaml

import envs
from tests.launch_scripts import run_launch_script

ROOT = Path(__file__).resolve().parents[1]


def test_train_writes_a_run_and_ends_with_one_json_line(tmp_path):
    result = run_launch_script(
        "train",
        "--task",
        "cartpole",
        "--backend",
        "warp",
        "--num-envs",
        "64",
        "--timesteps",
        "48",
        "--headless",
        "--no-stop-when-solved",
        "--runs-dir",
        str(tmp_path / "runs"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) == {
        "task",
        "backend",
        "framework",
        "num_envs",
        "env_steps",
        "wall_s",
        "env_steps_per_s",
        "mean_return",
        "solved",
        "preempted",
        "run_dir",
    }
    assert summary["env_steps"] == 48 * 64 and summary["num_envs"] == 64 and summary["solved"] is False
    run_dir = Path(summary["run_dir"])
    assert run_dir.parent == tmp_path / "runs" / "cartpole"
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["trainer"]["timesteps"] == 48 and config["seed"] == 42
    assert (
        config["agent"]["learning_starts"] == 0
        and config["agent"]["observation_preprocessor"] == "RunningStandardScaler"
    )
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["timestep"] for m in metrics] == [16, 32, 48]
    assert (run_dir / "checkpoints" / "last.pt").stat().st_size > 0


def test_dotted_flags_override_the_agent_configuration(tmp_path):
    result = run_launch_script(
        "train",
        "--num-envs",
        "8",
        "--timesteps",
        "16",
        "--headless",
        "--no-stop-when-solved",
        "--runs-dir",
        str(tmp_path),
        "--agent.learning_rate",
        "5e-4",
        "--models.policy.hiddens=[16,16]",
        "--agent.experiment.write_interval",
        "8",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = Path(json.loads(result.stdout.strip().splitlines()[-1])["run_dir"])
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["agent"]["learning_rate"] == 5e-4 and config["models"]["policy"]["hiddens"] == [16, 16]
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "walker"], "error: task: 'walker' is not registered; choose one of ant, cartpole, cartpole-pomdp"),
        (["--backend", "physx"], "error: --backend: 'physx' is not allowed; choose one of warp, mjx"),
        (["--num-envs", "0"], "error: --num-envs: 0 is not allowed; must be a positive integer"),
        (["--agent.learning_rat", "1e-3"], "error: agent.learning_rat: unknown key; allowed: experiment, rollouts, "),
        (["--agent.rollouts", "many"], "error: agent.rollouts: 'many' is not allowed; expected int"),
        (["--lr", "1e-3"], "error: --lr: unknown flag; see --help"),
        (
            ["--backend", "mjx", "--jax-cache-dir", "/proc/simtrain-jax"],
            "error: --jax-cache-dir: '/proc/simtrain-jax' is not allowed; ",
        ),
    ],
)
def test_train_bad_input_is_a_one_line_error(tmp_path, args, message):
    result = run_launch_script("train", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message) and "\n" not in result.stderr.strip()
    assert not (tmp_path / "runs").exists()


def test_wandb_without_a_key_logs_offline_and_tensorboard_gets_the_same_metrics(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_MODE", "WANDB_API_KEY")}
    result = run_launch_script(
        "train",
        "--num-envs",
        "16",
        "--timesteps",
        "48",
        "--headless",
        "--no-stop-when-solved",
        "--runs-dir",
        str(tmp_path),
        "--wandb",
        "--tensorboard",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = Path(json.loads(result.stdout.strip().splitlines()[-1])["run_dir"])
    [record_file] = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    records = record_file.read_bytes()
    assert records.count(b"Loss / Policy loss") >= 3 and records.count(b"mean_return") >= 3  # one per report

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert [event.step for event in events.Scalars("mean_return")] == [16, 32, 48]
    assert "Loss / Value loss" in events.Tags()["scalars"]


def test_bench_prints_one_json_row_per_backend(tmp_path):
    result = run_launch_script(
        "bench",
        "--backend",
        "warp",
        "mjx",
        "--num-envs",
        "16",
        "--sim-steps",
        "20",
        "--train-timesteps",
        "16",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [row["backend"] for row in rows] == ["warp", "mjx"]
    for row in rows:
        assert row["sim_env_steps_per_s"] > 0 and row["train_env_steps_per_s"] > 0
        assert row["train_over_sim"] == pytest.approx(
            row["train_env_steps_per_s"] / row["sim_env_steps_per_s"], abs=2e-3
        )


def test_mjx_trains_with_the_jax_agent_by_default_and_play_reads_its_run(tmp_path, monkeypatch):
    cache = tmp_path / "jax-cache"
    result = run_launch_script(
        "train",
        "--backend",
        "mjx",
        "--num-envs",
        "16",
        "--timesteps",
        "32",
        "--headless",
        "--no-stop-when-solved",
        "--runs-dir",
        str(tmp_path),
        "--jax-cache-dir",
        str(cache),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["framework"] == "jax" and summary["env_steps"] == 32 * 16
    # JAX's persistent compilation cache holds the MJX step, for the next process (a rerun, a resume, play.py)
    kept = {path.name for path in cache.iterdir()}
    assert any(name.startswith("jit_functional_step-") for name in kept), sorted(kept)
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(cache))  # JAX's own switch, which None overrides too
    played = run_launch_script(
        "play",
        "--run",
        summary["run_dir"],
        "--checkpoint",
        "last",
        "--episodes",
        "2",
        "--num-envs",
        "2",
        "--jax-cache-dir",
        "None",
        cwd=tmp_path,
    )
    assert played.returncode == 0, played.stderr[-2000:]
    assert json.loads(played.stdout.strip().splitlines()[-1])["episodes"] >= 2
    assert {path.name for path in cache.iterdir()} == kept, (
        "--jax-cache-dir None: nothing cached (2 worlds: new programs)"
    )


def test_randomization_flags_reach_the_env_and_a_resumed_run_keeps_them(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "launch" / "train.py")
    train_script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "train_script", train_script)
    spec.loader.exec_module(train_script)
    made = []
    make = train_script.tasks.make
    monkeypatch.setattr(
        train_script.tasks,
        "make",
        lambda *args, **kwargs: made.append(kwargs["config"].randomization) or make(*args, **kwargs),
    )
    randomization = envs.Randomization(mass=(0.5, 2.0), friction=(0.8, 1.2))
    # the older spelling --randomization.* is --env.randomization.*
    args, overrides = train_script.parse(
        ["--num-envs", "8", "--timesteps", "16", "--headless", "--no-stop-when-solved", "--runs-dir", str(tmp_path),
         "--randomization.mass", "0.5", "2.0", "--env.randomization.friction", "0.8", "1.2",
         "--agent.experiment.write_interval", "8"]
    )  # fmt: skip
    assert args.env.randomization == randomization
    first = train_script.train(args, overrides)
    launch = yaml.safe_load((Path(first["run_dir"]) / "launch.yaml").read_text())
    assert launch["env"]["randomization"] == {
        "mass": [0.5, 2.0],
        "friction": [0.8, 1.2],
        "pair_friction": None,
        "actuator_gain": None,
    }
    resumed = train_script.train(train_script.TrainArgs(resume=first["run_dir"], timesteps=32, headless=True))
    assert made == [randomization, randomization] and resumed["env_steps"] == 32 * 8
