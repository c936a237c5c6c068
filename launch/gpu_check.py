"""Prove simtrain on a GPU in minutes: `python launch/gpu_check.py` (one GPU; `--device cpu` runs what a CPU can).

Checks, each in a process of its own (so that one failure, hang or out-of-memory does not hide the others), the
independent ones side by side (`--jobs`), the timed trainings alone at the end:
- step: every task on both engines at `--num-envs` worlds steps on the device with finite results;
- warp_graph: MuJoCo Warp's captured physics graphs give the states of launching the kernels one by one;
- warp_agent_graph: the Warp agent (`--framework warp`) replaying its captured graphs (acting, recording, each update
  epoch) learns what the same launch sequences launched one by one learn, over a few iterations on cartpole;
- sync_free_rollout: a rollout of the torch agent on MuJoCo Warp (act, env step, record) under
  `torch.cuda.set_sync_debug_mode("error")`: no host synchronisation;
- transfer_guard: iterations of the compiled MJX + JAX loop under JAX's host-to-device transfer guard;
- parallel_trainer: the ParallelTrainer with two agents on CUDA shared tensors;
- torchrun: `torchrun --nproc-per-node=1 launch/train.py` (a NCCL process group of one rank);
- train: cartpole to the solved return on warp+torch and on mjx+JAX compiled, timed from the command to solved,
  then the command to its first update again with warm kernel and compilation caches.
Prints one JSON object per check as it ends, then a table; exits non-zero when any check failed.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import tyro

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
RESULT_MARK = "GPU_CHECK_RESULT "


@dataclass
class GpuCheckArgs:
    device: str = "cuda"
    num_envs: int = 4096
    """worlds of every stepped env (the trainings use the task's default)"""
    tasks: tuple[str, ...] = ()
    """tasks of the step check (default: every registered task)"""
    backends: tuple[str, ...] = ("warp", "mjx")
    steps: int = 20
    """env steps of the step and graph checks"""
    checks: tuple[str, ...] = (
        "step",
        "warp_graph",
        "warp_agent_graph",
        "sync_free_rollout",
        "transfer_guard",
        "parallel_trainer",
        "torchrun",
        "train",
    )
    jobs: int = 6
    """checks run side by side (CPU-bound compiles dominate; each process allocates GPU memory only as it needs)"""
    timeout_s: float = 420.0
    """a check still running after this long fails"""
    out: str | None = None
    """also append the JSON objects to this file"""
    run_check: str | None = None
    """internal: run the one check described by this JSON object in this process"""


# ---- the checks (each runs in a process of its own) ----


def _random_actions(env, generator_seed: int = 0):
    import numpy as np

    from envs.convert import converter, to_device

    space = env.action_space
    rng = np.random.default_rng(generator_seed)
    batch = rng.uniform(space.low, space.high, (env.num_envs, *space.shape)).astype(np.float32)
    return to_device(converter("numpy", env.framework)(batch), str(env.device))


def _finite(array) -> bool:
    import numpy as np

    if hasattr(array, "detach"):
        array = array.detach().cpu()
    return bool(np.isfinite(np.asarray(array)).all())


def check_step(args: GpuCheckArgs, task: str, backend: str) -> dict:
    import envs
    import tasks

    started = time.perf_counter()
    env = envs.wrap_env(tasks.make(task, backend, args.num_envs, device=args.device), envs.NATIVE_FRAMEWORK[backend])
    observations, _ = env.reset()
    actions = _random_actions(env)
    observations, reward, *_ = env.step(actions)
    _block(observations)
    first_step_s = time.perf_counter() - started
    stepped = time.perf_counter()
    for _ in range(args.steps):
        observations, reward, *_ = env.step(actions)
    _block(observations)
    rate = args.steps * env.num_envs / (time.perf_counter() - stepped)
    env.check_finite(0.0)  # buffer overflows and any non-finite world raise here
    device = str(getattr(observations, "device", None) or next(iter(observations.devices())))
    assert args.device.split(":")[0] in device.lower() or (args.device == "cuda" and "gpu" in device.lower()), (
        f"observations on {device}, not {args.device}"
    )
    assert _finite(observations) and _finite(reward), "non-finite observations or rewards"
    return {"build_and_first_step_s": round(first_step_s, 1), "env_steps_per_s": round(rate), "array_device": device}


def check_warp_graph(args: GpuCheckArgs, task: str) -> dict:
    """Two envs from the same seed take the same actions, one replaying captured graphs, one launching the kernels
    one by one: their states must agree. Exactly without contacts; with them, to the rounding noise that the
    order of atomic contact writes adds (5 steps, so that it cannot grow far)."""
    import torch

    import tasks
    from envs.warp_engine import WarpVecEnv

    spec = tasks.spec(task)
    graphs = WarpVecEnv(spec, args.num_envs, args.device, seed=0)
    launches = WarpVecEnv(spec, args.num_envs, args.device, seed=0, cuda_graphs=False)
    assert graphs.cuda_graphs == args.device.startswith("cuda") and not launches.cuda_graphs
    graphs.reset()
    launches.reset()
    generator = torch.Generator(device=graphs.device).manual_seed(0)
    low, high = (
        torch.as_tensor(bound, device=graphs.device)
        for bound in (spec.single_action_space.low, spec.single_action_space.high)
    )
    contacts = graphs.mj_model.ngeom > 1 and graphs.nconmax > 0
    steps, tolerance = (min(args.steps, 5), 1e-3) if contacts else (args.steps, 1e-5)
    worst = 0.0
    for _ in range(steps):
        actions = low + (high - low) * torch.rand(
            (args.num_envs, *low.shape), generator=generator, device=graphs.device
        )
        out_graph, out_launch = graphs.step(actions), launches.step(actions)
        for a, b in [
            (out_graph[0], out_launch[0]),
            (out_graph[1], out_launch[1]),
            (graphs._qpos, launches._qpos),
            (graphs._qvel, launches._qvel),
        ]:
            worst = max(worst, float(((a - b).abs() / (1 + b.abs())).max()))
    assert worst <= tolerance, f"graph and launches differ by {worst:.2e} (relative; allowed {tolerance:.0e})"
    return {"steps": steps, "max_relative_difference": worst, "cuda_graphs": graphs.cuda_graphs}


def check_warp_agent_graph(args: GpuCheckArgs, task: str, iterations: int = 3) -> dict:
    """Two Warp agents from the same seed on two envs from the same seed, `iterations` rollouts and updates each: one
    replays its captured graphs, one launches the same sequences one by one; their parameters must agree (to float32
    tolerance on CUDA, where atomic sums are not bit-reproducible)."""
    import numpy as np

    import envs
    import tasks
    from toolkit.warp import Runner

    trained, rates = {}, {}
    for mode in ("graph", "eager"):
        env = envs.wrap_env(tasks.make(task, "warp", args.num_envs, device=args.device, seed=0), "torch")
        cfg = Runner.load_cfg_from_yaml(str(tasks.spec(task).agent_cfg))
        cfg["seed"] = 0
        cfg["agent"]["graph_capture"] = True
        cfg["agent"]["experiment"].update(directory=tempfile.mkdtemp(prefix="gpu-check-"), checkpoint_interval=0)
        cfg["trainer"].update(headless=True, disable_progressbar=True, timesteps=cfg["agent"]["rollouts"])
        runner = Runner(env, cfg)
        agent = runner.agent
        agent._graphs.capture = mode == "graph"
        runner.run("train")  # the first iteration: warm-up (compiles; captures the graphs)
        runner.trainer.cfg.timesteps = (iterations + 1) * agent.cfg.rollouts
        started = time.perf_counter()
        runner.run("train")
        _block(env.unwrapped._qpos)
        rates[mode] = iterations * agent.cfg.rollouts * env.num_envs / (time.perf_counter() - started)
        trained[mode] = (agent.state_arrays(), len(agent._graphs), agent._graphs._stream is not None)
        env.close()
    (graph, graphs, on_stream), (eager, _, _) = trained["graph"], trained["eager"]
    assert graphs > 0, "the Warp agent captured no graph"
    assert on_stream == args.device.startswith("cuda"), "CUDA graphs not replayed on the agent's own stream"
    worst = max(
        float(np.abs(graph[key] - eager[key]).max() / (np.abs(eager[key]).max() + 1e-6))
        for key in graph
        if key.endswith("params")
    )
    tolerance = 1e-3 if args.device.startswith("cuda") else 0.0
    assert worst <= tolerance, f"captured and launched parameters differ by {worst:.2e} (relative; allowed {tolerance})"
    return {
        "iterations": iterations,
        "graphs": graphs,
        "max_relative_param_difference": worst,
        "train_env_steps_per_s": {mode: round(rate) for mode, rate in rates.items()},
    }


def _torch_runner(args: GpuCheckArgs, task: str, backend: str, framework: str, **trainer):
    import envs
    import tasks
    from toolkit.runner_base import runner_class

    env = envs.wrap_env(tasks.make(task, backend, args.num_envs, device=args.device), framework)
    Runner = runner_class(framework)
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec(task).agent_cfg))
    cfg["agent"]["experiment"].update(directory=tempfile.mkdtemp(prefix="gpu-check-"), checkpoint_interval=0)
    cfg["trainer"].update(headless=True, disable_progressbar=True, **trainer)
    return env, Runner(env, cfg)


def check_sync_free_rollout(args: GpuCheckArgs, task: str) -> dict:
    """What SequentialTrainer does per step, minus the update, with torch raising on any host synchronisation."""
    import torch

    from toolkit.trainers.episode_stats import EnvLog, EpisodeStats

    env, runner = _torch_runner(args, task, "warp", "torch")
    agent, trainer = runner.agent, runner.trainer
    rollouts = agent.cfg.rollouts
    trainer.cfg.timesteps = 2 * rollouts
    runner.run("train")  # warm-up: kernels compiled, graphs captured, one update done
    observations = trainer.observations
    episodes, env_log = EpisodeStats(), EnvLog()
    debug = torch.cuda.is_available() and str(env.device).startswith("cuda")
    if debug:
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
    try:
        for timestep in range(2 * rollouts, 3 * rollouts):
            agent.pre_interaction(timestep=timestep, timesteps=3 * rollouts)
            actions, _ = agent.act(observations, None, timestep=timestep, timesteps=3 * rollouts)
            next_observations, rewards, terminated, truncated, infos = env.step(actions)
            agent.record_transition(
                observations=observations,
                states=None,
                actions=actions,
                rewards=rewards,
                next_observations=next_observations,
                next_states=None,
                terminated=terminated,
                truncated=truncated,
                infos=infos,
                timestep=timestep,
                timesteps=3 * rollouts,
            )
            episodes.record(infos["episode"], infos["_episode"])
            env_log.record(infos["log"])
            observations = next_observations
    finally:
        if debug:
            torch.cuda.set_sync_debug_mode("default")
    agent.post_interaction(timestep=3 * rollouts - 1, timesteps=3 * rollouts)
    env.check_finite(0.0)
    return {"steps": rollouts, "sync_debug_mode": "error" if debug else "not on CUDA: ran without it"}


def check_transfer_guard(args: GpuCheckArgs, task: str) -> dict:
    import jax

    from toolkit.trainers.episode_stats import EnvLog, EpisodeStats

    env, runner = _torch_runner(args, task, "mjx", "jax", compiled=True)
    trainer = runner.trainer
    rollouts = runner.agent.cfg.rollouts
    trainer.cfg.timesteps = rollouts
    runner.run("train")  # warm-up: both programs compiled
    compiled, observations = trainer.compiled_loop, trainer.observations
    assert compiled is not None, "the compiled path was not taken"
    episodes, env_log = [EpisodeStats()], EnvLog()
    with jax.transfer_guard_host_to_device("disallow"), jax.transfer_guard_device_to_device("disallow"):
        for iteration in range(1, 4):
            observations = compiled.iteration(observations, iteration * rollouts, 4 * rollouts, episodes, env_log)
    jax.block_until_ready(observations)
    return {"iterations": 3, "guard": "host_to_device and device_to_device disallowed"}


def check_parallel_trainer(args: GpuCheckArgs, task: str) -> dict:
    import torch

    import envs
    import tasks
    from toolkit.runner_cfg import load_yaml, parse_runner_cfg
    from toolkit.torch import PPO, RandomMemory, Runner, build_models
    from toolkit.trainers import ParallelTrainer

    env = envs.wrap_env(tasks.make(task, "warp", args.num_envs, device=args.device), "torch")
    device = torch.device(env.device)
    half = args.num_envs // 2
    agents = []
    for _ in range(2):
        cfg = load_yaml(str(tasks.spec(task).agent_cfg))
        cfg["agent"]["experiment"].update(directory=tempfile.mkdtemp(prefix="gpu-check-"), checkpoint_interval=0)
        parsed = parse_runner_cfg(cfg, Runner.resolve_class)
        models = build_models(parsed.models, env.observation_space, env.action_space, device)
        agents.append(
            PPO(
                models=models,
                memory=RandomMemory(parsed.agent.rollouts, half, device=device),
                observation_space=env.observation_space,
                action_space=env.action_space,
                device=device,
                cfg=parsed.agent,
            )
        )
    before = [torch.nn.utils.parameters_to_vector(agent.policy.parameters()).detach().clone() for agent in agents]
    rollouts = agents[0].cfg.rollouts
    trainer = ParallelTrainer(
        env=env,
        agents=agents,
        scopes=[half, half],
        cfg={"timesteps": 4 * rollouts, "headless": True, "disable_progressbar": True},
    )
    try:
        stats = trainer.train()
        shared = [buffers["actions"].is_cuda for buffers in trainer._buffers]
    finally:
        trainer.close()
    moved = [
        float((torch.nn.utils.parameters_to_vector(agent.policy.parameters()) - start).abs().max())
        for agent, start in zip(agents, before)
    ]
    assert all(value > 0 for value in moved), "an agent's weights did not change (its worker did not update)"
    assert stats.timestep == 4 * rollouts
    return {"timesteps": stats.timestep, "shared_buffers_on_cuda": shared, "weight_change": moved}


def _train_command(
    args: GpuCheckArgs, *extra: str, runs_dir: str, launcher: tuple[str, ...] = (sys.executable,)
) -> dict:
    started = time.perf_counter()
    command = [
        *launcher,
        os.path.join(REPO, "launch", "train.py"),
        "--headless",
        "--device",
        args.device,
        "--runs-dir",
        runs_dir,
        *extra,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout_s)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} exited {completed.returncode}: {completed.stderr[-1500:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return {**result, "command_wall_s": round(wall, 1)}


def check_torchrun(args: GpuCheckArgs, task: str) -> dict:
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    launcher = (torchrun,) if os.path.exists(torchrun) else (sys.executable, "-m", "torch.distributed.run")
    result = _train_command(
        args,
        "--task",
        task,
        "--timesteps",
        "64",
        "--no-stop-when-solved",
        "--torch-threads",
        "1",
        runs_dir=tempfile.mkdtemp(prefix="gpu-check-"),
        launcher=(*launcher, "--standalone", "--nproc-per-node=1"),
    )
    expected = "nccl" if args.device.startswith("cuda") else "gloo"
    assert result.get("process_group") == expected, f"process group {result.get('process_group')}, expected {expected}"
    return {
        "process_group": result["process_group"],
        "env_steps": result["env_steps"],
        "command_wall_s": result["command_wall_s"],
    }


def check_train(args: GpuCheckArgs, task: str, backend: str) -> dict:
    """Solve from a command, timed as a user sees it; then the same command again, ended after one update, for the
    time to the first update with warm caches (Warp's kernels, JAX's persistent compilation cache)."""
    extra = ["--task", task, "--backend", backend] + (["--trainer.compiled", "True"] if backend == "mjx" else [])
    runs_dir = tempfile.mkdtemp(prefix="gpu-check-")
    solved = _train_command(args, *extra, runs_dir=runs_dir)
    assert solved["solved"], f"not solved: mean return {solved['mean_return']} after {solved['env_steps']} env steps"
    warm = _train_command(args, *extra, "--timesteps", "16", "--no-stop-when-solved", runs_dir=runs_dir)
    return {
        "command_to_solved_s": solved["command_wall_s"],
        "training_wall_s": solved["wall_s"],
        "env_steps": solved["env_steps"],
        "train_env_steps_per_s": solved["env_steps_per_s"],
        "mean_return": solved["mean_return"],
        "num_envs": solved["num_envs"],
        "warm_command_to_first_update_s": warm["command_wall_s"],
    }


CHECKS = {
    "step": check_step,
    "warp_graph": check_warp_graph,
    "warp_agent_graph": check_warp_agent_graph,
    "sync_free_rollout": check_sync_free_rollout,
    "transfer_guard": check_transfer_guard,
    "parallel_trainer": check_parallel_trainer,
    "torchrun": check_torchrun,
    "train": check_train,
}


def _block(array) -> None:
    if hasattr(array, "block_until_ready"):
        array.block_until_ready()
    elif str(getattr(array, "device", "cpu")).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


# ---- the driver ----


def plan(args: GpuCheckArgs) -> tuple[list[dict], list[dict]]:
    """(checks that may run side by side, timed checks that run alone afterwards)."""
    import tasks

    names = list(args.tasks) or tasks.names()
    for name in names:
        tasks.spec(name)  # an unknown task is a one-line error before anything runs
    unknown = sorted(set(args.checks) - set(CHECKS))
    if unknown:
        raise ValueError(f"--checks: {unknown[0]!r} is not a check; choose from {', '.join(CHECKS)}")
    side_by_side, alone = [], []
    wanted = set(args.checks)
    if "step" in wanted:  # slowest compiles first: MJX contact tasks
        steps = [{"check": "step", "task": name, "backend": backend} for backend in args.backends for name in names]
        side_by_side += sorted(steps, key=lambda c: (c["backend"] != "mjx", c["task"].startswith("cartpole")))
    if "warp" in args.backends:
        side_by_side += [
            {"check": "warp_graph", "task": name}
            for name in ("cartpole", "ant")
            if "warp_graph" in wanted and name in names
        ]
        if "warp_agent_graph" in wanted and "cartpole" in names:
            side_by_side.append({"check": "warp_agent_graph", "task": "cartpole"})
        side_by_side += [
            {"check": "sync_free_rollout", "task": name}
            for name in ("cartpole", "ant")
            if "sync_free_rollout" in wanted and name in names
        ]
        side_by_side += [{"check": c, "task": "cartpole"} for c in ("parallel_trainer", "torchrun") if c in wanted]
    if "mjx" in args.backends and "transfer_guard" in wanted:
        side_by_side.append({"check": "transfer_guard", "task": "cartpole"})
    if "train" in wanted:
        alone += [{"check": "train", "task": "cartpole", "backend": backend} for backend in args.backends]
    return side_by_side, alone


def run_one(args: GpuCheckArgs, check: dict) -> dict:
    """Run a check in a child process; its result, or its failure with the end of its output."""
    env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false", PYTHONUNBUFFERED="1")
    env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.expanduser("~/.cache/simtrain/jax"))
    fields = {f.name: getattr(args, f.name) for f in dataclasses.fields(args) if f.name not in ("run_check", "out")}
    command = [sys.executable, os.path.abspath(__file__), "--run-check", json.dumps(check)]
    for name, value in fields.items():
        flag = "--" + name.replace("_", "-")
        command += [flag, *map(str, value)] if isinstance(value, tuple) else [flag, str(value)]
    started = time.perf_counter()
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout_s, env=env)
        output = completed.stdout + completed.stderr
        lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARK)]
        result = (
            json.loads(lines[-1][len(RESULT_MARK) :])
            if lines
            else {"ok": False, "error": f"exited {completed.returncode}: {output[-2000:]}"}
        )
    except subprocess.TimeoutExpired:
        result = {"ok": False, "error": f"still running after {args.timeout_s:.0f} s"}
    return {**check, **result, "wall_s": round(time.perf_counter() - started, 1)}


def run_in_this_process(args: GpuCheckArgs) -> None:
    check = json.loads(args.run_check)
    params = {key: value for key, value in check.items() if key != "check"}
    try:
        result = {"ok": True, **CHECKS[check["check"]](args, **params)}
    except Exception as error:  # the parent reports it as this check's failure
        import traceback

        traceback.print_exc()
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"[:2000]}
    print(RESULT_MARK + json.dumps(result), flush=True)


def environment() -> dict:
    import torch

    info = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        driver = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        info["driver_and_memory"] = driver or None
    except (OSError, subprocess.SubprocessError):
        info["driver_and_memory"] = None
    from importlib.metadata import PackageNotFoundError, version

    for package in ("jax", "jaxlib", "warp-lang", "mujoco", "mujoco-mjx", "mujoco-warp"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = None
    return info


def main() -> None:
    args = tyro.cli(GpuCheckArgs, description=__doc__.split("\n")[0])
    if args.run_check:
        run_in_this_process(args)
        return
    try:
        side_by_side, alone = plan(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    results = []

    def emit(result: dict) -> None:
        results.append(result)
        line = json.dumps(result)
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as handle:
                handle.write(line + "\n")

    emit({"check": "environment", "ok": True, **environment()})
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for future in concurrent.futures.as_completed([pool.submit(run_one, args, check) for check in side_by_side]):
            emit(future.result())
    for check in alone:
        emit(run_one(args, check))
    print(f"\n{'check':<18} {'task':<26} {'backend':<7} {'ok':<4} {'wall s':>7}  detail")
    for result in results[1:]:
        detail = {k: v for k, v in result.items() if k not in ("check", "task", "backend", "ok", "wall_s")}
        print(
            f"{result['check']:<18} {result.get('task', ''):<26} {result.get('backend', ''):<7} "
            f"{'yes' if result['ok'] else 'NO':<4} {result['wall_s']:>7}  {json.dumps(detail)[:150]}"
        )
    failed = [r for r in results if not r["ok"]]
    print(f"\n{len(results) - 1 - len(failed)} passed, {len(failed)} failed in {time.perf_counter() - started:.0f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
