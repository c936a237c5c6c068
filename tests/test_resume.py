"""Runs that survive: SIGTERM checkpoints and exits cleanly, SIGKILL loses at most one checkpoint interval, and
--resume continues the same run (timestep, worlds, statistics)."""

import json
import signal
import time
from pathlib import Path

import pytest
import torch

from tests.launch_scripts import run_launch_script, start_launch_script

TRAIN = ("--headless", "--no-stop-when-solved")


def _start(tmp_path, *args):
    return start_launch_script("train", *TRAIN, "--runs-dir", str(tmp_path / "runs"), *args, cwd=tmp_path)


def _metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait_for(predicate, process, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        assert process.poll() is None, process.communicate()[1][-3000:]
        time.sleep(0.2)
    process.kill()
    raise AssertionError("timed out")


def _run_dir(tmp_path) -> Path | None:
    dirs = list((tmp_path / "runs" / "cartpole").glob("*")) if (tmp_path / "runs" / "cartpole").exists() else []
    return dirs[0] if dirs else None


def _checkpoint_timestep(path: Path) -> int:
    return int(torch.load(path, weights_only=True)["extra"]["timestep"])


def _resume(run_dir: Path, timesteps: int) -> dict:
    result = run_launch_script("train", *TRAIN, "--resume", str(run_dir), "--timesteps", str(timesteps))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_sigterm_writes_a_checkpoint_and_resume_continues_from_it(tmp_path):
    process = _start(tmp_path, "--num-envs", "64", "--timesteps", "1000000", "--agent.experiment.write_interval", "16")
    run_dir = _wait_for(lambda: (d := _run_dir(tmp_path)) and len(_metrics(d)) >= 2 and d, process)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["preempted"] is True
    stopped_at = _checkpoint_timestep(run_dir / "checkpoints" / "last.pt")
    assert stopped_at >= 32 and stopped_at % 16 == 0  # an update boundary: no half-collected rollout
    assert (run_dir / "checkpoints" / f"agent_{stopped_at}.pt").exists()

    resumed = _resume(run_dir, stopped_at + 32)
    assert resumed["run_dir"] == str(run_dir) and resumed["preempted"] is False
    timesteps = [m["timestep"] for m in _metrics(run_dir)]
    assert timesteps[-2:] == [stopped_at + 16, stopped_at + 32]
    assert _checkpoint_timestep(run_dir / "checkpoints" / "last.pt") == stopped_at + 32


def test_resume_of_a_folder_without_checkpoints_is_a_one_line_error(tmp_path):
    result = run_launch_script("train", *TRAIN, "--resume", str(tmp_path), timeout=120)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: --resume: {tmp_path} has no checkpoints/last.pt; expected a run folder written by launch/train.py"
    )


@pytest.mark.slow
def test_sigkill_loses_at_most_one_interval_and_the_return_does_not_drop_after_resume(tmp_path):
    interval = 64
    process = _start(
        tmp_path, "--num-envs", "1024", "--timesteps", "4000", "--agent.experiment.checkpoint_interval", str(interval)
    )

    def trained_checkpoint():
        run_dir = _run_dir(tmp_path)
        if not run_dir or not (run_dir / "checkpoints" / "last.pt").exists():
            return None
        by_step = {m["timestep"]: m for m in _metrics(run_dir)}
        step = _checkpoint_timestep(run_dir / "checkpoints" / "last.pt")
        metrics = by_step.get(step)
        return (run_dir, step, metrics["mean_return"]) if metrics and (metrics["mean_return"] or 0) >= 300 else None

    run_dir, step, return_before = _wait_for(trained_checkpoint, process, timeout=600)
    process.kill()  # SIGKILL: no chance to write anything
    process.wait()
    last = _checkpoint_timestep(run_dir / "checkpoints" / "last.pt")
    progress = max(m["timestep"] for m in _metrics(run_dir))
    assert progress - last <= interval + 16  # lost at most one interval (plus the report in flight)

    _resume(run_dir, last + 48)
    after = [m for m in _metrics(run_dir) if m["timestep"] > last]
    assert [m["timestep"] for m in after][-3:] == [last + 16, last + 32, last + 48]
    returns_after = [m["mean_return"] for m in after[-3:] if m["mean_return"] is not None]
    assert returns_after and min(returns_after) >= 0.8 * return_before, (return_before, returns_after)
