"""Train a registered task: `python launch/train.py --task cartpole --backend warp`.

Writes runs/<task>/<time>_<name>/ (config.yaml, launch.yaml, metrics.jsonl, checkpoints/) and prints, as its
last line, one JSON object for scripts and cluster jobs. Any key of the agent configuration can be overridden
with a dotted flag: `--agent.learning_rate 1e-3`, `--models.policy.hiddens [64,64]`, `--trainer.timesteps 5000`.
SIGTERM or SIGUSR1 write a checkpoint and end the run cleanly; `--resume RUN_DIR` continues it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Annotated

import tyro
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout too

import envs  # noqa: E402
import tasks  # noqa: E402
from toolkit.checkpoint import CheckpointError  # noqa: E402
from toolkit.config import ConfigError  # noqa: E402
from toolkit.runner_base import FRAMEWORKS, runner_class  # noqa: E402
from toolkit.run_dir import JsonlMetrics, new_run_dir, write_yaml  # noqa: E402
from toolkit.runner_cfg import SECTIONS as OVERRIDE_SECTIONS  # noqa: E402
from toolkit.runner_cfg import load_yaml, parse_runner_cfg, resolved_yaml  # noqa: E402

TASK_HELP = f"task to train; one of: {', '.join(tasks.names())}"


@dataclass
class TrainArgs:
    task: Annotated[str, tyro.conf.arg(help=TASK_HELP, metavar="{" + ",".join(tasks.names()) + "}")] = "cartpole"
    backend: Annotated[str, tyro.conf.arg(metavar="{warp,mjx}")] = "warp"
    """simulation engine: warp (MuJoCo Warp) or mjx (MuJoCo XLA)"""
    framework: Annotated[str | None, tyro.conf.arg(metavar="{torch,jax}")] = None
    """agent framework (default: the engine's own, torch for warp and jax for mjx; any pairing works, zero copy)"""
    num_envs: int | None = None
    """number of simulated worlds (default: the task's)"""
    timesteps: int | None = None
    """vectorized steps to train for (default: the task's agent config)"""
    seed: int = 42
    device: str | None = None
    """cpu, cuda or cuda:K (default: cuda if available, else cpu)"""
    headless: bool = False
    """no rendering; plain periodic progress lines instead of a progress bar"""
    experiment_name: str = ""
    """suffix of the run folder's name"""
    stop_when_solved: bool = True
    """stop once the mean episode return reaches the task's solved threshold"""
    torch_threads: int = 2
    """torch CPU threads (on a busy shared machine 1 can be faster)"""
    runs_dir: str = "runs"
    agent_cfg: str | None = None
    """agent configuration in the Runner's YAML format (default: the task's)"""
    resume: str | None = None
    """a run folder to continue from its last checkpoint (its task, backend, world count and config)"""
    wandb: bool = False
    """log metrics and config to wandb (offline, in the run folder, when there is no API key or network)"""
    wandb_project: str = "simtrain"
    wandb_entity: str | None = None
    tensorboard: bool = False
    """write TensorBoard scalars to the run folder"""


def validate(args: TrainArgs) -> None:
    tasks.spec(args.task)
    if args.backend not in envs.BACKENDS:
        raise ValueError(f"--backend: {args.backend!r} is not allowed; choose one of {', '.join(envs.BACKENDS)}")
    for flag, value in (("--num-envs", args.num_envs), ("--timesteps", args.timesteps)):
        if value is not None and value < 1:
            raise ValueError(f"{flag}: {value} is not allowed; must be a positive integer")
    if args.framework is not None and args.framework not in FRAMEWORKS:
        raise ValueError(f"--framework: {args.framework!r} is not allowed; choose one of {', '.join(FRAMEWORKS)}")
    if args.torch_threads < 1:
        raise ValueError(f"--torch-threads: {args.torch_threads} is not allowed; must be a positive integer")


def parse_overrides(unknown: list[str]) -> dict[tuple[str, ...], object]:
    """`--section.key[.key] value` (or `=value`) pairs -> {(section, key, ...): value}; values are YAML."""
    overrides, index = {}, 0
    while index < len(unknown):
        flag = unknown[index]
        name, has_value, value = flag.partition("=")
        if not has_value:
            index += 1
            value = unknown[index] if index < len(unknown) else None
        path = tuple(name.lstrip("-").replace("-", "_").split("."))
        if not flag.startswith("--") or path[0] not in OVERRIDE_SECTIONS or len(path) < 2 or value is None:
            raise ValueError(f"{flag}: unknown flag; see --help, or override a configuration key as "
                             f"--<{'|'.join(OVERRIDE_SECTIONS)}>.<key> <value>")
        overrides[path] = _parse_value(value)
        index += 1
    return overrides


def _parse_value(text: str):
    value = yaml.safe_load(text)
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
        try:
            return float(text)
        except ValueError:
            return value
    return value


def apply_overrides(cfg: dict, overrides: dict[tuple[str, ...], object]) -> None:
    for path, value in overrides.items():
        node = cfg
        for key in path[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"--{'.'.join(path)}: {key} is not a section of the configuration")
        node[path[-1]] = value


def train(args: TrainArgs, overrides: dict | None = None) -> dict:
    import torch

    if args.resume:
        args, cfg, run_dir = _resumed(args)
    else:
        validate(args)
        cfg, run_dir = _new_run(args, overrides or {})
    framework = args.framework or envs.NATIVE_FRAMEWORK[args.backend]
    Runner = runner_class(framework)
    if args.timesteps is not None:
        cfg["trainer"]["timesteps"] = args.timesteps
    cfg["trainer"].update(headless=args.headless, disable_progressbar=True if args.headless else None)
    resolved = resolved_yaml(parse_runner_cfg(cfg, Runner.resolve_class))  # a configuration error ends the command here
    torch.set_num_threads(args.torch_threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    spec = tasks.spec(args.task)
    env = envs.wrap_env(tasks.make(args.task, args.backend, args.num_envs, device=device, seed=args.seed), framework)
    runner = Runner(env, cfg)
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    write_yaml(os.path.join(run_dir, "config.yaml"), resolved)
    write_yaml(os.path.join(run_dir, "launch.yaml"), {**dataclasses.asdict(args), "resume": None, "device": device,
                                                      "framework": framework})
    if args.resume:
        runner.trainer.restore(os.path.join(run_dir, "checkpoints", "last.pt"))

    loggers = [JsonlMetrics(os.path.join(run_dir, "metrics.jsonl"))]
    if args.wandb:
        from toolkit.loggers import WandbLogger

        loggers.append(WandbLogger(run_dir, config={"launch": dataclasses.asdict(args), **resolved}, project=args.wandb_project,
                                   entity=args.wandb_entity, name=os.path.basename(run_dir), run_id=os.path.basename(run_dir)))
    if args.tensorboard:
        from toolkit.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(os.path.join(run_dir, "tensorboard")))
    runner.trainer.loggers.extend(loggers)
    solved_at = spec.solved_return if args.stop_when_solved else None
    started = time.perf_counter()
    start_timestep = runner.trainer.timestep
    try:
        stats = runner.run("train", stop=None if solved_at is None else
                           (lambda s: s.mean_return is not None and s.mean_return >= solved_at))
    finally:
        for logger in loggers:
            logger.close()
    if not runner.trainer.preempted:  # a preempted run has just written its checkpoint
        runner.trainer.write_checkpoints(runner.trainer.timestep)
    wall = time.perf_counter() - started
    env_steps = (runner.trainer.timestep - start_timestep) * env.num_envs
    return {
        "task": args.task, "backend": args.backend, "framework": framework, "num_envs": env.num_envs,
        "env_steps": stats.env_steps, "wall_s": round(wall, 2), "env_steps_per_s": round(env_steps / wall, 1),
        "mean_return": stats.mean_return,
        "solved": spec.solved_return is not None and stats.mean_return is not None and stats.mean_return >= spec.solved_return,
        "preempted": runner.trainer.preempted, "run_dir": run_dir,
    }


def _new_run(args: TrainArgs, overrides: dict) -> tuple[dict, str]:
    """The agent configuration (task default or --agent-cfg, with overrides) and the new run's folder."""
    cfg = load_yaml(args.agent_cfg or str(tasks.spec(args.task).agent_cfg))
    cfg["seed"] = args.seed
    apply_overrides(cfg, overrides)
    cfg.setdefault("trainer", {})
    run_dir = new_run_dir(args.runs_dir, args.task, args.experiment_name or args.backend)
    cfg.setdefault("agent", {}).setdefault("experiment", {}).update(
        directory=os.path.dirname(run_dir), experiment_name=os.path.basename(run_dir))
    return cfg, run_dir


def _resumed(args: TrainArgs) -> tuple[TrainArgs, dict, str]:
    """The arguments and configuration a run folder was started with; --timesteps may extend its budget."""
    run_dir = args.resume.rstrip("/")
    checkpoint = os.path.join(run_dir, "checkpoints", "last.pt")
    if not os.path.isfile(checkpoint):
        raise ValueError(f"--resume: {run_dir} has no checkpoints/last.pt; expected a run folder written by launch/train.py")
    saved = {key: value for key, value in load_yaml(os.path.join(run_dir, "launch.yaml")).items()
             if key in TrainArgs.__dataclass_fields__}
    resumed = dataclasses.replace(TrainArgs(**saved), resume=run_dir, timesteps=args.timesteps, headless=args.headless,
                                  torch_threads=args.torch_threads, wandb=args.wandb or saved.get("wandb", False),
                                  tensorboard=args.tensorboard or saved.get("tensorboard", False))
    return resumed, load_yaml(os.path.join(run_dir, "config.yaml")), run_dir


def main() -> None:
    args, unknown = tyro.cli(TrainArgs, description=__doc__, return_unknown_args=True)
    try:
        result = train(args, parse_overrides(unknown))
    except (ConfigError, CheckpointError, ValueError, envs.SimulationError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
