"""go1-flat learns with its default agent on MuJoCo Warp (slow): asked to walk forward at 0.5 m/s, it raises its
velocity-tracking reward per step to twice its first report while its episodes get longer.

Measured on the 2-core CPU under other jobs (load 8-9, 128 worlds, 45-55 env-steps/s): the tracking reward went
from 0.0039 at the first report (3k env steps: random actions stumble away from the command) to 0.0079 after 46k
env steps (15 minutes; about 5 at 150-200 env-steps/s on a quiet machine), and episodes from 81 to 222 steps.
What it shows is the start of learning (not falling, leaning into the command); walking takes millions of steps
(README).
"""

import dataclasses

import pytest
import torch

import envs
import tasks
from tasks.go1_flat import mdp
from tasks.locomotion.events import VelocityCommands
from toolkit.torch import Runner

FORWARD = VelocityCommands(vx=(0.5, 0.5), vy=(0.0, 0.0), wz=(0.0, 0.0), standing_fraction=0.0, heading_fraction=0.0)
TRACKING = "reward/track_lin_vel_xy"


@pytest.mark.slow
@pytest.mark.long  # 5-17 minutes on the 2-core CPU: run by hand before resolving, not in CI
def test_go1_flat_learns_to_track_a_forward_command(tmp_path):
    torch.set_num_threads(1)
    events = dataclasses.replace(mdp.EVENTS, commands=FORWARD)
    env = envs.wrap_env(
        tasks.make("go1-flat", "warp", num_envs=128, seed=0, advance=events.advance, reset_state=events.reset_state),
        "torch",
    )
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec("go1-flat").agent_cfg))
    cfg["agent"]["experiment"].update(directory=str(tmp_path), checkpoint_interval=0)
    cfg["trainer"].update(timesteps=24 * 25, disable_progressbar=True, headless=True)  # 25 updates, 77k env steps
    reports = []

    def learned(stats) -> bool:
        reports.append((stats.env_steps, stats.log[TRACKING], stats.mean_length))
        first = reports[0][1]
        lengths = [length for _, _, length in reports if length is not None]
        return stats.log[TRACKING] >= 2 * first and len(lengths) >= 2 and lengths[-1] > lengths[0]

    Runner(env, cfg).run("train", stop=learned)
    steps, tracking, length = reports[-1]
    assert tracking >= 2 * reports[0][1], (
        f"tracking reward {reports[0][1]:.5f} -> {tracking:.5f} after {steps} env steps"
    )
    assert length is not None and length > next(earlier for _, _, earlier in reports if earlier is not None), reports
