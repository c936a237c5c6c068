"""sim2sim for legged robots (go1-flat, g1-flat): the observation an exported policy gets in plain C MuJoCo is
computed from its metadata alone (envs/policy_observation.py); it equals the training engine's for the same state
and task state, and sim2sim runs the file with commands and reports tracking error and falls, no torch, JAX or
Warp imported."""

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import tasks
from envs.mujoco_world import MujocoWorld
from envs.policy_observation import MujocoSensors, PolicyObservation
from envs.task_metadata import task_metadata
from tests.launch_scripts import load_launch_script, run_launch_script
from toolkit.runner_base import runner_class
from toolkit.runner_cfg import load_yaml

ROOT = Path(__file__).resolve().parents[1]
WORLDS = 2


def _load(name):
    return load_launch_script(name)


class _Spaces:
    def __init__(self, spec):
        self.observation_space, self.action_space = spec.single_observation_space, spec.single_action_space
        self.num_envs, self.device, self.framework = 1, "cpu", "torch"

    def close(self):
        pass


def _export(task: str, folder) -> str:
    """The task's default torch PPO, freshly initialised (behaviour is not the point), exported with its metadata."""
    spec = tasks.spec(task)
    cfg = copy.deepcopy(load_yaml(str(spec.agent_cfg)))
    cfg["trainer"].update(close_environment_at_exit=False, headless=True)
    agent = runner_class("torch")(_Spaces(spec), cfg).agent
    agent.enable_training_mode(False, apply_to_models=True)
    return agent.export(str(folder), formats=["onnx"], metadata=task_metadata(spec))["onnx"]


def _quiet(task: str):
    """The task without observation noise (the robot's observation has none of training's)."""
    return dataclasses.replace(tasks.spec(task), observations=tasks.spec(task).observations.without_noise())


@pytest.fixture(scope="module")
def go1_policy(tmp_path_factory):
    return _export("go1-flat", tmp_path_factory.mktemp("go1"))


def _metadata(path: str) -> dict:
    return _load("sim2sim").OnnxPolicy(path).metadata  # as sim2sim reads it: from the ONNX file's metadata_props


@pytest.mark.parametrize("task", ["go1-flat", "g1-flat"])
def test_first_observation_from_the_metadata_equals_the_training_engines_for_the_same_state_and_command(task, tmp_path):
    """MuJoCo Warp's noise-free observation (after its reset, and after one step with random actions: commands
    drawn, a last action) equals the one sim2sim computes from the exported file's metadata for the same qpos,
    qvel, command and last action, to float32 precision."""
    quiet = _quiet(task)
    env = tasks.make(task, "warp", num_envs=WORLDS, seed=3, observations=quiet.observations)
    metadata = _metadata(_export(task, tmp_path))
    world = MujocoWorld(quiet)
    sensors, observe = MujocoSensors(world.model, metadata["action"]["joints"]), PolicyObservation(metadata)
    reset_observations, _ = env.reset()
    after_reset = env.state_dict()
    actions = torch.as_tensor(
        np.random.default_rng(0).uniform(-1, 1, (WORLDS, env.single_action_space.shape[0])), dtype=torch.float32
    )
    stepped_observations, *_ = env.step(actions)
    after_step = env.state_dict()
    for observations, state in ((reset_observations, after_reset), (stepped_observations, after_step)):
        for index in range(WORLDS):
            task_state = {
                name[len("task.") :]: value[index] for name, value in state.items() if name.startswith("task.")
            }
            own = world.set_state(state["qpos"][index], state["qvel"][index], task_state)
            observe.reset()
            mine = observe(sensors.read(world.data), task_state["command"], task_state["last_action"])
            assert mine.shape == own.shape == (1, metadata["observation"]["size"]) and mine.dtype == np.float32
            np.testing.assert_allclose(mine[0], np.asarray(observations[index]), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(
                own[0], np.asarray(observations[index]), rtol=1e-5, atol=1e-5
            )  # the task's table in numpy
    assert np.abs(after_step["task.last_action"]).max() > 0.5 and np.abs(after_step["task.command"]).max() > 0.05


def test_sim2sims_observation_is_the_tasks_own_along_an_episode(go1_policy):
    """Through an episode in sim2sim's loop (commands drawn and redrawn, last actions, joint targets from the
    metadata), the observation fed to the policy equals the task's own noise-free observation table evaluated in
    numpy on the same world; the joint targets equal the task's mapping of the action."""
    sim2sim = _load("sim2sim")
    policy = sim2sim.OnnxPolicy(go1_policy)
    world = MujocoWorld(_quiet("go1-flat"), seed=1)
    args = sim2sim.Sim2SimArgs(policy=go1_policy)
    controller = sim2sim.LeggedController(policy.metadata, world, args)
    controller.commands.spec = {**controller.commands.spec, "resample_s": [0.1, 0.2]}  # redraw within the test's steps
    observation = controller.reset(world)
    commands, rng = set(), np.random.default_rng(2)
    for _ in range(30):
        np.testing.assert_allclose(observation, world.observation(), rtol=1e-6, atol=1e-6)
        commands.add(tuple(controller.command()))
        action = rng.normal(0.0, 0.5, 12)
        observation, (_, _, terminated, _, _), errors = controller.step(world, action)
        np.testing.assert_allclose(world.data.ctrl, world.ctrl_offset + world.ctrl_scale * np.clip(action, -10, 10))
        assert np.isfinite(errors).all() and min(errors) >= 0
        if terminated:
            break
    assert len(commands) >= 3


def test_velocity_commands_follow_the_metadatas_ranges_or_are_held():
    sim2sim = _load("sim2sim")
    spec = tasks.spec("go1-flat").metadata["commands"]
    drawn = sim2sim.CommandSource(spec, np.random.default_rng(0))
    seen = [drawn.reset().copy()] + [drawn.advance(0.5).copy() for _ in range(400)]
    seen = np.unique(np.array(seen), axis=0)
    assert 15 < len(seen) < 60  # drawn again every 5-10 s: 200 s gives ~27 commands
    for column, name in enumerate(("vx", "vy", "wz")):
        assert spec[name][0] <= seen[:, column].min() and seen[:, column].max() <= spec[name][1]
    held = sim2sim.CommandSource(spec, np.random.default_rng(0), fixed=(0.5, 0.0, -0.2))
    assert held.reset().tolist() == [0.5, 0.0, -0.2] and held.advance(20.0).tolist() == [0.5, 0.0, -0.2]


def test_sim2sim_runs_an_exported_go1_policy_without_torch_jax_or_warp(go1_policy, tmp_path):
    sim2sim = [sys.executable, str(ROOT / "launch" / "sim2sim.py"), "--policy", go1_policy]
    # at training's solver (4 Newton iterations): from 60 resets no episode blows up (the reset lifts the base so that
    # the joint noise puts no foot into the floor; before it, C MuJoCo blew up from 9 of 60)
    result = subprocess.run(
        [*sim2sim, "--episodes", "60", "--max-steps", "10", "--command", "0.5", "0", "0.2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["imported_frameworks"] == []  # sys.modules of the process that ran the policy
    assert summary["task"] == "go1-flat" and summary["episodes"] == 60 and summary["command"] == [0.5, 0.0, 0.2]
    assert all(0 < length <= 10 for length in summary["lengths"]) and summary["unstable"] == 0
    assert summary["falls"] == summary["terminated"]
    assert len(summary["tracking_error_lin"]) == len(summary["tracking_error_yaw"]) == 60
    assert all(
        np.isfinite(error) and error >= 0 for error in summary["tracking_error_lin"] + summary["tracking_error_yaw"]
    )
    assert "tracking error" in lines[-2] and "falls" in lines[-2]
    # a video of the robot with its visual meshes (a few frames: software rendering takes seconds per frame here)
    video = tmp_path / "go1.mp4"
    result = subprocess.run(
        [*sim2sim, "--episodes", "1", "--max-steps", "3", "--video", str(video), "--width", "96", "--height", "72"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["video_frames"] == summary["lengths"][0] == 3 and video.stat().st_size > 0


def test_sim2sim_legged_input_errors_are_one_line(go1_policy, tmp_path):
    metadata = _metadata(go1_policy)
    bad = copy.deepcopy(metadata)
    bad["observation"]["terms"][0]["name"] = "height_scan"
    with pytest.raises(
        ValueError, match="^observation.terms: 'height_scan' is not a term sim2sim computes; known: base_lin_vel"
    ):
        PolicyObservation(bad)
    bad = copy.deepcopy(metadata)
    bad["observation"]["terms"][0]["size"] = 4
    with pytest.raises(ValueError, match="^observation.terms: sizes add up to 49, not observation.size 48$"):
        PolicyObservation(bad)
    bad = copy.deepcopy(metadata)
    bad["action"]["joints"][0] = "FR_wheel_joint"
    with pytest.raises(ValueError, match="^action.joints: 'FR_wheel_joint' is not a joint of the model$"):
        MujocoSensors(MujocoWorld(tasks.spec("go1-flat")).model, bad["action"]["joints"])
    sim2sim = _load("sim2sim")
    with pytest.raises(
        ValueError, match=r"^--solver-iterations: \[0, 5\] is not allowed; must be two positive integers$"
    ):
        sim2sim.sim2sim(sim2sim.Sim2SimArgs(policy=go1_policy, solver_iterations=(0, 5)))
    cartpole = _export("cartpole", tmp_path)
    result = run_launch_script("sim2sim", "--policy", cartpole, "--command", "1", "0", "0", timeout=300)
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "error: --command: [1.0, 0.0, 0.0] is not allowed; task 'cartpole' takes no commands"
    )


def test_with_history_the_policy_reads_its_last_observations_oldest_first(go1_policy):
    """The task layer's convention (TaskSpec.observation_history): whole observation vectors, oldest first, the
    episode's first one repeated at reset."""
    metadata = copy.deepcopy(_metadata(go1_policy))
    metadata["observation"]["history_length"] = 3
    metadata["observation"]["size"] *= 3
    single = metadata["observation"]["size"] // 3
    observe = PolicyObservation(metadata)
    world = MujocoWorld(tasks.spec("go1-flat"))
    world.reset()
    reading = MujocoSensors(world.model, metadata["action"]["joints"]).read(world.data)
    observe.reset()
    frames = [observe(reading, np.zeros(3), np.full(12, value))[0] for value in (1.0, 2.0, 3.0)]
    first, last = frames[0].reshape(3, single), frames[-1].reshape(3, single)
    np.testing.assert_array_equal(first[0], first[2])  # filled with the first vector at an episode's start
    np.testing.assert_array_equal(first[:, -12:], np.full((3, 12), 1.0))  # last_action is the last term
    np.testing.assert_array_equal(last[:, -12:], np.repeat([[1.0], [2.0], [3.0]], 12, axis=1))
    observe.reset()
    np.testing.assert_array_equal(observe(reading, np.zeros(3), np.full(12, 5.0))[0].reshape(3, single)[:, -12:], 5.0)


def test_go1_metadata_carries_what_a_robot_side_program_needs(go1_policy):
    metadata = _metadata(go1_policy)
    action = metadata["action"]
    assert action["target"] == "joint_position" and action["joints"][:3] == [
        "FR_hip_joint",
        "FR_thigh_joint",
        "FR_calf_joint",
    ]
    assert action["offset"] == action["default_joint_pos"] == [0.0, 0.9, -1.8] * 4 and action["scale"] == [0.25] * 12
    assert action["stiffness"] == [35.0] * 12 and action["damping"] == [0.5] * 12
    assert metadata["control"]["period"] == pytest.approx(0.02) and metadata["control"]["frame_skip"] == 5
    assert metadata["model"]["builder"] == "tasks.go1_flat.robot.model_spec" and metadata["robot"] == "unitree_go1"
    commands = metadata["commands"]
    assert (
        commands["names"] == ["vx", "vy", "wz"]
        and commands["vx"] == [-1.0, 1.0]
        and commands["resample_s"] == [5.0, 10.0]
    )
    terms = {term["name"]: term for term in metadata["observation"]["terms"]}
    assert list(terms) == [
        "base_lin_vel",
        "base_ang_vel",
        "projected_gravity",
        "command",
        "joint_pos",
        "joint_vel",
        "last_action",
    ]
    assert terms["joint_vel"]["scale"] == 0.05 and terms["joint_vel"]["clip"] is None and terms["command"]["start"] == 9


def test_a_step_that_blows_up_ends_the_episode_as_unstable():
    """C MuJoCo resets the data of a simulation whose accelerations blow up; the world reports the step as
    unstable and ends the episode there instead of carrying on from the reset state."""
    world = MujocoWorld(tasks.spec("cartpole"))
    world.reset()
    world.set_state(world.data.qpos.copy(), np.full(world.model.nv, 1e12))
    _, _, terminated, _, info = world.step([0.0])
    assert terminated and info["unstable"] and not info["finite"]
    _, _, terminated, _, info = world.step([0.0])
    assert not info["unstable"]
