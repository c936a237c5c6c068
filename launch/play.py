"""Evaluate a trained run: `python launch/play.py --run runs/cartpole/<run> [--checkpoint best|last|PATH]
[--video out.mp4] [--command VX VY WZ]`.

Runs the policy deterministically (its mean action) until `--episodes` episodes have ended and prints each one's
return and length and their means. For a velocity-command task (go1-flat, g1-flat) also each episode's tracking
error, as sim2sim.py measures it (the mean over its steps of |command_xy - v_xy| in m/s, base frame, and of
|command_wz - w_z| in rad/s), whether it ended in a fall (terminated, not a time-out), and their summary;
`--command vx vy wz` holds every world's command at that value (the task's resampling off). The task's interval
pushes are off unless `--pushes`. `--video` renders the first world's first episode offscreen with MuJoCo's renderer
(MUJOCO_GL=egl by default: the GPU's EGL, or Mesa's on a CPU machine; osmesa works too) into an mp4.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import tyro

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import envs  # noqa: E402
import tasks  # noqa: E402
from envs.task import load_model  # noqa: E402
from envs.video import VideoRecorder  # noqa: E402
from launch import jax_cache, task_flags  # noqa: E402
from launch.episode_report import episode_lines  # noqa: E402
from launch.training.ranks import choose_device  # noqa: E402
from tasks.locomotion.evaluation import (  # noqa: E402
    TRACKING_ERROR,
    hold_command,
    takes_commands,
    with_tracking_error,
    without_pushes,
)
from toolkit.cli import run_main  # noqa: E402
from toolkit.registry import env_framework, runner_class  # noqa: E402
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
    jax_cache_dir: Annotated[str | None, tyro.conf.arg(help=jax_cache.HELP)] = jax_cache.DEFAULT_DIR
    command: tuple[float, float, float] | None = None
    """hold this velocity command (vx, vy m/s in the base frame, yaw rate rad/s); default: drawn as in training"""
    pushes: bool = False
    """apply the task's interval pushes, as in training (off by default: a clean evaluation, as sim2sim.py's)"""
    max_steps: int | None = None
    """cut episodes at this many steps (a time-out; default: the task's time limit; as --env.max-episode-steps)"""
    env: Annotated[tasks.TaskConfig | None, tyro.conf.AvoidSubcommands] = None
    """the task's settings (None: the run's own, from its launch.yaml); the interval pushes are --pushes'"""


def check_video_path(path: str) -> None:
    """--video is checked before any episode runs, so that a bad path never costs the evaluation."""
    folder = os.path.dirname(os.path.abspath(path))
    if not path.endswith(".mp4"):
        raise ValueError(f"--video: {path!r} is not allowed; expected a file name ending in .mp4")
    if (
        os.path.isdir(path)
        or not os.path.isdir(folder)
        or not os.access(folder, os.W_OK)
        or (os.path.exists(path) and not os.access(path, os.W_OK))
    ):
        reason = (
            "it is a folder"
            if os.path.isdir(path)
            else f"{folder} does not exist"
            if not os.path.isdir(folder)
            else "it cannot be written here (permissions)"
        )
        raise ValueError(f"--video: {path!r} is not allowed; {reason}")


def checkpoint_path(run_dir: str, checkpoint: str) -> str:
    path = (
        checkpoint if checkpoint not in ("best", "last") else os.path.join(run_dir, "checkpoints", f"{checkpoint}.pt")
    )
    if not os.path.isfile(path):
        raise ValueError(f"--checkpoint: {path} does not exist; choose best, last or the path of a checkpoint file")
    return path


def play(args: PlayArgs) -> dict:
    """Run the run's checkpoint for `args.episodes` episodes; returns their returns, lengths and falls (with tracking
    errors for a commanded task, and the video's path with --video)."""
    _check_args(args)
    launch = load_yaml(os.path.join(args.run, "launch.yaml"))
    task, commanded = _evaluation_task(args, launch)
    path = checkpoint_path(args.run, args.checkpoint)
    env, agent = _env_and_agent(args, launch, task, path)
    recorder = None
    if args.video:
        task = env.unwrapped.task  # the model with a robot's visual meshes (training drops them), at the control rate
        recorder = VideoRecorder(
            load_model(task, render=True), args.video, args.width, args.height, args.camera, fps=1.0 / env.unwrapped.dt
        )
    episodes = _run_episodes(args, env, agent, recorder, commanded)
    result = {"run_dir": args.run, "checkpoint": path, "task": task.name, **_summary(args, episodes, commanded)}
    if recorder is not None:
        result.update(
            video=recorder.write(),
            video_frames=len(recorder.frames),
            video_fps=recorder.fps,
            video_episode_length=episodes["recorded_length"],
        )
        if args.wandb:
            _log_video(args.run, launch, result["video"], recorder.fps)
    return result


def _check_args(args: PlayArgs) -> None:
    if args.episodes < 1 or args.num_envs < 1:
        raise ValueError(
            f"--episodes / --num-envs: {args.episodes} / {args.num_envs} are not allowed; must be positive"
        )
    if args.max_steps is not None and args.max_steps < 1:
        raise ValueError(f"--max-steps: {args.max_steps} is not allowed; must be positive")
    if args.video and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise ValueError("--video: the imageio-ffmpeg package is not installed; pip install -e '.[video]'")
    if args.video:
        check_video_path(args.video)


def _evaluation_task(args: PlayArgs, launch: dict):
    """The task as the run trained it, with this command's --env.* flags, --max-steps, pushes off unless --pushes,
    and (legged tasks) the held --command and the tracking error summed per world; returns (task, commanded)."""
    config = args.env or tasks.config(launch["task"], task_flags.saved_env(launch))
    task = tasks.spec(launch["task"], config)
    commanded = takes_commands(task)
    if args.command is not None and not commanded:
        raise ValueError(f"--command: {list(args.command)} is not allowed; task {task.name!r} takes no commands")
    if args.max_steps is not None:
        task = dataclasses.replace(task, max_episode_steps=args.max_steps)
    if not args.pushes:
        task = without_pushes(task)
    if commanded:  # each world's tracking error summed on the device, read where its episode ends
        task = with_tracking_error(task if args.command is None else hold_command(task, args.command))
    return task, commanded


def _env_and_agent(args: PlayArgs, launch: dict, task, path: str):
    """The worlds (seeded apart from training's) and the run's agent loaded from `path`, in evaluation mode."""
    cfg = load_yaml(os.path.join(args.run, "config.yaml"))
    framework = launch.get("framework", "torch")
    device = choose_device(args.device, launch["backend"], framework, args.jax_cache_dir)
    env = envs.wrap_env(
        envs.make_engine(task, launch["backend"], args.num_envs, device, launch["seed"] + 1), env_framework(framework)
    )
    cfg["trainer"].update(headless=True, disable_progressbar=True)
    agent = runner_class(framework)(env, cfg).agent
    agent.load(path)
    agent.enable_training_mode(False, apply_to_models=True)
    return env, agent


def _run_episodes(args: PlayArgs, env, agent, recorder, commanded: bool) -> dict:
    """Step all worlds until `args.episodes` episodes ended; per ended episode its return, length, whether it fell
    and (commanded) its mean tracking error; world 0's first episode goes to the recorder."""
    returns, lengths, falls, tracking = [], [], [], []
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
        # an agent in evaluation mode learns nothing here; a recurrent one zeroes the state of ended worlds
        agent.record_transition(
            observations=observations,
            states=states,
            actions=actions,
            rewards=rewards,
            next_observations=next_observations,
            next_states=env.state(),
            terminated=terminated,
            truncated=truncated,
            infos=info,
            timestep=timestep,
            timesteps=0,
        )
        observations = next_observations
        ended = _host(info["_episode"])  # the one read per step: the rest only where an episode ended
        timestep += 1
        if not ended.any():
            continue
        episode_lengths = _host(info["episode"]["l"])
        if recording and ended[0]:
            recording = False
            recorded_length = int(episode_lengths[0])
        returns += _host(info["episode"]["r"])[ended].tolist()
        lengths += episode_lengths[ended].tolist()
        falls += _host(terminated)[ended].astype(bool).tolist()
        if commanded:
            tracking += (_host(info["final_task_state"][TRACKING_ERROR])[ended] / episode_lengths[ended, None]).tolist()
    return {
        "returns": returns,
        "lengths": lengths,
        "falls": falls,
        "tracking": tracking,
        "recorded_length": recorded_length,
    }


def _summary(args: PlayArgs, episodes: dict, commanded: bool) -> dict:
    returns, lengths, falls, tracking = (episodes[key] for key in ("returns", "lengths", "falls", "tracking"))
    summary = {
        "episodes": len(returns),
        "mean_return": sum(returns) / len(returns),
        "mean_length": sum(lengths) / len(lengths),
        "returns": returns,
        "lengths": lengths,
        "terminated": sum(falls),
    }
    if commanded:  # per episode, and their means: m/s (linear, base frame xy) and rad/s (yaw rate)
        summary.update(
            command=None if args.command is None else list(args.command),
            falls=sum(falls),
            fell=falls,
            tracking_error_lin=[error[0] for error in tracking],
            tracking_error_yaw=[error[1] for error in tracking],
            mean_tracking_error_lin=float(np.mean([error[0] for error in tracking])),
            mean_tracking_error_yaw=float(np.mean([error[1] for error in tracking])),
        )
    return summary


def _log_video(run: str, launch: dict, video: str, fps: float) -> None:
    """The video into the run's wandb run (resumed by its folder's name)."""
    from toolkit.loggers import WandbLogger

    name = os.path.basename(os.path.normpath(run))
    logger = WandbLogger(
        run,
        config={},
        project=launch.get("wandb_project", "simtrain"),
        entity=launch.get("wandb_entity"),
        name=name,
        run_id=name,
    )
    logger.log_video(video, fps=fps)
    logger.close()


def _host(value) -> np.ndarray:
    """A device array (torch on any device, jax) as numpy."""
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def parse(argv: list[str]) -> PlayArgs:
    """The command line as PlayArgs; `env` defaults to the run's own configuration (its launch.yaml)."""
    run = task_flags.chosen(argv, ("run",))["run"]
    saved = task_flags.run_env(run) if run else None
    default = PlayArgs(run=run or "", env=saved[1] if saved else None)
    parsed, unknown = task_flags.cli(PlayArgs, default, argv, __doc__.split("\n")[0], return_unknown_args=True)
    if unknown:
        flag = unknown[0]
        raise ValueError(task_flags.unknown_env_flag(flag, default.env) or f"{flag}: unknown flag; see --help")
    if not parsed.run:
        raise ValueError("--run: required; the folder of a run written by launch/train.py")
    return parsed


def main() -> None:
    parsed: list[PlayArgs] = []

    def work() -> dict:
        parsed.append(parse(sys.argv[1:]))
        return play(parsed[0])

    result = run_main("play", work, lambda: parsed[0].run if parsed else None)
    print("\n".join(episode_lines(result)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
