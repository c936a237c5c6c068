"""--resume: a run folder's own launch arguments and configuration, and the few flags a resumed run takes."""

from __future__ import annotations

import dataclasses
import glob
import os
import sys

import tasks
from launch import task_flags
from toolkit.runner_cfg import load_yaml

# flags a resumed run takes from the command line; every other flag is the run's own (its launch.yaml)
RESUME_TAKES = (
    "timesteps", "headless", "torch_threads", "device", "wandb", "tensorboard", "stop_when_solved", "export",
    "wandb_project", "wandb_entity", "coordinator_address", "num_processes", "process_id", "jax_cache_dir",
)  # fmt: skip


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def resumed(args, overrides: dict) -> tuple[object, dict, str]:
    """The arguments (of args' dataclass) and configuration a run folder was started with, with the flags of this
    command it takes (--timesteps may extend its budget), and the folder. A flag or override that would change the
    run itself is refused with one line."""
    args_class = type(args)
    run_dir = os.path.normpath(args.resume)
    checkpoint = os.path.join(run_dir, "checkpoints", "last.pt")
    if not os.path.isfile(checkpoint) and not glob.glob(os.path.join(run_dir, "seed_*", "checkpoints", "last.pt")):
        raise ValueError(
            f"--resume: {args.resume.rstrip('/')} has no checkpoints/last.pt; expected a run folder written by "
            "launch/train.py"
        )
    fields = args_class.__dataclass_fields__
    launch = load_yaml(os.path.join(run_dir, "launch.yaml"))
    saved = {key: value for key, value in launch.items() if key in fields}
    saved["env"] = tasks.config(launch["task"], task_flags.saved_env(launch))  # the task's typed configuration
    original = args_class(**saved)
    defaults = args_class()
    refused = [
        f"{flag(name)} {getattr(args, name)}"
        for name in fields
        if name not in (*RESUME_TAKES, "resume", "env")
        and getattr(args, name) != getattr(defaults, name)
        and getattr(args, name) != getattr(original, name)
    ]
    if args.env is not None and args.env != original.env:
        same_task = type(args.env) is type(original.env)
        changed = task_flags.env_flags(args.env, original.env) if same_task else [["--env", str(args.env)]]
        refused += [" ".join(flag) for flag in changed]
    refused += [f"--{'.'.join(path)} {value}" for path, value in overrides.items()]
    if refused:
        raise ValueError(
            f"--resume: {', '.join(refused)} cannot change a resumed run (it continues with the settings in its "
            f"launch.yaml and config.yaml); drop {'it' if len(refused) == 1 else 'them'}, or start a new run. A resume "
            f"takes {', '.join(flag(name) for name in RESUME_TAKES[:7])}"
        )
    taken = {name: getattr(args, name) for name in RESUME_TAKES if getattr(args, name) != getattr(defaults, name)}
    if taken:
        flags = ", ".join(f"{flag(name)} {value}" for name, value in taken.items())
        print(
            f"resume: taking {flags} from the command line; everything else from {run_dir}/launch.yaml", file=sys.stderr
        )
    merged = {"timesteps", "headless", "torch_threads", "wandb", "tensorboard", "jax_cache_dir"}
    args = dataclasses.replace(
        original,
        resume=run_dir,
        timesteps=args.timesteps,
        headless=args.headless,
        torch_threads=args.torch_threads,
        jax_cache_dir=args.jax_cache_dir,  # this machine's, not the one that started the run
        wandb=args.wandb or original.wandb,
        tensorboard=args.tensorboard or original.tensorboard,
        **{name: value for name, value in taken.items() if name not in merged},
    )
    return args, load_yaml(os.path.join(run_dir, "config.yaml")), run_dir


def restore(trainer, agents: list, cluster, seed: int) -> None:
    """Load each agent's last checkpoint (read before anything in the folder is rewritten). A rank other than 0
    takes rank 0's networks, but its own worlds and random state."""
    trainer.restore([os.path.join(agent.experiment_dir, "checkpoints", "last.pt") for agent in agents])
    if not cluster.is_main:
        import torch

        trainer.observations = None
        torch.manual_seed(seed + cluster.rank + trainer.timestep)
