"""launch/play.py: deterministic evaluation of a run's checkpoint and an mp4 of its first world."""

import json
from pathlib import Path

import imageio_ffmpeg
import pytest

from tests.launch_scripts import run_launch_script


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    result = run_launch_script(
        "train", "--num-envs", "16", "--timesteps", "32", "--headless", "--no-stop-when-solved", "--runs-dir", str(root)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return Path(json.loads(result.stdout.strip().splitlines()[-1])["run_dir"])


def _play(*args):
    return run_launch_script("play", *args)


def test_play_evaluates_and_writes_a_playable_mp4_of_the_first_episode(run_dir, tmp_path):
    video = tmp_path / "cartpole.mp4"
    result = _play(
        "--run",
        str(run_dir),
        "--checkpoint",
        "last",
        "--episodes",
        "3",
        "--num-envs",
        "2",
        "--video",
        str(video),
        "--width",
        "320",
        "--height",
        "240",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["episodes"] >= 3 and summary["mean_length"] > 0
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(video))  # ffmpeg decodes the whole file
    assert frames == summary["video_frames"] == summary["video_episode_length"] > 0  # one frame per step
    assert seconds == pytest.approx(frames / 50, abs=0.05)  # one frame per 0.02 s control step


def test_play_with_a_missing_checkpoint_is_a_one_line_error(run_dir):
    result = _play("--run", str(run_dir), "--checkpoint", str(run_dir / "nope.pt"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: --checkpoint: {run_dir / 'nope.pt'} does not exist; choose best, last or the path of a checkpoint file"
    )


def test_play_with_a_command_for_a_task_without_commands_is_a_one_line_error(run_dir, tmp_path):
    missing = tmp_path / "nope.pt"  # the command is refused first: before the checkpoint is looked for or a world built
    result = _play("--run", str(run_dir), "--command", "0.5", "0", "0", "--checkpoint", str(missing))
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "error: --command: [0.5, 0.0, 0.0] is not allowed; task 'cartpole' takes no commands"
    )
