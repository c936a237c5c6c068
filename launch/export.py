"""Export a trained run's policy: `python launch/export.py --run runs/cartpole/<run> [--checkpoint best|last|FILE]
[--format onnx torchscript]`.

Writes RUN/exported/policy.onnx (every agent; the deterministic policy with its observation normaliser, recurrent
states as explicit inputs and outputs), policy.pt (TorchScript, torch agents) and policy.json (the metadata, also
inside the ONNX file as metadata_props). No simulator is built: the agent is made from the run's configuration
and the task's spaces, and its checkpoint loaded on the CPU. `launch/sim2sim.py --policy RUN/exported/policy.onnx`
runs the file in plain C MuJoCo.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Annotated

import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from envs.task_metadata import task_metadata  # noqa: E402
from launch.task_flags import run_spec  # noqa: E402
from toolkit.checkpoint import CheckpointError  # noqa: E402
from toolkit.config import ConfigError  # noqa: E402
from toolkit.export import agent_framework, checked_formats, export_policy  # noqa: E402
from toolkit.runner_base import runner_class  # noqa: E402
from toolkit.runner_cfg import load_yaml  # noqa: E402


@dataclass
class ExportArgs:
    run: str
    """run folder written by launch/train.py (a seed's folder, seed_<K>, for a --num-seeds run)"""
    checkpoint: str = "best"
    """best, last, or a checkpoint file's path"""
    format: Annotated[tuple[str, ...] | None, tyro.conf.arg(metavar="{onnx,torchscript} ...")] = None
    """formats to write (default: onnx, plus torchscript for torch agents)"""
    output: str | None = None
    """folder to write to (default: RUN/exported)"""


class _Spaces:
    """What a Runner needs of an env to build an agent: the task's spaces, one world, the CPU."""

    def __init__(self, spec, framework: str):
        self.observation_space, self.action_space = spec.observation_space, spec.single_action_space  # with history
        self.state_space = spec.single_state_space  # the critic's (the exported policy reads observations only)
        self.num_envs, self.device, self.framework = 1, "cpu", framework

    def close(self) -> None:
        pass


def checkpoint_path(run_dir: str, checkpoint: str) -> str:
    path = (
        checkpoint if checkpoint not in ("best", "last") else os.path.join(run_dir, "checkpoints", f"{checkpoint}.pt")
    )
    if not os.path.isfile(path):
        raise ValueError(f"--checkpoint: {path} does not exist; choose best, last or the path of a checkpoint file")
    return path


def load_agent(run_dir: str, checkpoint: str):
    """The run's agent with its checkpoint loaded, in evaluation mode on the CPU; and the run's launch settings."""
    for name in ("launch.yaml", "config.yaml"):
        if not os.path.isfile(os.path.join(run_dir, name)):
            raise ValueError(f"--run: {run_dir} has no {name}; expected a run folder written by launch/train.py")
    launch = load_yaml(os.path.join(run_dir, "launch.yaml"))
    cfg = load_yaml(os.path.join(run_dir, "config.yaml"))
    path = checkpoint_path(run_dir, checkpoint)
    framework = launch.get("framework", "torch")
    cfg.setdefault("trainer", {}).update(headless=True, disable_progressbar=True, close_environment_at_exit=False)
    agent = runner_class(framework)(_Spaces(run_spec(launch), framework), cfg).agent
    agent.load(path)
    agent.enable_training_mode(False, apply_to_models=True)
    return agent, launch, path


def export_run(run_dir: str, checkpoint: str = "best", formats=None, output: str | None = None) -> dict:
    """Export a run's checkpoint; returns {format: path} and what was exported."""
    launch_file = os.path.join(run_dir, "launch.yaml")
    checked_formats(formats, load_yaml(launch_file).get("framework", "torch") if os.path.isfile(launch_file) else None)
    agent, launch, path = load_agent(run_dir, checkpoint)
    spec = run_spec(launch)  # the task as the run trained it (its commands' ranges, ...)
    metadata = {
        **task_metadata(spec),
        "run": {
            "dir": os.path.abspath(run_dir),
            "checkpoint": os.path.abspath(path),
            "backend": launch.get("backend"),
            "seed": launch.get("seed"),
        },
    }
    paths = export_policy(agent, output or os.path.join(run_dir, "exported"), formats=formats, metadata=metadata)
    return {
        "run_dir": run_dir,
        "checkpoint": path,
        "task": spec.name,
        "framework": agent_framework(agent),
        "agent": type(agent).__name__,
        "files": paths,
    }


def main() -> None:
    args = tyro.cli(ExportArgs, description=__doc__.split("\n")[0])
    try:
        result = export_run(args.run, args.checkpoint, args.format, args.output)
    except (ConfigError, CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    for name, path in result["files"].items():
        print(f"{name}: {path}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
