"""Evaluate a trained run: `python launch/play.py --run runs/cartpole/<run> [--checkpoint best|last|PATH]
[--video out.mp4]`.

Runs the policy deterministically (its mean action) until `--episodes` episodes have ended and prints their mean
return and length; `--video` renders the first world's first episode offscreen with MuJoCo's renderer
(MUJOCO_GL=egl by default: the GPU's EGL, or Mesa's on a CPU machine; osmesa works too) into an mp4.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass

import numpy as np
import tyro

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import envs  # noqa: E402
import tasks  # noqa: E402
from envs.task import load_model  # noqa: E402
from envs.video import VideoRecorder  # noqa: E402
from toolkit.cli import run_main  # noqa: E402
from toolkit.registry import env_framework, runner_class  # noqa: E402
from toolkit.devices import resolve_device  # noqa: E402
from toolkit.runner_cfg import load_yaml  # noqa: E402


@dataclass
class PlayArgs:
    run: str
    """run folder written by launch/train.py"""
    checkpoint: str = "best"
    """best, last, or a checkpoint file's path"""
    episodes: int = 10
    num_envs: int = 16
    stochastic: bool = False
    """sample actions instead of taking the policy's mean"""
    video: str | None = None
    """write the first world's first episode to this mp4 file"""
    width: int = 640
    height: int = 480
    camera: str | None = None
    """MJCF camera name (default: the model's first camera, else the free camera)"""
    wandb: bool = False
    """also log the video to the run's wandb run"""
    device: str | None = None


def check_video_path(path: str) -> None:
    """--video is checked before any episode runs, so that a bad path never costs the evaluation."""
    folder = os.path.dirname(os.path.abspath(path))
    if not path.endswith(".mp4"):
        raise ValueError(f"--video: {path!r} is not allowed; expected a file name ending in .mp4")
    if os.path.isdir(path) or not os.path.isdir(folder) or not os.access(folder, os.W_OK) or \
            (os.path.exists(path) and not os.access(path, os.W_OK)):
        reason = "it is a folder" if os.path.isdir(path) else f"{folder} does not exist" if not os.path.isdir(folder) \
            else "it cannot be written here (permissions)"
        raise ValueError(f"--video: {path!r} is not allowed; {reason}")


def checkpoint_path(run_dir: str, checkpoint: str) -> str:
    path = checkpoint if checkpoint not in ("best", "last") else os.path.join(run_dir, "checkpoints", f"{checkpoint}.pt")
    if not os.path.isfile(path):
        raise ValueError(f"--checkpoint: {path} does not exist; choose best, last or the path of a checkpoint file")
    return path


def play(args: PlayArgs) -> dict:
    import torch

    if args.episodes < 1 or args.num_envs < 1:
        raise ValueError(f"--episodes / --num-envs: {args.episodes} / {args.num_envs} are not allowed; must be positive")
    if args.video and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise ValueError("--video: the imageio-ffmpeg package is not installed; pip install -e '.[video]'")
    if args.video:
        check_video_path(args.video)
    launch = load_yaml(os.path.join(args.run, "launch.yaml"))
    cfg = load_yaml(os.path.join(args.run, "config.yaml"))
    path = checkpoint_path(args.run, args.checkpoint)
    framework = launch.get("framework", "torch")
    device = resolve_device(args.device, uses_jax="jax" in (framework, envs.NATIVE_FRAMEWORK.get(launch["backend"])))
    env = envs.wrap_env(tasks.make(launch["task"], launch["backend"], args.num_envs, device=device, seed=launch["seed"] + 1), env_framework(framework))
    cfg["trainer"].update(headless=True, disable_progressbar=True)
    agent = runner_class(framework)(env, cfg).agent
    agent.load(path)
    agent.enable_training_mode(False, apply_to_models=True)
    recorder = None
    if args.video:
        task = env.unwrapped.task  # the model with a robot's visual meshes (training drops them), at the control rate
        recorder = VideoRecorder(load_model(task, render=True), args.video, args.width, args.height, args.camera,
                                 fps=1.0 / env.unwrapped.dt)

    returns, lengths = [], []
    observations, _ = env.reset()
    recording = recorder is not None
    recorded_length = None
    timestep = 0
    while len(returns) < args.episodes:
        if recording:
            state = env.unwrapped.state_dict()
            recorder.capture(state["qpos"][0], state["qvel"][0])
        states = env.state()  # the critic's privileged observations (None for tasks without them)
        actions, outputs = agent.act(observations, states, timestep=timestep, timesteps=0)
        actions = actions if args.stochastic else outputs["mean_actions"]
        next_observations, rewards, terminated, truncated, info = env.step(actions)
        # an agent in evaluation mode learns nothing here; a recurrent one zeroes the state of worlds whose episode ended
        agent.record_transition(observations=observations, states=states, actions=actions, rewards=rewards,
                                next_observations=next_observations, next_states=env.state(), terminated=terminated,
                                truncated=truncated, infos=info, timestep=timestep, timesteps=0)
        observations = next_observations
        ended = info["_episode"]
        if recording and bool(ended[0]):
            recording = False
            recorded_length = int(info["episode"]["l"][0])
        ended = np.asarray(ended)
        returns += np.asarray(info["episode"]["r"])[ended].tolist()
        lengths += np.asarray(info["episode"]["l"])[ended].tolist()
        timestep += 1
    result = {"run_dir": args.run, "checkpoint": path, "episodes": len(returns),
              "mean_return": sum(returns) / len(returns), "mean_length": sum(lengths) / len(lengths)}
    if recorder is not None:
        result.update(video=recorder.write(), video_frames=len(recorder.frames), video_fps=recorder.fps,
                      video_episode_length=recorded_length)
        if args.wandb:
            from toolkit.loggers import WandbLogger

            name = os.path.basename(os.path.normpath(args.run))
            logger = WandbLogger(args.run, config={}, project=launch.get("wandb_project", "simtrain"),
                                 entity=launch.get("wandb_entity"), name=name, run_id=name)
            logger.log_video(result["video"], fps=recorder.fps)
            logger.close()
    return result


def main() -> None:
    args = tyro.cli(PlayArgs, description=__doc__.split("\n")[0])
    result = run_main("play", lambda: play(args), lambda: args.run)
    print(f"{result['episodes']} episodes: mean return {result['mean_return']:.1f}, mean length {result['mean_length']:.1f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
