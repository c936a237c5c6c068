"""Train a registered task: `python launch/train.py --task cartpole --backend warp`.

Writes runs/<task>/<time>_<name>/ (config.yaml, launch.yaml, metrics.jsonl, checkpoints/) and prints, as its
last line, one JSON object for scripts and cluster jobs.
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout too

import envs  # noqa: E402
import tasks  # noqa: E402
from toolkit.checkpoint import CheckpointError  # noqa: E402
from toolkit.config import ConfigError  # noqa: E402
from toolkit.run_dir import JsonlMetrics, create_run_dir, write_yaml  # noqa: E402

TASK_HELP = f"task to train; one of: {', '.join(tasks.names())}"


@dataclass
class TrainArgs:
    task: Annotated[str, tyro.conf.arg(help=TASK_HELP, metavar="{" + ",".join(tasks.names()) + "}")] = "cartpole"
    backend: Annotated[str, tyro.conf.arg(metavar="{warp,mjx}")] = "warp"
    """simulation engine: warp (MuJoCo Warp) or mjx (MuJoCo XLA)"""
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


def validate(args: TrainArgs) -> None:
    tasks.spec(args.task)
    if args.backend not in envs.BACKENDS:
        raise ValueError(f"--backend: {args.backend!r} is not allowed; choose one of {', '.join(envs.BACKENDS)}")
    for flag, value in (("--num-envs", args.num_envs), ("--timesteps", args.timesteps)):
        if value is not None and value < 1:
            raise ValueError(f"{flag}: {value} is not allowed; must be a positive integer")
    if args.torch_threads < 1:
        raise ValueError(f"--torch-threads: {args.torch_threads} is not allowed; must be a positive integer")


def train(args: TrainArgs) -> dict:
    import torch

    from toolkit.torch import Runner

    validate(args)
    torch.set_num_threads(args.torch_threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    spec = tasks.spec(args.task)
    env = envs.wrap_env(tasks.make(args.task, args.backend, args.num_envs, device=device, seed=args.seed), "torch")

    cfg = Runner.load_cfg_from_yaml(str(spec.agent_cfg))
    cfg["seed"] = args.seed
    if args.timesteps is not None:
        cfg["trainer"]["timesteps"] = args.timesteps
    cfg["trainer"]["headless"] = args.headless
    cfg["trainer"]["disable_progressbar"] = True if args.headless else None
    run_dir = create_run_dir(args.runs_dir, args.task, args.experiment_name or args.backend)
    experiment = cfg["agent"].setdefault("experiment", {})
    experiment.update(directory=os.path.dirname(run_dir), experiment_name=os.path.basename(run_dir))
    write_yaml(os.path.join(run_dir, "config.yaml"), cfg)
    write_yaml(os.path.join(run_dir, "launch.yaml"), {**dataclasses.asdict(args), "device": device, "framework": "torch"})

    runner = Runner(env, cfg)
    metrics = JsonlMetrics(os.path.join(run_dir, "metrics.jsonl"))
    runner.trainer.loggers.append(metrics)
    solved_at = spec.solved_return if args.stop_when_solved else None
    started = time.perf_counter()
    try:
        stats = runner.run("train", stop=None if solved_at is None else
                           (lambda s: s.mean_return is not None and s.mean_return >= solved_at))
    finally:
        metrics.close()
        runner.agent.save(os.path.join(run_dir, "checkpoints", "last.pt"))
    wall = time.perf_counter() - started
    return {
        "task": args.task, "backend": args.backend, "framework": "torch", "num_envs": env.num_envs,
        "env_steps": stats.env_steps, "wall_s": round(wall, 2), "env_steps_per_s": round(stats.env_steps / wall, 1),
        "mean_return": stats.mean_return,
        "solved": spec.solved_return is not None and stats.mean_return is not None and stats.mean_return >= spec.solved_return,
        "run_dir": run_dir,
    }


def main() -> None:
    args = tyro.cli(TrainArgs, description=__doc__.split("\n")[0])
    try:
        result = train(args)
    except (ConfigError, CheckpointError, ValueError, envs.SimulationError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
