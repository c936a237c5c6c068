"""play.py on a velocity-command task: `--command vx vy wz` holds every world's command for the whole play (the
task's resampling, standing and heading modes off) and each episode's tracking error (sim2sim.py's definition)
and fall are reported; both are computed in the task state on the device (tasks/locomotion/evaluation.py)."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import envs
import tasks
from tasks.go1_flat import mdp
from tasks.locomotion.evaluation import TRACKING_ERROR, hold_command, with_tracking_error, without_pushes
from tests.launch_scripts import run_launch_script

WORLDS = 2
COMMAND = (0.5, 0.0, 0.3)


def _restless_go1(**overrides):
    """go1-flat whose commands are drawn again every step or two, all in heading mode, episodes of 6 steps: a held
    command that survived this survived resampling, heading control and resets."""
    commands = dataclasses.replace(
        mdp.EVENTS.commands, resample_s=(0.02, 0.04), heading_fraction=1.0, standing_fraction=0.0
    )
    events = dataclasses.replace(mdp.EVENTS, commands=commands)
    return dataclasses.replace(
        tasks.spec("go1-flat"), advance=events.advance, reset_state=events.reset_state, max_episode_steps=6, **overrides
    )


def _commands_along(task, steps=14):
    env = envs.make_engine(task, "warp", WORLDS, seed=1)
    env.reset()
    actions = torch.as_tensor(np.random.default_rng(0).uniform(-1, 1, (steps, WORLDS, 12)), dtype=torch.float32)
    seen, ended = [env.state_dict()["task.command"]], []
    for action in actions:
        _, _, _, _, info = env.step(action)
        seen += [info["final_task_state"]["command"].numpy().copy(), env.state_dict()["task.command"]]
        ended.append(bool(info["_episode"].any()))
    return np.stack(seen), any(ended), env


def test_a_held_command_is_every_worlds_command_at_every_step_and_after_resets():
    held, reset_happened, _ = _commands_along(hold_command(_restless_go1(), COMMAND))
    assert reset_happened
    np.testing.assert_allclose(held, np.broadcast_to(COMMAND, held.shape), atol=1e-6)
    drawn, _, _ = _commands_along(_restless_go1())  # the same task without the hold: its commands move
    assert np.abs(drawn - np.asarray(COMMAND)).max() > 0.1


def test_the_tracking_error_is_summed_per_episode_as_sim2sim_measures_it():
    """Per step |command_xy - v_xy| (base frame) and |command_wz - w_z|, from the noise-free critic group's base
    velocities of the state each step reached (before a reset); the task state's sum is theirs over the episode."""
    env = envs.make_engine(with_tracking_error(hold_command(_restless_go1(), COMMAND)), "warp", WORLDS, seed=2)
    layout = {term["name"]: term for term in mdp.CRITIC.layout()}
    lin, ang = layout["base_lin_vel"]["start"], layout["base_ang_vel"]["start"]
    env.reset()
    reference, checked_ends = np.zeros((WORLDS, 2)), 0
    for action in torch.as_tensor(np.random.default_rng(1).uniform(-1, 1, (14, WORLDS, 12)), dtype=torch.float32):
        _, _, _, _, info = env.step(action)
        velocities = info["final_states"].numpy()
        reference += np.stack(
            [
                np.linalg.norm(np.asarray(COMMAND[:2]) - velocities[:, lin : lin + 2], axis=-1),
                np.abs(COMMAND[2] - velocities[:, ang + 2]),
            ],
            axis=-1,
        )
        np.testing.assert_allclose(info["final_task_state"][TRACKING_ERROR].numpy(), reference, rtol=1e-4, atol=1e-5)
        done = info["_episode"].numpy()
        reference[done] = 0.0
        checked_ends += int(done.sum())
        np.testing.assert_allclose(
            env.state_dict()[f"task.{TRACKING_ERROR}"], reference, atol=1e-6
        )  # zero after a reset
    assert checked_ends >= WORLDS and reference.max() > 0


@pytest.fixture(scope="module")
def go1_run(tmp_path_factory):
    """A go1-flat run of one PPO update on 2 worlds (behaviour is not the point: its checkpoint is)."""
    root = tmp_path_factory.mktemp("runs")
    result = run_launch_script(
        "train",
        "--task",
        "go1-flat",
        "--num-envs",
        "2",
        "--timesteps",
        "24",
        "--headless",
        "--no-stop-when-solved",
        "--runs-dir",
        str(root),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return Path(json.loads(result.stdout.strip().splitlines()[-1])["run_dir"])


def test_play_with_a_command_reports_tracking_errors_and_falls_per_episode(go1_run):
    result = run_launch_script(
        "play",
        "--run",
        str(go1_run),
        "--checkpoint",
        "last",
        "--command",
        "0.5",
        "0",
        "0",
        "--episodes",
        "2",
        "--num-envs",
        "2",
        "--max-steps",
        "15",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    episodes = summary["episodes"]
    assert summary["task"] == "go1-flat" and summary["command"] == [0.5, 0.0, 0.0] and episodes >= 2
    assert all(0 < length <= 15 for length in summary["lengths"])
    for name in ("tracking_error_lin", "tracking_error_yaw", "fell"):
        assert len(summary[name]) == episodes
    assert all(
        np.isfinite(error) and error >= 0 for error in summary["tracking_error_lin"] + summary["tracking_error_yaw"]
    )
    # a robot that stands still (or falls) does not track 0.5 m/s: its mean error is near 0.5, not 0
    assert 0.2 < summary["mean_tracking_error_lin"] < 1.5
    assert summary["mean_tracking_error_lin"] == pytest.approx(np.mean(summary["tracking_error_lin"]))
    assert summary["falls"] == sum(summary["fell"]) == summary["terminated"]
    # a fall ends an episode early; a time-out at --max-steps is not one
    assert all(fell == (length < 15) for fell, length in zip(summary["fell"], summary["lengths"]))
    assert lines[0].startswith("episode 0: return ") and " m/s, " in lines[0] and " rad/s" in lines[0]
    assert f"{summary['falls']}/{episodes} falls" in lines[-2] and "mean tracking error" in lines[-2]


def test_without_pushes_the_interval_events_do_not_kick_the_robot():
    """Pushes of 3 m/s every step: the base flies off with them, stays near its reset speed (<= 0.2 m/s) without."""
    events = dataclasses.replace(
        mdp.EVENTS, pushes=dataclasses.replace(mdp.EVENTS.pushes, interval_s=(0.02, 0.02), velocity=3.0)
    )
    pushed = dataclasses.replace(tasks.spec("go1-flat"), advance=events.advance, reset_state=events.reset_state)
    speeds = {}
    for name, task in (("pushed", pushed), ("unpushed", without_pushes(pushed))):
        env = envs.make_engine(task, "warp", WORLDS, seed=3)
        env.reset()
        for _ in range(3):
            env.step(torch.zeros((WORLDS, 12)))
        speeds[name] = np.abs(env.state_dict()["qvel"][:, :2]).max()
    assert speeds["pushed"] > 1.0 and speeds["unpushed"] < 0.5
