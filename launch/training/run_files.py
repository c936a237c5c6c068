"""What a run folder holds besides checkpoints: config.yaml and launch.yaml (also in each seed's folder, a run of
its own for play.py), metrics.jsonl, and the metric loggers (wandb, TensorBoard) that feed it."""

from __future__ import annotations

import dataclasses
import os

import tasks
from toolkit.run_dir import JsonlMetrics, cut_metrics, write_yaml


def launch_record(args, device: str, framework: str) -> dict:
    """launch.yaml's contents: the arguments as resolved (what --resume restores), the task's whole configuration
    under `env` (its defaults included, so that the run is reproduced even if they change)."""
    env = (args.env or tasks.config(args.task)).as_dict()
    return {**dataclasses.asdict(args), "env": env, "resume": None, "device": device, "framework": framework}


def write_run_files(run_dir: str, resolved: dict, launch: dict, seeds: list[int], agents: list,
                    resumed_at: int | None) -> None:  # fmt: skip
    """config.yaml and launch.yaml in the run folder and in each seed's folder; a resumed run's metrics are cut
    back to its checkpoint (`resumed_at`), since the records after it are written again."""
    write_yaml(os.path.join(run_dir, "config.yaml"), resolved)
    write_yaml(os.path.join(run_dir, "launch.yaml"), launch)
    for seed, agent in zip(seeds, agents):
        os.makedirs(os.path.join(agent.experiment_dir, "checkpoints"), exist_ok=True)
        if agent.experiment_dir != run_dir:
            write_yaml(os.path.join(agent.experiment_dir, "config.yaml"), {**resolved, "seed": seed})
            write_yaml(os.path.join(agent.experiment_dir, "launch.yaml"), {**launch, "seed": seed, "num_seeds": 1})
        if resumed_at is not None:
            cut_metrics(os.path.join(agent.experiment_dir, "metrics.jsonl"), resumed_at)


def metric_loggers(args, agents: list, resolved: dict, run_dir: str) -> list:
    """Every agent's loggers (metrics.jsonl, and wandb / TensorBoard when asked)."""
    several = len(agents) > 1
    return [
        logger
        for index, agent in enumerate(agents)
        for logger in _loggers(args, agent.experiment_dir, resolved, index if several else None, run_dir)
    ]


def _loggers(args, folder: str, resolved: dict, agent_index: int | None, run_dir: str) -> list:
    """The metric loggers of one agent's folder; with several agents each sees only its own metrics."""
    run_name = os.path.basename(run_dir)
    name = run_name if agent_index is None else f"{run_name}_{os.path.basename(folder)}"
    loggers = [JsonlMetrics(os.path.join(folder, "metrics.jsonl"))]
    if args.wandb:
        from toolkit.loggers import WandbLogger

        group = None if agent_index is None else run_name
        config = {"launch": dataclasses.asdict(args), **resolved}
        loggers.append(WandbLogger(folder, config=config, project=args.wandb_project, entity=args.wandb_entity,
                                   name=name, run_id=name, group=group))  # fmt: skip
    if args.tensorboard:
        from toolkit.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(os.path.join(folder, "tensorboard")))
    if agent_index is None:
        return loggers
    return [OneAgent(logger, agent_index) for logger in loggers]


class OneAgent:
    """A logger fed with one agent's metrics of a several-agent report (its return, length and losses on top)."""

    def __init__(self, logger, index: int):
        self.logger, self.index = logger, index

    def __call__(self, metrics: dict) -> None:
        agent = metrics["agents"][self.index]
        count = len(metrics["agents"])
        self.logger({**metrics, "mean_return": agent.get("mean_return"), "mean_length": agent.get("mean_length"),
                     "env_steps": metrics["env_steps"] // count, "env_steps_per_s": metrics["env_steps_per_s"] / count,
                     "agents": [agent]})  # fmt: skip

    def close(self) -> None:
        self.logger.close()
