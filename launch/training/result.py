"""The one JSON object train.py prints last: what was trained, how fast, whether it solved, where it is."""

from __future__ import annotations

import importlib.util
import os
import sys


def all_solved(stats, solved_at: float | None) -> bool:
    """Every agent's mean return (or the run's) reached `solved_at`."""
    returns = [agent.get("mean_return") for agent in stats.agents] or [stats.mean_return]
    return solved_at is not None and all(value is not None and value >= solved_at for value in returns)


def summary(args, framework: str, env, trainer, stats, wall_s: float, start_timestep: int, solved_at, run_dir: str):
    """The result of a single-process (or rank 0's) run."""
    env_steps = (trainer.timestep - start_timestep) * env.num_envs
    return {
        "task": args.task, "backend": args.backend, "framework": framework, "num_envs": env.num_envs,
        "env_steps": trainer.timestep * env.num_envs, "wall_s": round(wall_s, 2),
        "env_steps_per_s": round(env_steps / wall_s, 1), "mean_return": stats.mean_return,
        "solved": all_solved(stats, solved_at), "preempted": trainer.preempted, "run_dir": run_dir,
    }  # fmt: skip


def per_seed(seeds: list[int], agents: list, stats) -> list[dict]:
    return [
        {"seed": seed, "mean_return": agent_stats.get("mean_return"), "run_dir": agent.experiment_dir}
        for seed, agent, agent_stats in zip(seeds, agents, stats.agents or [{}] * len(agents))
    ]


def distributed(cluster, agent, result: dict) -> dict:
    """The whole run's throughput (every rank's worlds) and each rank's weights digest (equal when in sync)."""
    from toolkit.distributed import agent_digest

    digests = cluster.all_gather_objects(agent_digest(agent))
    size = cluster.world_size
    return {
        "world_size": size, "process_group": cluster.process_group, "num_envs": result["num_envs"] * size,
        "env_steps": result["env_steps"] * size, "env_steps_per_s": round(result["env_steps_per_s"] * size, 1),
        "rank_weight_digests": digests,
    }  # fmt: skip


def export(run_dir: str) -> dict:
    """launch/export.py's export of a run folder (best checkpoint, else last; loaded by path, as the scripts are)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "export.py")
    spec = importlib.util.spec_from_file_location("simtrain_export", path)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
    spec.loader.exec_module(module)
    best = os.path.join(run_dir, "checkpoints", "best.pt")
    return module.export_run(run_dir, "best" if os.path.isfile(best) else "last")["files"]
