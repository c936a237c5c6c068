"""The rough tasks' typed configuration (`--env.terrain.*`, `--env.height-scan.*`, and the flat task's commands, pushes,
resets and reward weights): the task's own defaults in --help, the values reach the built task (its generated
height field, the scan's observation term and spaces, the curriculum), bad input is one line before any world is
built, launch.yaml keeps it and --resume restores it, and play.py, bench.py and launch/terrain.py take the same
flags. No robot world is built: the TaskSpec (and the MuJoCo model it compiles) suffices."""

import dataclasses
import functools
import re
import sys
import types

import gymnasium as gym
import numpy as np
import pytest
import yaml

import tasks
from launch import task_flags
from tasks import go1_rough
from tasks.go1_flat import mdp as go1_mdp
from tasks.terrain import HeightScan, TerrainConfig
from tasks.terrain.curriculum import terrain_of
from tasks.terrain.rough_task import terrain_config
from tests.launch_scripts import load_launch_script

# a small grid and scan (quick to generate), with every flag kind: ints, pairs, the proportions' (type, share) list
FLAGS = ["--task", "go1-rough", "--env.terrain.num-levels", "3", "--env.terrain.num-columns", "2",
         "--env.terrain.proportions", "flat", "0.5", "pyramid_stairs", "0.5", "--env.terrain.step-height", "0.05",
         "0.1", "--env.terrain.max-init-level", "1", "--env.height-scan.size", "1.0", "0.6",
         "--env.commands.vx", "0", "1"]  # fmt: skip
TERRAIN = dataclasses.replace(
    TerrainConfig(),
    num_levels=3,
    num_columns=2,
    proportions=(("flat", 0.5), ("pyramid_stairs", 0.5)),
    step_height=(0.05, 0.1),
    max_init_level=1,
)


def _load(name: str):
    return load_launch_script(name, f"{name}_rough_config_under_test")


@pytest.fixture(scope="module")
def train_script():
    return _load("train")


def _canonical(value):
    """A comparable form of a TaskSpec's field: partials, bound methods, functions and spaces by what they are."""
    if isinstance(value, functools.partial):
        keywords = sorted((key, _canonical(item)) for key, item in value.keywords.items())
        return ("partial", _canonical(value.func), tuple(map(_canonical, value.args)), tuple(keywords))
    if isinstance(value, types.MethodType):
        return ("method", value.__func__.__qualname__, _canonical(value.__self__))
    if isinstance(value, (types.FunctionType, types.ModuleType, type)):
        return ("named", getattr(value, "__module__", None), getattr(value, "__qualname__", value.__name__))
    if dataclasses.is_dataclass(value):
        return (
            type(value).__name__,
            tuple((f.name, _canonical(getattr(value, f.name))) for f in dataclasses.fields(value)),
        )
    if isinstance(value, dict):
        return ("dict", tuple((key, _canonical(item)) for key, item in value.items()))
    if isinstance(value, (tuple, list)):
        return tuple(map(_canonical, value))
    if isinstance(value, gym.spaces.Box):
        return ("box", value.shape, value.low.tolist(), value.high.tolist())
    return value


@pytest.mark.parametrize("task", ["go1-flat", "g1-flat", "go1-rough", "g1-rough"])
def test_a_configuration_rebuilds_the_registered_task_from_the_same_builder(task):
    """The task its defaults rebuild (what a changed flag starts from) is the registered one, field by field."""
    registered = tasks.spec(task)
    rebuilt = tasks.config(task).apply(registered)
    assert rebuilt is not registered
    for field in dataclasses.fields(registered):
        assert _canonical(getattr(rebuilt, field.name)) == _canonical(getattr(registered, field.name)), field.name


def test_the_rough_tasks_defaults_are_their_terrain_scan_and_flat_settings():
    go1 = tasks.config("go1-rough")
    assert type(go1).__name__ == "Go1RoughConfig"
    assert go1.terrain == go1_rough.TERRAIN and go1.height_scan == go1_rough.SCAN
    assert go1.commands == go1_mdp.EVENTS.commands
    # go1-flat's reward weights but the flat-ground one (a slope or a stair tilts the base)
    assert go1.rewards == {name: w for name, w in go1_mdp.REWARDS.weights().items() if name != "flat_orientation"}
    assert go1.nconmax == 96 and go1.njmax == 256
    assert tasks.config("g1-rough").height_scan.offset == 0.75 and tasks.config("g1-rough").njmax == 512
    assert tasks.config("go1-rough", go1.as_dict()) == go1  # launch.yaml's lists read back as the same tuples


def test_help_lists_the_terrain_and_scan_flags_with_the_tasks_defaults(train_script, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one flag per line, its help and default on the next
    for task in ("go1-rough", "g1-rough"):
        config = tasks.config(task)
        with pytest.raises(SystemExit) as done:
            train_script.parse(["--task", task, "--help"])
        help_text = capsys.readouterr().out
        assert done.value.code == 0
        terrain, scan = config.terrain, config.height_scan
        shares = " ".join(f"{name} {share}" for name, share in terrain.proportions)
        for flag, default in [
            ("--env.terrain.num-levels INT", terrain.num_levels),
            ("--env.terrain.proportions [STR FLOAT [STR FLOAT ...]]", shares),
            ("--env.terrain.step-height FLOAT FLOAT", " ".join(map(str, terrain.step_height))),
            ("--env.terrain.max-init-level INT", terrain.max_init_level),
            ("--env.height-scan.size FLOAT FLOAT", " ".join(map(str, scan.size))),
            ("--env.height-scan.offset FLOAT", scan.offset),
            ("--env.commands.vx FLOAT FLOAT", " ".join(map(str, config.commands.vx))),
        ]:
            row = re.search(re.escape(flag) + r"[^\n]*\n[^\n]*\(default: ([^)]*)\)", help_text)
            assert row and row.group(1) == str(default), (task, flag)


def test_the_flags_reach_the_generated_terrain_the_scan_and_the_curriculum(train_script):
    args, _ = train_script.parse(FLAGS)
    assert args.env.terrain == TERRAIN and args.env.height_scan == HeightScan(size=(1.0, 0.6), offset=0.3)
    spec = tasks.spec("go1-rough", args.env)
    assert terrain_config(spec) == TERRAIN  # the curriculum's grid: its levels, columns and starting levels
    assert spec.reset_from_previous.__self__.config.max_init_level == 1
    floor = spec.model_spec.keywords["floor"]
    assert floor.config == TERRAIN and floor.touching is None
    model = spec.model_spec().compile()  # the height field the worlds are built with
    border = round(TERRAIN.border / TERRAIN.resolution)
    cells = round(TERRAIN.patch_size / TERRAIN.resolution)
    hfield = (model.hfield_ncol[0], model.hfield_nrow[0])  # x along the levels, y along the columns
    assert hfield == (3 * cells + 2 * border, 2 * cells + 2 * border)
    heights = terrain_of(TERRAIN).heights  # what the curriculum spawns on and the scan reads
    assert model.hfield_size[0][2] == pytest.approx(np.ptp(heights), abs=1e-6)
    rays = 11 * 7  # 1.0 m x 0.6 m at 0.1 m
    scan_term = spec.observations.terms[-1]
    assert scan_term.name == "height_scan" and scan_term.size == rays
    assert scan_term.term.keywords["scan"] == args.env.height_scan and scan_term.term.keywords["terrain"] == TERRAIN
    assert spec.single_observation_space.shape == (go1_mdp.POLICY.size + rays,)
    assert spec.single_state_space.shape == (go1_mdp.CRITIC.size + rays,)
    assert spec.metadata["height_scan"]["shape"] == [11, 7] and spec.metadata["commands"]["vx"] == [0.0, 1.0]
    assert spec.advance.__self__.events.commands.vx == (0.0, 1.0)  # the flat task's settings reach it too
    assert tasks.spec("go1-rough").observations.terms[-1].size == 187  # the registered task is untouched


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--env.terrain.proportions", "flat", "0.5", "boxes", "0.4"],
         "env.terrain.proportions: they add up to 0.9, which is not allowed; must add up to 1"),
        (["--env.terrain.step-height", "-0.05", "0.2"],
         "env.terrain.step_height: (-0.05, 0.2) is not allowed; must be (easiest, hardest) with 0 <= easiest"),
        (["--env.height-scan.size", "-1", "1"], "env.height_scan.size: (-1.0, 1.0) gives a grid with no rays"),
        (["--env.terrain.proportions", "lava", "1"], "env.terrain.proportions: 'lava' is not a terrain type"),
        (["--env.terrain.platform", "1"], "env.terrain.platform: 1.0 is not allowed; the reset's +-0.5 m"),
        (["--env.terrain.lava", "1"], "env.terrain.lava: unknown key; allowed: num_levels, num_columns, proportions"),
    ],
)  # fmt: skip
def test_bad_terrain_input_is_one_line_before_any_world_is_built(train_script, monkeypatch, capsys, tmp_path, argv,
                                                                 message):  # fmt: skip
    monkeypatch.setattr(train_script.tasks, "make", lambda *args, **kwargs: pytest.fail("a world was built"))
    monkeypatch.setattr(sys, "argv", ["train.py", "--task", "go1-rough", "--runs-dir", str(tmp_path / "runs"), *argv])
    with pytest.raises(SystemExit) as done:
        train_script.main()
    err = capsys.readouterr().err.strip()
    assert done.value.code == 2 and err.startswith(f"error: {message}") and "\n" not in err, err
    assert not (tmp_path / "runs").exists()


@pytest.fixture
def rough_run(train_script, tmp_path):
    """A run folder as train.py leaves it for --resume (launch.yaml from its own writer, a checkpoint file)."""
    from launch.training.run_files import launch_record

    args, _ = train_script.parse(FLAGS)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"")
    (tmp_path / "config.yaml").write_text("{}")
    (tmp_path / "launch.yaml").write_text(yaml.safe_dump(launch_record(args, "cpu", "torch")))
    return tmp_path, args


def test_launch_yaml_keeps_the_terrain_and_a_resume_restores_it(train_script, rough_run):
    from launch.training.resume import resumed

    run, args = rough_run
    saved = yaml.safe_load((run / "launch.yaml").read_text())["env"]
    assert saved["terrain"]["proportions"] == [["flat", 0.5], ["pyramid_stairs", 0.5]]
    assert saved["terrain"]["max_init_level"] == 1 and saved["height_scan"]["size"] == [1.0, 0.6]
    again, overrides = train_script.parse(["--resume", str(run), "--timesteps", "64"])
    original, _, _ = resumed(again, overrides)
    assert original.env == args.env and original.task == "go1-rough"
    changed, overrides = train_script.parse(["--resume", str(run), "--env.terrain.proportions", "flat", "1"])
    with pytest.raises(ValueError, match=r"^--resume: --env.terrain.proportions flat 1.0 cannot change a resumed run"):
        resumed(changed, overrides)


def test_a_rough_run_from_before_its_configuration_still_resumes():
    launch = {"task": "go1-rough", "env": {"max_episode_steps": 1000, "reset_noise_scale": 0.0, "nconmax": 96}}
    assert tasks.config("go1-rough", task_flags.saved_env(launch)) == tasks.config("go1-rough")
    with pytest.raises(ValueError, match=r"^env.reset_noise_scale: unknown key"):  # a noise it never had: refused
        tasks.config("go1-rough", {"reset_noise_scale": 0.1})


def test_play_bench_and_terrain_take_the_same_flags(rough_run, monkeypatch, capsys):
    run, args = rough_run
    play_script = _load("play")
    played = play_script.parse(["--run", str(run), "--env.terrain.num-levels", "4"])
    assert played.env == dataclasses.replace(args.env, terrain=dataclasses.replace(TERRAIN, num_levels=4))
    assert play_script.parse(["--run", str(run)]).env == args.env  # the run's own terrain by default

    bench_script = _load("bench")
    benched = bench_script.parse([*FLAGS, "--num-envs", "2"])
    assert benched.env == args.env
    commands = []
    monkeypatch.setattr(bench_script.subprocess, "run", lambda command, **kwargs: commands.append(command) or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        bench_script.measure_in_child(benched, "go1-rough", "warp", 2)
    assert bench_script.parse(commands[0][2:]).env == args.env  # the child parses back the same configuration

    terrain_script = _load("terrain")
    pictured = terrain_script.parse([*FLAGS, "--output", str(run / "terrain.png")])
    assert pictured.env == args.env
    drawn = []
    monkeypatch.setattr(terrain_script, "render_terrain", lambda config, *rest: drawn.append(config))
    assert terrain_script.main(pictured) == str(run / "terrain.png") and drawn == [TERRAIN]
    with pytest.raises(ValueError, match=r"^--task: 'go1-flat' has no terrain; choose a rough task"):
        terrain_script.parse(["--task", "go1-flat"])
    with pytest.raises(ValueError, match=r"^env.terrain.num_levels: 0 is not allowed"):
        terrain_script.parse(["--env.terrain.num-levels", "0"])
