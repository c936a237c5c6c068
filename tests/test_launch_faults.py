"""launch/train.py, play.py and bench.py given mistakes and faults: one line on stderr, nothing lost, nothing
corrupted, no run folder half-made, and every script stops promptly on SIGTERM / SIGINT."""

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from tests.launch_scripts import load_launch_script, start_launch_script

SMALL = ["--num-envs", "8", "--headless", "--no-stop-when-solved"]


def _load(name: str):
    return load_launch_script(name, f"{name}_under_test")


@pytest.fixture(scope="module")
def train_script():
    return _load("train")


@pytest.fixture(scope="module")
def play_script():
    return _load("play")


def _main(script, monkeypatch, capsys, *argv) -> tuple[int, str, str]:
    """Run a script's main() in this process; returns (exit status, stdout, stderr)."""
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["script.py", *argv])
    try:
        script.main()
        status = 0
    except SystemExit as done:
        status = done.code
    out, err = capsys.readouterr()
    return status, out, err


def _no_worlds(monkeypatch, script):
    def refuse(*args, **kwargs):
        raise AssertionError("a world was built before the input was checked")

    monkeypatch.setattr(script.tasks, "make", refuse)


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and "Warp CUDA warning" not in line]
    assert len(lines) == 1, err
    return lines[0]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _finite_checkpoint(path: Path) -> bool:
    from toolkit.checkpoint import nonfinite_entry

    return nonfinite_entry(torch.load(path, weights_only=True)) is None


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--device", "cuda"],
            "error: --device: 'cuda' is not allowed; this machine has no CUDA GPUs that torch can use; choose cpu",
        ),
        (["--device", "gpu0"], "error: --device: 'gpu0' is not allowed; choose cpu, cuda or cuda:K"),
        (
            ["--agent-cfg", "{tmp}"],
            "error: --agent-cfg: '{tmp}' is not allowed; expected a YAML file in the Runner's format (it is a folder)",
        ),
        (
            ["--agent.mini_batches", "1000"],
            "error: agent.mini_batches: 1000 is not allowed; "
            "must be <= the 128 samples (rollouts 16 x 8 worlds) of a rollout",
        ),
        (
            ["--agent.experiment", "5"],
            "error: agent.experiment: int is not allowed; expected a mapping of ExperimentCfg fields",
        ),
        (
            ["--agent.learning_rate_scheduler_kwargs", "{kl_treshold: 0.01}"],
            "error: agent.learning_rate_scheduler_kwargs.kl_treshold: unknown key of KLAdaptiveLR; "
            "allowed: kl_threshold, min_lr",
        ),
        (
            ["--agent.experiment.write_interval", "-5"],
            "error: agent.experiment.write_interval: -5 is not allowed; must be 'auto' or >= 0",
        ),
        (
            ["--runs-dir", "{tmp}/a-file"],
            "error: --runs-dir: '{tmp}/a-file' is not allowed; cannot create a run folder in it",
        ),
        (["--resume", "{tmp}/a-file"], "error: --resume: {tmp}/a-file has no checkpoints/last.pt"),
    ],
)
def test_bad_input_is_one_line_before_any_world_is_built(train_script, monkeypatch, capsys, tmp_path, argv, message):
    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    (tmp_path / "a-file").write_text("")
    _no_worlds(monkeypatch, train_script)
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    status, _, err = _main(train_script, monkeypatch, capsys, "--runs-dir", str(tmp_path / "runs"), *SMALL, *argv)
    assert status == 2 and _one_line(err).startswith(message.replace("{tmp}", str(tmp_path)))
    assert not (tmp_path / "runs").exists()  # nothing claimed, nothing written


def test_an_error_after_the_claim_leaves_no_folder_and_logs_its_traceback(train_script, monkeypatch, capsys, tmp_path):
    def broken(*args, **kwargs):
        raise RuntimeError("the engine failed to start")

    monkeypatch.setattr(train_script.tasks, "make", broken)
    status, _, err = _main(train_script, monkeypatch, capsys, "--runs-dir", str(tmp_path / "runs"), *SMALL)
    line = _one_line(err)
    assert status == 1 and line.startswith("error: RuntimeError: the engine failed to start (traceback in ")
    log = Path(line[line.index("(traceback in ") + len("(traceback in ") : -1])
    assert "Traceback" in log.read_text() and "broken" in log.read_text()
    log.unlink()
    assert list((tmp_path / "runs" / "cartpole").iterdir()) == []  # claimed, then released: nothing half-made


def test_write_interval_0_writes_no_records_and_one_torch_thread_is_the_default(train_script, tmp_path):
    args = train_script.TrainArgs(
        num_envs=8, timesteps=32, headless=True, stop_when_solved=False, runs_dir=str(tmp_path)
    )
    result = train_script.train(args, {("agent", "experiment", "write_interval"): 0})
    assert result["env_steps"] == 32 * 8 and torch.get_num_threads() == 1
    assert (Path(result["run_dir"]) / "metrics.jsonl").read_text() == ""
    assert (Path(result["run_dir"]) / "checkpoints" / "last.pt").exists()


def test_a_copied_run_resumes_in_its_own_folder_from_any_directory(train_script, monkeypatch, capsys, tmp_path):
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    args = train_script.TrainArgs(num_envs=8, timesteps=32, headless=True, stop_when_solved=False, runs_dir="runs")
    first = train_script.train(args, {("agent", "experiment", "write_interval"): 16})
    original = tmp_path / "a" / first["run_dir"]
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    before = _files(original)
    with (copy / "metrics.jsonl").open(
        "a"
    ) as metrics:  # a run killed after its checkpoint: rows the resume writes again
        metrics.write(json.dumps({"timestep": 48}) + "\n" + '{"timestep": 6')
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")

    status, _, err = _main(
        train_script,
        monkeypatch,
        capsys,
        "--resume",
        str(copy),
        "--num-envs",
        "16",
        "--seed",
        "3",
        "--agent.learning_rate",
        "1e-2",
    )
    assert status == 2 and _one_line(err).startswith(
        "error: --resume: --num-envs 16, --seed 3, --agent.learning_rate 0.01 cannot change a resumed run"
    )
    status, out, err = _main(
        train_script, monkeypatch, capsys, "--resume", "../copy", "--timesteps", "64", "--headless", "--device", "cpu"
    )
    assert status == 0, err
    assert "resume: taking --timesteps 64, --headless True, --device cpu from the command line" in err
    assert json.loads(out.splitlines()[-1])["run_dir"] == os.path.normpath("../copy")
    assert _files(original) == before  # the original run is untouched
    assert [json.loads(line)["timestep"] for line in (copy / "metrics.jsonl").read_text().splitlines()] == [
        16,
        32,
        48,
        64,
    ]
    assert torch.load(copy / "checkpoints" / "last.pt", weights_only=True)["extra"]["timestep"] == 64
    assert list((tmp_path / "elsewhere").iterdir()) == []  # no stray folder where the command ran


def test_a_checkpoint_of_other_layer_sizes_is_one_line_in_resume_and_play(
    train_script, play_script, monkeypatch, capsys, tmp_path
):
    args = train_script.TrainArgs(
        num_envs=8, timesteps=16, headless=True, stop_when_solved=False, runs_dir=str(tmp_path)
    )
    run = Path(train_script.train(args, {("models", "policy", "hiddens"): [8, 8]})["run_dir"])
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["models"]["policy"]["hiddens"] = [16, 16]
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    before = _files(run)
    expected = f"error: checkpoint: {run}/checkpoints/last.pt has policy."
    status, _, err = _main(train_script, monkeypatch, capsys, "--resume", str(run))
    assert status == 2 and _one_line(err).startswith(expected) and "this agent's networks need" in err
    assert _files(run) == before
    status, _, err = _main(
        play_script, monkeypatch, capsys, "--run", str(run), "--checkpoint", "last", "--num-envs", "2"
    )
    assert status == 2 and _one_line(err).startswith(expected)


def test_play_checks_the_video_path_before_any_episode(play_script, monkeypatch, capsys, tmp_path):
    _no_worlds(monkeypatch, play_script)
    status, _, err = _main(
        play_script, monkeypatch, capsys, "--run", str(tmp_path), "--video", "/no/such/folder/out.mp4"
    )
    assert (
        status == 2
        and _one_line(err) == "error: --video: '/no/such/folder/out.mp4' is not allowed; /no/such/folder does not exist"
    )


def test_a_full_disk_while_checkpointing_is_one_line_and_loses_nothing_written(
    train_script, monkeypatch, capsys, tmp_path
):
    real_fsync = os.fsync

    def full_for_checkpoints(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".pt"):
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_for_checkpoints)
    status, _, err = _main(
        train_script,
        monkeypatch,
        capsys,
        "--runs-dir",
        str(tmp_path),
        *SMALL,
        "--timesteps",
        "32",
        "--agent.experiment.write_interval",
        "16",
        "--agent.experiment.checkpoint_interval",
        "16",
    )
    line = _one_line(err)
    [run] = (tmp_path / "cartpole").iterdir()
    assert status == 1 and line.startswith(
        f"error: {run}/checkpoints/agent_16.pt: the disk is full (traceback in {run}/error.log)"
    )
    assert [json.loads(row)["timestep"] for row in (run / "metrics.jsonl").read_text().splitlines()] == [16]
    assert sorted(p.name for p in run.rglob("*")) == [
        "checkpoints",
        "config.yaml",
        "error.log",
        "launch.yaml",
        "metrics.jsonl",
    ]


def test_a_blow_up_stops_training_with_one_line_and_every_checkpoint_is_finite(
    train_script, monkeypatch, capsys, tmp_path
):
    status, _, err = _main(
        train_script,
        monkeypatch,
        capsys,
        "--runs-dir",
        str(tmp_path),
        *SMALL,
        "--timesteps",
        "800",
        "--agent.learning_rate",
        "1e20",
        "--agent.learning_rate_scheduler",
        "",
        "--agent.grad_norm_clip",
        "0",
        "--agent.experiment.checkpoint_interval",
        "16",
    )
    assert status == 1 and _one_line(err).startswith("error: agent PPO (") and "non-finite" in err
    [run] = (tmp_path / "cartpole").iterdir()
    checkpoints = sorted((run / "checkpoints").glob("*.pt"))
    assert all(_finite_checkpoint(path) for path in checkpoints)  # the update stops before any NaN reaches one


def test_ctrl_c_during_training_writes_a_checkpoint_and_ends_cleanly(tmp_path):
    process = start_launch_script(
        "train",
        "--runs-dir",
        str(tmp_path),
        *SMALL,
        "--timesteps",
        "1000000",
        "--agent.experiment.write_interval",
        "16",
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 300
    while (
        not list(tmp_path.glob("cartpole/*/metrics.jsonl"))
        or not list(tmp_path.glob("cartpole/*/metrics.jsonl"))[0].read_text()
    ):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1][-2000:]
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-2000:]
    summary = json.loads(out.splitlines()[-1])
    assert summary["preempted"] is True and "Traceback" not in err
    assert (Path(summary["run_dir"]) / "checkpoints" / "last.pt").exists()


def test_bench_exits_promptly_on_sigterm_while_training(tmp_path):
    process = start_launch_script(
        "bench",
        "--backend",
        "warp",
        "--num-envs",
        "8",
        "--sim-steps",
        "5",
        "--train-timesteps",
        "1000000",
        cwd=tmp_path,
    )

    def catches_sigterm() -> bool:  # bench.py's handler is installed once its imports are done
        status = Path(f"/proc/{process.pid}/status").read_text()
        return bool(int(status.split("SigCgt:")[1].split()[0], 16) & (1 << (signal.SIGTERM - 1)))

    deadline = time.monotonic() + 300
    while not catches_sigterm():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1][-2000:]
        time.sleep(0.2)
    time.sleep(20)  # the world, five steps, then the (endless) warm-up training
    assert process.poll() is None, process.communicate()[1][-2000:]
    process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143 and time.monotonic() - started < 20 and "Traceback" not in err
