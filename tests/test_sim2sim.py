"""launch/sim2sim.py and envs.MujocoWorld: an exported policy in plain C MuJoCo, observations from the task's own
terms in numpy, no torch, JAX or Warp imported."""

import copy
import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import tasks
from envs.mujoco_world import MujocoWorld
from envs.task_metadata import task_metadata
from tests.launch_scripts import load_launch_script, run_launch_script
from toolkit.runner_base import runner_class
from toolkit.runner_cfg import load_yaml

GYMNASIUM_TASKS = [
    "inverted-pendulum",
    "inverted-double-pendulum",
    "hopper",
    "walker2d",
    "half-cheetah",
    "ant",
    "humanoid",
    "reacher",
]


def _load(name):
    return load_launch_script(name)


class _Spaces:
    def __init__(self, spec, num_envs=1):
        self.observation_space, self.action_space = spec.single_observation_space, spec.single_action_space
        self.num_envs, self.device, self.framework = num_envs, "cpu", "torch"

    def close(self):
        pass


@pytest.fixture(scope="module")
def recurrent_policy(tmp_path_factory):
    """cartpole-pomdp's default torch PPO_RNN (untrained, normaliser statistics set), exported with its metadata."""
    spec = tasks.spec("cartpole-pomdp")
    cfg = copy.deepcopy(load_yaml(str(spec.agent_cfg)))
    cfg["trainer"].update(close_environment_at_exit=False, headless=True)
    agent = runner_class("torch")(_Spaces(spec), cfg).agent
    with torch.no_grad():
        for parameter in agent.policy.parameters():
            parameter.mul_(3.0)  # an untrained head outputs ~0; make the actions and the state matter
        agent._observation_preprocessor.running_variance.fill_(0.01)
    agent.enable_training_mode(False, apply_to_models=True)
    folder = tmp_path_factory.mktemp("exported")
    return agent, agent.export(str(folder), formats=["onnx"], metadata=task_metadata(spec))["onnx"]


@pytest.mark.parametrize(
    "task,backend",
    [(task, "warp") for task in ["cartpole", "cartpole-pomdp", *GYMNASIUM_TASKS]]
    + [("cartpole", "mjx"), ("cartpole-pomdp", "mjx")],
)  # MJX compiles the others' RK4 steps for minutes
def test_first_observation_equals_the_training_engines_for_the_same_state(task, backend):
    env = tasks.make(task, backend, num_envs=3, seed=5)
    observations, _ = env.reset()
    state = env.state_dict()
    world = MujocoWorld(tasks.spec(task))
    for index in range(env.num_envs):
        mine = world.set_state(state["qpos"][index], state["qvel"][index])
        assert mine.shape == (1, *env.single_observation_space.shape) and mine.dtype == np.float32
        np.testing.assert_allclose(mine[0], np.asarray(observations[index]), rtol=1e-5, atol=1e-5)


def test_a_world_steps_and_ends_episodes_as_the_task_says():
    world = MujocoWorld(tasks.spec("cartpole"), seed=0)
    first = world.reset()
    assert np.abs(first).max() <= 0.05  # cartpole's reset noise
    steps, terminated = 0, False
    while not terminated:  # pushing one way tips the pole within a few dozen steps
        _, reward, terminated, truncated, _ = world.step([1.0])
        steps += 1
        assert reward == (0.0 if terminated else 1.0) and not truncated
    assert 5 < steps < 200 and world.episode_length == steps and world.episode_return == steps - 1


def test_sim2sim_policy_carries_the_recurrent_state_as_the_agent_does(recurrent_policy):
    agent, path = recurrent_policy
    sim2sim = _load("sim2sim")
    policy = sim2sim.OnnxPolicy(path)
    policy.reset()
    agent.reset_rnn_states()
    observations = np.random.default_rng(0).normal(0, 0.2, (8, 1, 2)).astype(np.float32)
    for obs in observations:
        _, outputs = agent.act(torch.as_tensor(obs), None, timestep=0, timesteps=0)
        no = torch.zeros(1, dtype=torch.bool)
        agent.record_transition(
            observations=None,
            states=None,
            actions=None,
            rewards=None,
            next_observations=None,
            next_states=None,
            terminated=no,
            truncated=no,
            infos={},
            timestep=0,
            timesteps=0,
        )
        np.testing.assert_allclose(policy(obs), outputs["mean_actions"].numpy(), atol=1e-5)
    assert np.abs(policy.states["h_in"]).max() > 0.1


def test_sim2sim_runs_the_file_without_torch_jax_or_warp_and_records_a_video(recurrent_policy, tmp_path):
    _, path = recurrent_policy
    video = tmp_path / "sim2sim.mp4"
    result = run_launch_script(
        "sim2sim",
        "--policy",
        path,
        "--episodes",
        "2",
        "--max-steps",
        "40",
        "--video",
        str(video),
        "--width",
        "160",
        "--height",
        "120",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["imported_frameworks"] == []  # sys.modules of the process that ran the policy
    assert summary["task"] == "cartpole-pomdp" and summary["episodes"] == 2
    assert all(0 < length <= 40 for length in summary["lengths"])
    assert summary["video_frames"] == summary["lengths"][0] and video.stat().st_size > 0


def test_sim2sim_errors_are_one_line(tmp_path):
    result = run_launch_script("sim2sim", "--policy", str(tmp_path / "none.onnx"), timeout=300)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: --policy: {tmp_path / 'none.onnx'} does not exist; export a run with launch/export.py --run RUN"
    )


@pytest.mark.slow
def test_a_trained_cartpole_policy_balances_in_plain_mujoco_as_it_did_in_training(tmp_path):
    """Train (MuJoCo Warp, torch) until solved, export with train.py --export, then: sim2sim balances the pole for
    every one of 500 steps, and its mean return is within 5 % of play.py's on the training engine."""
    trained = run_launch_script(
        "train",
        "--task",
        "cartpole",
        "--headless",
        "--torch-threads",
        "1",
        "--runs-dir",
        str(tmp_path),
        "--export",
        timeout=900,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    assert summary["solved"]
    policy = summary["exported"][0]["onnx"]
    sim = run_launch_script("sim2sim", "--policy", policy, "--episodes", "10")
    assert sim.returncode == 0, sim.stderr[-2000:]
    sim_result = json.loads(sim.stdout.strip().splitlines()[-1])
    played = run_launch_script("play", "--run", summary["run_dir"], "--episodes", "10", "--num-envs", "10")
    assert played.returncode == 0, played.stderr[-2000:]
    play_result = json.loads(played.stdout.strip().splitlines()[-1])
    assert sim_result["lengths"] == [500] * 10 and sim_result["imported_frameworks"] == []
    assert abs(sim_result["mean_return"] - play_result["mean_return"]) <= 0.05 * play_result["mean_return"]


@pytest.mark.parametrize("task", GYMNASIUM_TASKS)
def test_sim2sim_runs_an_exported_policy_of_every_gymnasium_task(task, tmp_path):
    spec = tasks.spec(task)
    cfg = copy.deepcopy(load_yaml(str(spec.agent_cfg)))
    cfg["trainer"].update(close_environment_at_exit=False, headless=True)
    agent = runner_class("torch")(_Spaces(spec), cfg).agent
    agent.enable_training_mode(False, apply_to_models=True)
    path = agent.export(str(tmp_path), formats=["onnx"], metadata=task_metadata(spec))["onnx"]
    sim2sim = _load("sim2sim")
    result = sim2sim.sim2sim(sim2sim.Sim2SimArgs(policy=path, episodes=2, max_steps=15))
    assert result["task"] == task and result["episodes"] == 2
    assert all(0 < length <= 15 for length in result["lengths"]) and np.isfinite(result["returns"]).all()


ARM = (
    """<mujoco><compiler angle="radian"/><option timestep="0.005"/><worldbody>"""
    """<body><joint name="shoulder" type="hinge" ref="0.3"/>
<geom type="capsule" size="0.05" fromto="0 0 0 0 0 0.5"/><body pos="0 0 0.5"><joint name="elbow" type="hinge"/>
<geom type="capsule" size="0.04" fromto="0 0 0 0 0 0.4"/></body></body></worldbody>
<actuator><position name="shoulder_pd" joint="shoulder" kp="20" kv="1.5" ctrlrange="-1 1"/>
<motor name="elbow_motor" joint="elbow" gear="3" ctrlrange="-1 1"/></actuator></mujoco>"""
)


def test_task_metadata_derives_joints_and_gains_and_takes_the_tasks_own_fields(tmp_path):
    """Position actuators give PD gains (kp, kv), joints their order and default pose; a task's metadata
    (a locomotion task's command ranges, action scale and offset) is merged over what is derived."""
    from envs import TaskSpec

    (tmp_path / "arm.xml").write_text(ARM)
    extra = {
        "action": {"scale": [0.25, 1.0], "offset": [0.3, 0.0]},
        "commands": {"names": ["vx", "vy", "wz"], "ranges": [[-1, 1], [-0.5, 0.5], [-1, 1]]},
    }
    spec = TaskSpec(
        name="arm",
        mjcf=tmp_path / "arm.xml",
        observations=lambda xp, s: xp.concatenate([s.qpos, s.qvel], axis=-1),
        reward=lambda xp, s: s.qpos[:, 0] * 0,
        terminated=lambda xp, s: s.qpos[:, 0] != s.qpos[:, 0],
        single_observation_space=gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
        single_action_space=gym.spaces.Box(-1, 1, (2,), np.float32),
        max_episode_steps=100,
        reset_noise_scale=0.0,
        frame_skip=4,
        metadata=extra,
    )
    metadata = task_metadata(spec)
    action = metadata["action"]
    assert action["actuators"] == ["shoulder_pd", "elbow_motor"] and action["joints"] == ["shoulder", "elbow"]
    assert action["stiffness"] == [20.0, None] and action["damping"] == [1.5, None] and action["gear"] == [1.0, 3.0]
    assert action["default_joint_pos"] == pytest.approx([0.3, 0.0])
    assert action["scale"] == [0.25, 1.0] and action["offset"] == [0.3, 0.0] and action["low"] == [-1.0, -1.0]
    assert metadata["commands"] == extra["commands"]
    assert metadata["control"]["period"] == pytest.approx(0.02) and metadata["control"]["frequency"] == pytest.approx(
        50.0
    )
    world = MujocoWorld(spec)  # and the world runs a task of that kind
    np.testing.assert_allclose(world.reset()[0], [0.3, 0.0, 0.0, 0.0], atol=1e-7)
