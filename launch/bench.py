"""Throughput of a task: raw simulation env-steps/s (random actions) and training env-steps/s (the task's
default agent), and their ratio. `python launch/bench.py --task cartpole --backend warp mjx --num-envs 1024`;
`--backend warp --framework torch warp --graph-capture True False` compares the torch agent with the Warp agent
replaying its captured graphs and launching its kernels one by one.

Compilation is excluded: each measurement starts after a warm-up. On a GPU each row also gives the peak device
memory of torch's, JAX's and Warp's allocators, and runs in a process of its own (`--isolate`), so that its peak is
its own and a world count that does not fit fails alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import envs  # noqa: E402
import tasks  # noqa: E402
from envs.convert import converter, to_device  # noqa: E402
from launch import jax_cache, task_flags  # noqa: E402
from tasks.terrain.rough_task import without_height_scan  # noqa: E402
from toolkit.registry import env_framework, runner_class  # noqa: E402


@dataclass
class BenchArgs:
    task: Annotated[str, tyro.conf.arg(help=f"task, or all; one of: {', '.join(tasks.names())}")] = "cartpole"
    backend: tuple[str, ...] = ("warp", "mjx")
    framework: tuple[str, ...] | None = None
    """agent frameworks, torch, jax or warp, one row each (default: each engine's own, torch for warp and jax for
    mjx); e.g. --framework torch warp compares the torch and Warp agents on MuJoCo Warp in one run"""
    graph_capture: tuple[bool, ...] | None = None
    """Warp agent rows, one per value: True replays its captured graphs (CUDA graphs on a GPU; on the CPU, Warp's
    own replay of the recorded launches), False launches its kernels one by one (default: the agent config's)"""
    num_envs: tuple[int, ...] | None = None
    """world counts to measure (default: 1024; with --task all: 64 1024 4096)"""
    sim_steps: int = 300
    """vectorized steps timed for the raw simulation rate"""
    warmup_steps: int = 10
    """vectorized steps before each raw (and bare-physics) timing: the first compiles (MJX's step; MuJoCo Warp's
    kernels, cached on disk after their first build, load), the others settle; 1 already excludes compilation"""
    train_timesteps: int = 320
    """vectorized steps timed for the training rate (after --train-warmup steps of training); 0: no training row"""
    train_warmup: int | None = None
    """vectorized steps of training before the timed ones (default: --train-timesteps). Fewer exclude compilation
    with the torch agent, whose update compiles nothing (the raw timing's warm-up compiled the env's step): e.g.
    --train-warmup 1 for 4096 worlds on this CPU, where a rollout takes minutes. The JAX and Warp agents compile
    or capture their update at their first, so they need at least a whole rollout (their agent's rollouts)"""
    task_layer: bool = True
    """--no-task-layer: also time the bare physics step (MuJoCo Warp's mjw.step loop on the same model, worlds and
    joint targets, without the env's terms, task state, events and resets) and report the task layer's cost over it;
    and, free of the load's drift between those timings, the layer's cost inside the env's own steps (their time
    outside the physics call over the time in it)"""
    finite_check: bool = True
    """--no-finite-check: also time the same worlds with the engines' NaN/inf check off (non-finite values would then
    reach the agent) and report the check's cost over them, interleaved so that both see the same load"""
    height_scan: bool = True
    """--no-height-scan: a rough task (go1-rough, g1-rough): also time the same worlds with the height scan replaced
    by zeros of the same size and report the scan's cost over them, interleaved so that both see the same load"""
    agent_cfg: str | None = None
    """agent configuration in the Runner's YAML format (default: each task's), e.g. a PPO_RNN one"""
    compiled: bool | None = None
    """MJX + JAX: True times the compiled rollout-and-update loop, False the step-by-step path (None: the trainer's
    default)"""
    torch_threads: int = 2
    jax_cache_dir: Annotated[str | None, tyro.conf.arg(help=jax_cache.HELP)] = jax_cache.DEFAULT_DIR
    device: str | None = None
    json: bool = False
    """one JSON object per row instead of a table"""
    isolate: bool | None = None
    """each row in a fresh process (default: on a GPU), for its own peak memory; a row that fails is reported and
    skipped"""
    out: str | None = None
    """also append each row, as JSON, to this file (as soon as it is measured)"""
    env: Annotated[tasks.TaskConfig | None, tyro.conf.AvoidSubcommands] = None
    """the task's settings (None: its defaults), as train.py's --env.* flags; with one --task, not all"""


def _random_actions(env, count: int):
    """A pool of random action batches, made before timing so that the timing is the simulator's."""
    space = env.action_space
    rng = np.random.default_rng(0)
    batches = [
        rng.uniform(space.low, space.high, (env.num_envs, *space.shape)).astype(np.float32) for _ in range(count)
    ]
    to_agent = converter("numpy", env.framework)
    return [to_device(to_agent(batch), str(env.device)) for batch in batches]


def sim_rate(env, steps: int, warmup: int = 10) -> float:
    pool = _random_actions(env, 8)
    for i in range(warmup):
        _wait(env.step(pool[i % len(pool)])[0])
    started = time.perf_counter()
    for i in range(steps):
        obs = env.step(pool[i % len(pool)])[0]
    _wait(obs)
    return steps * env.num_envs / (time.perf_counter() - started)


def physics_rate(env, steps: int, warmup: int = 10) -> float:
    """Env-steps/s of the bare physics step of a MuJoCo Warp env: its frame_skip mjw.step calls (the captured graph on
    CUDA) with random actions turned into ctrl as the env turns them, and nothing else of the env."""
    import torch

    raw = env.unwrapped
    if not hasattr(raw, "_physics"):
        raise ValueError(
            f"--no-task-layer: backend {type(raw).__name__} is not allowed; the bare physics step is timed on warp"
        )
    pool = [torch.as_tensor(a) for a in _random_actions(env, 8)]
    if raw._ctrl_scale is not None:
        pool = [raw._ctrl_offset + raw._ctrl_scale * torch.clamp(a, raw._action_low, raw._action_high) for a in pool]

    def step(i):
        raw._ctrl.copy_(pool[i % len(pool)])
        raw._run("physics", raw._physics)

    for i in range(warmup):
        step(i)
    _wait(raw._qpos)
    started = time.perf_counter()
    for i in range(steps):
        step(i)
    _wait(raw._qpos)
    return steps * env.num_envs / (time.perf_counter() - started)


def layer_cost_in_steps(env, steps: int, warmup: int = 10) -> float:
    """The task layer's cost over the physics within the same steps of a MuJoCo Warp env: (step time - physics time)
    / physics time, physics and layer alternating step by step so that both see the same load (on CUDA the physics
    call is synchronized on both sides, which keeps the layer's kernels from overlapping it)."""
    raw = env.unwrapped
    run, spent = raw._run, [0.0]

    def timed(name, launch):
        if name != "physics":
            return run(name, launch)
        _wait(raw._qpos)
        started = time.perf_counter()
        run(name, launch)
        _wait(raw._qpos)
        spent[0] += time.perf_counter() - started

    pool = _random_actions(env, 8)
    raw._run = timed
    try:
        for i in range(warmup):
            _wait(env.step(pool[i % len(pool)])[0])
        spent[0] = 0.0
        started = time.perf_counter()
        for i in range(steps):
            obs = env.step(pool[i % len(pool)])[0]
        _wait(obs)
        total = time.perf_counter() - started
    finally:
        del raw._run  # the instance's wrapper: the class's method again
    return (total - spent[0]) / spent[0]


def _wait(array) -> None:
    """Block until the device has computed `array` (JAX dispatches asynchronously, CUDA queues work)."""
    if hasattr(array, "block_until_ready"):
        array.block_until_ready()
    elif str(getattr(array, "device", "cpu")).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def train_rate(
    env,
    task: str,
    timesteps: int,
    compiled: bool | None = None,
    agent_cfg: str | None = None,
    framework: str | None = None,
    graph_capture: bool | None = None,
    warmup: int | None = None,
) -> float:
    """Training env-steps/s over `timesteps` vectorized steps, after `warmup` of them (default: `timesteps`)."""
    warmup = timesteps if warmup is None else warmup
    Runner = runner_class(framework or env.framework)
    cfg = Runner.load_cfg_from_yaml(agent_cfg or str(tasks.spec(task).agent_cfg))
    if graph_capture is not None:
        cfg["agent"]["graph_capture"] = graph_capture
    cfg["trainer"].update(timesteps=warmup, disable_progressbar=True, headless=True, compiled=compiled)
    cfg["agent"].setdefault("experiment", {}).update(directory="/tmp/simtrain-bench", checkpoint_interval=0)
    runner = Runner(env, cfg)
    runner.trainer.preemption_signals = ()  # SIGTERM / Ctrl-C end the bench (main), not just this row's training
    with contextlib.redirect_stdout(io.StringIO()):  # the trainer's progress lines would break the table
        runner.run("train")  # warm-up: compiles and allocates
        runner.trainer.cfg.timesteps = warmup + timesteps
        started = time.perf_counter()
        runner.run("train")
    return timesteps * env.num_envs / (time.perf_counter() - started)


def peak_memory_mb(env) -> dict:
    """Peak device memory (MiB) of each allocator this process used on the env's device, since it started."""
    if str(env.device).startswith("cpu"):
        return {}
    peaks = {}
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            peaks["torch"] = torch.cuda.max_memory_allocated(env.device) / 2**20
    if "jax" in sys.modules:
        import jax

        device = jax.devices()[int(str(env.device).rpartition(":")[2] or 0)]
        peaks["jax"] = (device.memory_stats() or {}).get("peak_bytes_in_use", 0) / 2**20
    if "warp" in sys.modules:
        import warp as wp

        if wp.is_mempool_enabled(env.device):
            peaks["warp"] = wp.get_mempool_used_mem_high(env.device) / 2**20
    return {f"peak_{name}_mib": round(value) for name, value in peaks.items()} | {
        "peak_total_mib": round(sum(peaks.values()))
    }


def measure(
    args: BenchArgs,
    task: str,
    backend: str,
    num_envs: int,
    framework: str | None = None,
    graph_capture: bool | None = None,
) -> dict:
    framework = framework or envs.NATIVE_FRAMEWORK[backend]
    if framework == "warp" and backend != "warp":  # the Warp agent reads MuJoCo Warp's arrays
        raise ValueError(f"--framework: 'warp' is not allowed with --backend {backend}; use --framework jax (or torch)")
    if args.train_timesteps > 0 and args.train_warmup is not None and framework != "torch":
        rollouts = _rollouts(args, task, framework)
        if args.train_warmup < rollouts:
            raise ValueError(
                f"--train-warmup: {args.train_warmup} is not allowed with the {framework} agent; at least its "
                f"rollouts ({rollouts}), so that its update compiles before the timing"
            )
    unscanned = {} if args.height_scan else without_height_scan(tasks.spec(task, args.env))

    def make_worlds(**overrides):
        return tasks.make(task, backend, num_envs, device=args.device, config=args.env, **overrides)

    env = envs.wrap_env(make_worlds(), env_framework(framework))
    warmup = args.warmup_steps
    sim = sim_rate(env, args.sim_steps, warmup)
    layer = {}
    if not args.task_layer:  # interleaved with the env's rate, so that both see the same machine load
        physics = physics_rate(env, args.sim_steps, warmup)
        sim = (sim + sim_rate(env, args.sim_steps, warmup)) / 2
        in_steps = layer_cost_in_steps(env, args.sim_steps, warmup)
        layer = {
            "physics_env_steps_per_s": round(physics),
            "task_layer_cost": round(physics / sim - 1, 3),
            "task_layer_cost_in_steps": round(in_steps, 3),
        }
    if not args.finite_check:
        unchecked_env = make_worlds()  # the same task, flags and worlds, only the check off
        unchecked_env.finite_check = False  # before its first step: MJX traces it into the jitted step
        unchecked_env = envs.wrap_env(unchecked_env, env_framework(framework))
        sim, unchecked = _interleaved(env, unchecked_env, sim, args.sim_steps, warmup)
        layer.update(unchecked_env_steps_per_s=round(unchecked), finite_check_cost=round(unchecked / sim - 1, 3))
        unchecked_env.close()
    if unscanned:  # the same worlds with the height scan replaced by zeros: the scan's cost is the ratio
        unscanned_env = envs.wrap_env(make_worlds(**unscanned), env_framework(framework))
        sim, zeros = _interleaved(env, unscanned_env, sim, args.sim_steps, warmup)
        layer.update(unscanned_env_steps_per_s=round(zeros), height_scan_cost=round(zeros / sim - 1, 3))
        unscanned_env.close()
    row = {
        "task": task,
        "backend": backend,
        "framework": framework,
        "num_envs": num_envs,
        "device": str(env.device),
        **({} if graph_capture is None else {"graph_capture": graph_capture}),
        "sim_env_steps_per_s": round(sim),
        **layer,
    }
    if args.train_timesteps > 0:
        train = train_rate(
            env, task, args.train_timesteps, args.compiled, args.agent_cfg, framework, graph_capture, args.train_warmup
        )
        row.update(train_env_steps_per_s=round(train), train_over_sim=round(train / sim, 3))
    return {**row, **peak_memory_mb(env)}


def _interleaved(env, other_env, sim: float, steps: int, warmup: int) -> tuple[float, float]:
    """The env's rate (averaged with `sim`, its first) and another env's, taken in turn (twice each) in this process
    so that the machine's load moves both alike."""
    rates = [sim_rate(e, steps, warmup) for e in (other_env, env, other_env, env)]
    return (sim + rates[1] + rates[3]) / 3, (rates[0] + rates[2]) / 2


def _rollouts(args: BenchArgs, task: str, framework: str) -> int:
    """The rollout length of the agent a row trains (--agent-cfg, or the task's default agent)."""
    cfg = runner_class(framework).load_cfg_from_yaml(args.agent_cfg or str(tasks.spec(task).agent_cfg))
    return int(cfg["agent"]["rollouts"])


def measure_in_child(
    args: BenchArgs,
    task: str,
    backend: str,
    num_envs: int,
    framework: str | None = None,
    graph_capture: bool | None = None,
) -> dict:
    """One row in a fresh process; a failure (out of memory, say) becomes the row's error."""
    child = dataclasses.replace(
        args,
        task=task,
        backend=(backend,),
        num_envs=(num_envs,),
        json=True,
        isolate=False,
        out=None,
        framework=(framework,) if framework else None,
        graph_capture=None if graph_capture is None else (graph_capture,),
    )
    command = [sys.executable, os.path.abspath(__file__)]
    if args.env is not None:  # the flags that give the child this configuration
        command += [arg for flag in task_flags.env_flags(args.env, tasks.config(task)) for arg in flag]
    for field in dataclasses.fields(child):
        value = getattr(child, field.name)
        if field.name == "env":
            continue
        flag = "--" + field.name.replace("_", "-")
        if field.type == "bool":  # a flag pair (--json / --no-json); an optional bool takes a value
            command.append(flag if value else f"--no-{flag[2:]}")
        elif isinstance(value, tuple):
            command += [flag, *map(str, value)]
        elif value is not None:
            command += [flag, str(value)]
        elif field.default is not None:  # an off switch (--jax-cache-dir None)
            command += [flag, "None"]
    env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")  # JAX takes what it uses, so its peak is measured
    completed = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode == 0 and lines:
        return json.loads(lines[-1])
    error = (completed.stderr.strip().splitlines() or [f"exited {completed.returncode}"])[-1]
    return {"task": task, "backend": backend, "num_envs": num_envs, "error": error[-300:]}


def parse(argv: list[str]) -> BenchArgs:
    """The command line as BenchArgs; with one --task, `env` defaults to that task's configuration."""
    task = task_flags.chosen(argv, ("task",))["task"] or BenchArgs.task
    default = BenchArgs(env=None if task == "all" else tasks.config(task))
    parsed, unknown = task_flags.cli(BenchArgs, default, argv, __doc__.split("\n")[0], return_unknown_args=True)
    if unknown:
        flag = unknown[0]
        raise ValueError(task_flags.unknown_env_flag(flag, default.env) or f"{flag}: unknown flag; see --help")
    for flag, value in (("--warmup-steps", parsed.warmup_steps), ("--train-warmup", parsed.train_warmup)):
        if value is not None and value < 1:
            raise ValueError(f"{flag}: {value} is not allowed; must be at least 1 (the first step compiles)")
    return parsed


def main() -> None:
    try:
        args = parse(sys.argv[1:])
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # exit now: no row is worth finishing
    if "mjx" in args.backend or "jax" in (args.framework or ()):
        try:
            jax_cache.use(args.jax_cache_dir)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
    import torch

    torch.set_num_threads(args.torch_threads)
    names = tasks.names() if args.task == "all" else [args.task]
    world_counts = args.num_envs or ((64, 1024, 4096) if args.task == "all" else (1024,))
    isolate = (
        args.isolate
        if args.isolate is not None
        else (args.device or ("cuda" if torch.cuda.is_available() else "cpu")) != "cpu"
    )
    rows = []
    try:
        for task in names:
            tasks.spec(task)
            for backend in args.backend:
                for num_envs in world_counts:
                    for framework, graph_capture in _agent_rows(args, backend):
                        row = (
                            measure_in_child(args, task, backend, num_envs, framework, graph_capture)
                            if isolate
                            else measure(args, task, backend, num_envs, framework, graph_capture)
                        )
                        rows.append(row)
                        if args.json:
                            print(json.dumps(row), flush=True)
                        if args.out:
                            with open(args.out, "a") as handle:
                                handle.write(json.dumps(row) + "\n")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench: interrupted (SIGINT)", file=sys.stderr)
        sys.exit(130)
    if not args.json:
        print_table(rows)


def _agent_rows(args: BenchArgs, backend: str) -> list[tuple[str | None, bool | None]]:
    """(framework, graph_capture) of each row of an engine: the Warp agent's once per --graph-capture value."""
    rows = []
    for framework in args.framework or (None,):
        if (framework or envs.NATIVE_FRAMEWORK[backend]) == "warp" and args.graph_capture:
            rows += [(framework, capture) for capture in args.graph_capture]
        else:
            rows.append((framework, None))
    return rows


def _framework_label(row: dict) -> str:
    if "graph_capture" not in row:
        return row["framework"]
    return f"{row['framework']}-{'graph' if row['graph_capture'] else 'eager'}"


def print_table(rows: list[dict]) -> None:
    width = max(len("task"), *(len(row["task"]) for row in rows))
    print(
        f"{'task':<{width}} {'backend':<7} {'framework':<10} {'num_envs':>8} {'sim steps/s':>12} {'train steps/s':>14} "
        f"{'train/sim':>9} {'peak MiB':>9}"
    )
    for row in rows:
        if "error" in row:
            print(f"{row['task']:<{width}} {row['backend']:<7} {'':<10} {row['num_envs']:>8}  failed: {row['error']}")
            continue
        peak = row.get("peak_total_mib")
        train, ratio = row.get("train_env_steps_per_s"), row.get("train_over_sim")
        layer = ""
        if "physics_env_steps_per_s" in row:
            layer = (
                f"  bare physics {row['physics_env_steps_per_s']:,} steps/s: "
                f"task layer +{100 * row['task_layer_cost']:.0f} % (inside its steps +"
                f"{100 * row['task_layer_cost_in_steps']:.1f} %)"
            )
        if "finite_check_cost" in row:
            layer += (
                f"  unchecked {row['unchecked_env_steps_per_s']:,} steps/s: "
                f"finite check +{100 * row['finite_check_cost']:.1f} %"
            )
        if "height_scan_cost" in row:
            layer += (
                f"  scan replaced by zeros {row['unscanned_env_steps_per_s']:,} steps/s: "
                f"height scan +{100 * row['height_scan_cost']:.1f} %"
            )
        print(
            f"{row['task']:<{width}} {row['backend']:<7} {_framework_label(row):<10} {row['num_envs']:>8} "
            f"{row['sim_env_steps_per_s']:>12,} {'' if train is None else f'{train:,}':>14} "
            f"{'' if ratio is None else f'{ratio:.2f}':>9} {'' if peak is None else f'{peak:,}':>9}{layer}"
        )


if __name__ == "__main__":
    main()
