"""Each task's typed configuration (`--env.*`): its defaults are the registered task's and show in --help, an override
reaches the built worlds, a bad value is one line before any world is built, launch.yaml keeps it and --resume
restores it, and play.py and bench.py take the same flags."""

import dataclasses
import json
import sys
from pathlib import Path

import pytest
import yaml

import envs
import tasks
from launch import task_flags
from tasks.go1_flat import mdp as go1_mdp
from tests.launch_scripts import load_launch_script

SMALL = ["--num-envs", "4", "--headless", "--no-stop-when-solved", "--agent.experiment.write_interval", "16"]


def _load(name: str):
    return load_launch_script(name, f"{name}_config_under_test")


@pytest.fixture(scope="module")
def train_script():
    return _load("train")


@pytest.fixture(scope="module")
def run(train_script, tmp_path_factory):
    """A cartpole run of one update on 4 worlds with 7-step episodes, mass randomization and less reset noise."""
    runs = tmp_path_factory.mktemp("runs")
    argv = [*SMALL, "--timesteps", "16", "--runs-dir", str(runs), "--env.max-episode-steps", "7",
            "--env.randomization.mass", "0.8", "1.2", "--env.reset-noise-scale", "0.02"]  # fmt: skip
    result = train_script.train(*train_script.parse(argv))
    return Path(result["run_dir"])


def test_every_task_has_a_configuration_whose_defaults_are_the_registered_task():
    for name in tasks.names():
        config = tasks.config(name)
        assert tasks.spec(name, config) is tasks.spec(name)  # the defaults change nothing
        assert config.max_episode_steps == tasks.spec(name).max_episode_steps
        assert config.randomization == tasks.spec(name).randomization
        assert tasks.config(name, config.as_dict()) == config  # launch.yaml's form reads back the same
    go1 = tasks.config("go1-flat")
    assert go1.commands == go1_mdp.EVENTS.commands and go1.rewards == go1_mdp.REWARDS.weights()
    assert go1.nconmax == 32 and go1.interval_pushes


def test_a_locomotion_configuration_reaches_the_tasks_events_rewards_and_metadata():
    config = tasks.config("go1-flat")
    changed = dataclasses.replace(
        config,
        commands=dataclasses.replace(config.commands, vx=(0.0, 2.0)),
        interval_pushes=False,
        rewards={**config.rewards, "action_rate": -0.5},
        max_episode_steps=200,
    )
    spec = tasks.spec("go1-flat", changed)
    assert spec.max_episode_steps == 200 and spec.reward.weights()["action_rate"] == -0.5
    assert spec.advance.__self__.pushes is None and spec.advance.__self__.commands.vx == (0.0, 2.0)
    assert spec.metadata["commands"]["vx"] == [0.0, 2.0]  # what an exported policy says it was trained on
    assert tasks.spec("go1-flat").reward.weights()["action_rate"] == -0.01  # the registered task is untouched
    with pytest.raises(ValueError, match="env: a ResetNoiseConfig is not allowed for task 'go1-flat'"):
        tasks.spec("go1-flat", tasks.config("cartpole"))
    with pytest.raises(ValueError, match=r"^env.rewards.walk: unknown key; allowed: track_lin_vel_xy"):
        tasks.config("go1-flat", {"rewards": {"walk": 1.0}})


def test_help_shows_the_chosen_tasks_fields_and_defaults(train_script, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one flag and its default per line
    for argv, expected in [
        (["--help"], ["--env.max-episode-steps INT", "(default: 500)", "--env.reset-noise-scale", "(default: 0.05)"]),
        (
            ["--task", "go1-flat", "--help"],
            ["(default: 1000)", "--env.commands.vx FLOAT FLOAT", "(default: -1.0 1.0)", "--env.no-interval-pushes",
             "--env.rewards.action-rate FLOAT", "(default: -0.01)", "--env.randomization.mass", "(default: 0.9 1.1)"],
        ),
    ]:  # fmt: skip
        with pytest.raises(SystemExit) as done:
            train_script.parse(argv)
        help_text = capsys.readouterr().out
        assert done.value.code == 0 and all(text in help_text for text in expected), (argv, help_text)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--env.max-episode-steps", "0"], "env.max_episode_steps: 0 is not allowed; must be a positive integer"),
        (["--env.max-episode-steps", "ten"], "--env.max-episode-steps: invalid literal for int() with base 10: 'ten'"),
        (
            ["--env.randomization.mass", "1.2", "0.8"],
            "env.randomization.mass: (1.2, 0.8) is not allowed; must be (low, high) with 0 < low <= high",
        ),
        (["--env.randomization.mass", "1.2"], "--env.randomization.mass: ['1.2'] is not allowed; expected"),
        (["--env.nconmax", "0"], "env.nconmax: 0 is not allowed; must be a positive integer or None"),
        (["--env.reset-noise-scale", "-1"], "env.reset_noise_scale: -1.0 is not allowed; must be a finite number"),
        (["--env.gravity", "1"], "env.gravity: unknown key; allowed: max_episode_steps, randomization, nconmax"),
        (
            ["--task", "go1-flat", "--env.commands.vx", "1", "-1"],
            "env.commands.vx: (1.0, -1.0) is not allowed; must be (low, high) with low <= high",
        ),
        (["--task", "go1-flat", "--env.reset.joint", "-0.1"], "env.reset.joint: -0.1 is not allowed; must be a finite"),
        (["--task", "go1-flat", "--env.rewards.walk", "1"], "env.rewards.walk: unknown key; allowed: track_lin_vel_xy"),
    ],
)
def test_a_bad_value_is_one_line_before_any_world_is_built(train_script, monkeypatch, capsys, tmp_path, argv, message):
    monkeypatch.setattr(train_script.tasks, "make", lambda *args, **kwargs: pytest.fail("a world was built"))
    monkeypatch.setattr(sys, "argv", ["train.py", "--runs-dir", str(tmp_path / "runs"), *argv])
    with pytest.raises(SystemExit) as done:
        train_script.main()
    err = capsys.readouterr().err.strip()
    assert done.value.code == 2 and err.startswith(f"error: {message}") and "\n" not in err, err
    assert not (tmp_path / "runs").exists()


def test_the_override_reaches_the_worlds_is_stored_and_a_resume_restores_it(train_script, run, monkeypatch, capsys):
    launch = yaml.safe_load((run / "launch.yaml").read_text())
    assert launch["env"] == {
        "max_episode_steps": 7,
        "randomization": {"mass": [0.8, 1.2], "friction": None, "pair_friction": None, "actuator_gain": None},
        "nconmax": None,
        "njmax": None,
        "reset_noise_scale": 0.02,
    }
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["mean_length"] == 7.0  # every episode of the built worlds was cut at 7 steps

    made = []
    make = train_script.tasks.make
    monkeypatch.setattr(train_script.tasks, "make", lambda *a, **k: made.append(k["config"]) or make(*a, **k))
    resumed = train_script.train(*train_script.parse(["--resume", str(run), "--timesteps", "32", "--headless"]))
    assert resumed["env_steps"] == 32 * 4 and made == [tasks.config("cartpole", launch["env"])]
    assert made[0].max_episode_steps == 7 and made[0].randomization == envs.Randomization(mass=(0.8, 1.2))

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["train.py", "--resume", str(run), "--env.max-episode-steps", "9"])
    with pytest.raises(SystemExit) as done:
        train_script.main()
    err = capsys.readouterr().err.strip()
    assert done.value.code == 2 and "\n" not in err
    assert err.startswith("error: --resume: --env.max-episode-steps 9 cannot change a resumed run")


def test_a_run_from_before_env_resumes_with_the_randomization_it_had():
    launch = {"task": "go1-flat", "randomization": {"mass": [0.5, 2.0], "friction": None, "actuator_gain": None}}
    config = tasks.config("go1-flat", task_flags.saved_env(launch))
    assert config.randomization == envs.Randomization(mass=(0.5, 2.0)) and config.max_episode_steps == 1000


def test_play_takes_the_runs_configuration_and_the_same_flags(run, capsys):
    play_script = _load("play")
    args = play_script.parse(["--run", str(run), "--checkpoint", "last", "--episodes", "2", "--num-envs", "2"])
    assert args.env == tasks.config("cartpole", yaml.safe_load((run / "launch.yaml").read_text())["env"])
    assert play_script.play(args)["lengths"][:2] == [7, 7]  # the run's own 7-step episodes
    shorter = play_script.parse([*["--run", str(run), "--checkpoint", "last", "--episodes", "2", "--num-envs", "2"],
                                 "--env.max-episode-steps", "5"])  # fmt: skip
    assert play_script.play(shorter)["lengths"][:2] == [5, 5]
    with pytest.raises(SystemExit) as done:
        play_script.parse(["--run", str(run), "--help"])
    assert done.value.code == 0 and "(default: 7)" in capsys.readouterr().out  # the run's value is play's default
    with pytest.raises(ValueError, match=r"^env.max_episode_steps: -3 is not allowed"):
        play_script.parse(["--run", str(run), "--env.max-episode-steps", "-3"])


def test_bench_takes_the_same_flags_and_hands_them_to_its_child_processes(monkeypatch):
    bench_script = _load("bench")
    args = bench_script.parse(["--task", "cartpole", "--num-envs", "2", "--env.max-episode-steps", "5",
                               "--env.randomization.friction", "0.5", "1.5"])  # fmt: skip
    assert args.env == dataclasses.replace(
        tasks.config("cartpole"), max_episode_steps=5, randomization=envs.Randomization(friction=(0.5, 1.5))
    )
    made, commands = [], []

    def make(task, backend, num_envs, **kwargs):
        made.append(kwargs["config"])
        raise RuntimeError("not built")

    monkeypatch.setattr(bench_script.tasks, "make", make)
    with pytest.raises(RuntimeError, match="not built"):
        bench_script.measure(args, "cartpole", "warp", 2)
    assert made == [args.env]

    def child(command, **kwargs):
        commands.append(command)
        raise RuntimeError("not run")

    monkeypatch.setattr(bench_script.subprocess, "run", child)
    with pytest.raises(RuntimeError):
        bench_script.measure_in_child(args, "cartpole", "warp", 2)
    assert bench_script.parse(commands[0][2:]).env == args.env  # the child parses back the same configuration
    with pytest.raises(ValueError, match=r"^--env.max-episode-steps: unknown flag; --env.\* tunes one task"):
        bench_script.parse(["--task", "all", "--env.max-episode-steps", "5"])


def test_export_describes_the_task_as_the_run_trained_it():
    from envs.task_metadata import task_metadata

    launch = {"task": "go1-flat", "env": {"commands": {"vx": [0.0, 1.5]}, "max_episode_steps": 300}}
    metadata = task_metadata(task_flags.run_spec(launch))  # what launch/export.py writes beside the policy
    assert metadata["commands"]["vx"] == [0.0, 1.5] and metadata["commands"]["vy"] == [-0.5, 0.5]
