"""`train.py --framework warp`: the Warp agent through the launch scripts (run folder, .npz checkpoints, SIGTERM and
resume, play.py, bench.py), and what it does not do refused in one line before any world is built."""

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.launch_scripts import load_launch_script, run_launch_script, start_launch_script

WARP_AGENT = ("--framework", "warp", "--headless", "--no-stop-when-solved")


def _launch_module(name: str):
    return load_launch_script(name, f"{name}_warp_under_test")


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--backend", "mjx"],
            "error: --backend: 'mjx' is not allowed with --framework warp (the Warp agent reads MuJoCo Warp's "
            "arrays); use --framework jax (or torch) for --backend mjx",
        ),
        (
            ["--distributed"],
            "error: --framework: 'warp' is not allowed in a distributed run (skrl's Warp PPO is not distributed); "
            "use --framework torch (torchrun)",
        ),
        (
            ["--agent.mixed_precision", "true"],
            "error: agent.mixed_precision: True is not allowed with --framework warp (skrl's "
            "Warp PPO has no mixed precision); use --framework torch (or jax) for it",
        ),
        (
            ["--task", "cartpole-pomdp"],
            "error: agent.class: 'PPO_RNN' is not allowed with --framework warp (PPO only, no RNN); "
            "use --framework torch (or jax) for it",
        ),
        (
            ["--task", "go1-flat"],
            "error: --framework: 'warp' is not allowed for go1-flat (its critic reads privileged states, "
            "which the Warp agent does not take); use --framework torch (or jax)",
        ),
    ],
)
def test_what_the_warp_agent_lacks_is_a_one_line_error_before_any_world(tmp_path, args, message, monkeypatch, capsys):
    train = _launch_module("train")
    monkeypatch.setattr(train.tasks, "make", lambda *a, **k: pytest.fail("a world was built"))
    parsed = train.tyro.cli(
        train.with_override_flags(train.TrainArgs),
        args=["--framework", "warp", "--runs-dir", str(tmp_path / "runs"), *args],
    )
    launch_args, overrides = train.split_overrides(parsed, train.TrainArgs)
    with pytest.raises(SystemExit) as exit_info:
        train.run_main("train", lambda: train.train(launch_args, overrides))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == message  # one line, the CLI's
    assert not (tmp_path / "runs").exists()  # no run folder claimed


def _metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _timestep(path: Path) -> int:
    with np.load(path, allow_pickle=False) as data:  # an .npz: no pickle needed to read it
        return int(data["extra/timestep"])


def test_warp_agent_trains_checkpoints_on_sigterm_resumes_and_plays(tmp_path):
    process = start_launch_script(
        "train",
        *WARP_AGENT,
        "--num-envs",
        "32",
        "--timesteps",
        "1000000",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--agent.experiment.write_interval",
        "16",
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 300
    run_dir = None
    while time.monotonic() < deadline:
        found = list((tmp_path / "runs" / "cartpole").glob("*")) if (tmp_path / "runs" / "cartpole").exists() else []
        if found and len(_metrics(found[0])) >= 2:
            run_dir = found[0]
            break
        assert process.poll() is None, process.communicate()[1][-3000:]
        time.sleep(0.2)
    assert run_dir is not None, "no metrics within 300 s"
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["framework"] == "warp" and summary["preempted"] is True
    stopped_at = _timestep(run_dir / "checkpoints" / "last.pt")
    assert stopped_at >= 32 and stopped_at % 16 == 0  # an update boundary
    assert (run_dir / "checkpoints" / "best.pt").exists()
    assert any("Loss / Policy loss" in agent for m in _metrics(run_dir) for agent in m["agents"])

    resumed = run_launch_script(
        "train", *WARP_AGENT, "--resume", str(run_dir), "--timesteps", str(stopped_at + 32), cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["preempted"] is False
    assert [m["timestep"] for m in _metrics(run_dir)][-2:] == [stopped_at + 16, stopped_at + 32]
    assert _timestep(run_dir / "checkpoints" / "last.pt") == stopped_at + 32

    played = run_launch_script("play", "--run", str(run_dir), "--episodes", "2", "--num-envs", "2", cwd=tmp_path)
    assert played.returncode == 0, played.stderr[-3000:]
    assert json.loads(played.stdout.strip().splitlines()[-1])["episodes"] >= 2


def test_bench_compares_the_torch_and_warp_agents_in_one_run(tmp_path):
    result = run_launch_script(
        "bench",
        "--backend",
        "warp",
        "--framework",
        "torch",
        "warp",
        "--graph-capture",
        "True",
        "False",
        "--num-envs",
        "16",
        "--sim-steps",
        "20",
        "--train-timesteps",
        "16",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(row["framework"], row.get("graph_capture")) for row in rows] == [
        ("torch", None),
        ("warp", True),
        ("warp", False),
    ]
    assert all(row["train_env_steps_per_s"] > 0 for row in rows)


def test_train_export_writes_the_warp_agents_onnx_policy(tmp_path):
    result = run_launch_script(
        "train",
        *WARP_AGENT,
        "--num-envs",
        "8",
        "--timesteps",
        "32",
        "--torch-threads",
        "1",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--export",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    (files,) = summary["exported"]
    folder = Path(summary["run_dir"]) / "exported"
    assert files == {"onnx": str(folder / "policy.onnx"), "json": str(folder / "policy.json")}
    metadata = json.loads(Path(files["json"]).read_text())
    assert metadata["framework"] == "warp" and metadata["task"] == "cartpole" and metadata["preprocessor"]["count"] > 1
    import onnxruntime

    session = onnxruntime.InferenceSession(files["onnx"], providers=["CPUExecutionProvider"])
    actions = session.run(None, {"obs": np.zeros((3, 4), np.float32)})[0]
    assert actions.shape == (3, 1) and np.isfinite(actions).all()
