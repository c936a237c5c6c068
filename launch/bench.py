"""Throughput of a task: raw simulation env-steps/s (random actions) and training env-steps/s (the task's
default agent), and their ratio. `python launch/bench.py --task cartpole --backend warp mjx --num-envs 1024`.

Compilation is excluded: each measurement starts after a warm-up.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import envs  # noqa: E402
import tasks  # noqa: E402
from envs.convert import converter  # noqa: E402
from toolkit.runner_base import runner_class  # noqa: E402


@dataclass
class BenchArgs:
    task: Annotated[str, tyro.conf.arg(help=f"task, or all; one of: {', '.join(tasks.names())}")] = "cartpole"
    backend: tuple[str, ...] = ("warp", "mjx")
    framework: str | None = None
    """agent framework, torch or jax (default: each engine's own, torch for warp and jax for mjx)"""
    num_envs: tuple[int, ...] | None = None
    """world counts to measure (default: 1024; with --task all: 64 1024 4096)"""
    sim_steps: int = 300
    """vectorized steps timed for the raw simulation rate"""
    train_timesteps: int = 320
    """vectorized steps timed for the training rate (after one warm-up of the same length)"""
    agent_cfg: str | None = None
    """agent configuration in the Runner's YAML format (default: each task's), e.g. a PPO_RNN one"""
    compiled: bool | None = None
    """MJX + JAX: True times the compiled rollout-and-update loop, False the step-by-step path (None: the trainer's default)"""
    torch_threads: int = 2
    device: str | None = None
    json: bool = False
    """one JSON object per row instead of a table"""


def _random_actions(env, count: int):
    """A pool of random action batches, made before timing so that the timing is the simulator's."""
    space = env.action_space
    rng = np.random.default_rng(0)
    batches = [rng.uniform(space.low, space.high, (env.num_envs, *space.shape)).astype(np.float32) for _ in range(count)]
    to_agent = converter("numpy", env.framework)
    return [to_agent(batch) for batch in batches]


def sim_rate(env, steps: int) -> float:
    pool = _random_actions(env, 8)
    for i in range(10):
        _wait(env.step(pool[i % len(pool)])[0])
    started = time.perf_counter()
    for i in range(steps):
        obs = env.step(pool[i % len(pool)])[0]
    _wait(obs)
    return steps * env.num_envs / (time.perf_counter() - started)


def _wait(array) -> None:
    """Block until the device has computed `array` (JAX dispatches asynchronously, CUDA queues work)."""
    if hasattr(array, "block_until_ready"):
        array.block_until_ready()
    elif str(getattr(array, "device", "cpu")).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def train_rate(env, task: str, timesteps: int, compiled: bool | None = None, agent_cfg: str | None = None) -> float:
    Runner = runner_class(env.framework)
    cfg = Runner.load_cfg_from_yaml(agent_cfg or str(tasks.spec(task).agent_cfg))
    cfg["trainer"].update(timesteps=timesteps, disable_progressbar=True, headless=True, compiled=compiled)
    cfg["agent"].setdefault("experiment", {}).update(directory="/tmp/simtrain-bench", checkpoint_interval=0)
    runner = Runner(env, cfg)
    runner.trainer.preemption_signals = ()  # SIGTERM / Ctrl-C end the bench (main), not just this row's training
    with contextlib.redirect_stdout(io.StringIO()):  # the trainer's progress lines would break the table
        runner.run("train")  # warm-up: compiles and allocates
        runner.trainer.cfg.timesteps = 2 * timesteps
        started = time.perf_counter()
        runner.run("train")
    return timesteps * env.num_envs / (time.perf_counter() - started)


def main() -> None:
    args = tyro.cli(BenchArgs, description=__doc__.split("\n")[0])
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # exit now: no row is worth finishing
    import torch

    torch.set_num_threads(args.torch_threads)
    names = tasks.names() if args.task == "all" else [args.task]
    world_counts = args.num_envs or ((64, 1024, 4096) if args.task == "all" else (1024,))
    rows = []
    try:
        for task in names:
            for backend in args.backend:
                for num_envs in world_counts:
                    framework = args.framework or envs.NATIVE_FRAMEWORK[backend]
                    env = envs.wrap_env(tasks.make(task, backend, num_envs, device=args.device), framework)
                    sim = sim_rate(env, args.sim_steps)
                    train = train_rate(env, task, args.train_timesteps, args.compiled, args.agent_cfg)
                    row = {"task": task, "backend": backend, "framework": framework, "num_envs": num_envs,
                           "sim_env_steps_per_s": round(sim), "train_env_steps_per_s": round(train),
                           "train_over_sim": round(train / sim, 3)}
                    rows.append(row)
                    if args.json:
                        print(json.dumps(row), flush=True)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench: interrupted (SIGINT)", file=sys.stderr)
        sys.exit(130)
    if not args.json:
        width = max(len("task"), *(len(row["task"]) for row in rows))
        header = f"{'task':<{width}} {'backend':<7} {'framework':<9} {'num_envs':>8} {'sim steps/s':>12} {'train steps/s':>14} {'train/sim':>9}"
        print(header)
        for row in rows:
            print(f"{row['task']:<{width}} {row['backend']:<7} {row['framework']:<9} {row['num_envs']:>8} "
                  f"{row['sim_env_steps_per_s']:>12,} {row['train_env_steps_per_s']:>14,} {row['train_over_sim']:>9.2f}")


if __name__ == "__main__":
    main()
