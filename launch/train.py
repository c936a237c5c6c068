"""Train a registered task: `python launch/train.py --task cartpole --backend warp`.

Writes runs/<task>/<time>_<name>/ (config.yaml, launch.yaml, metrics.jsonl, checkpoints/) and prints, as its
last line, one JSON object for scripts and cluster jobs. Any key of the agent configuration can be overridden
with a dotted flag: `--agent.learning_rate 1e-3`, `--models.policy.hiddens [64,64]`, `--trainer.timesteps 5000`.
SIGTERM, SIGUSR1 or Ctrl-C (SIGINT) write a checkpoint and end the run cleanly; `--resume RUN_DIR` continues it.
Any error ends the command with one line on stderr (and, for an unexpected one, the path of a log holding its
traceback).
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
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
from toolkit.cli import run_main  # noqa: E402
from toolkit.config import check  # noqa: E402
from toolkit.devices import resolve_device  # noqa: E402
from toolkit.distributed import JaxProcessArgs, join  # noqa: E402
from toolkit.runner_base import FRAMEWORKS, env_framework, runner_class  # noqa: E402
from toolkit.run_dir import JsonlMetrics, cut_metrics, new_run_dir, release_run_dir, write_yaml  # noqa: E402
from toolkit.runner_cfg import SECTIONS as OVERRIDE_SECTIONS  # noqa: E402
from toolkit.runner_cfg import load_yaml, parse_runner_cfg, resolved_yaml  # noqa: E402

TASK_HELP = f"task to train; one of: {', '.join(tasks.names())}"


@dataclass
class TrainArgs:
    task: Annotated[str, tyro.conf.arg(help=TASK_HELP, metavar="{" + ",".join(tasks.names()) + "}")] = "cartpole"
    backend: Annotated[str, tyro.conf.arg(metavar="{warp,mjx}")] = "warp"
    """simulation engine: warp (MuJoCo Warp) or mjx (MuJoCo XLA)"""
    framework: Annotated[str | None, tyro.conf.arg(metavar="{torch,jax,warp}")] = None
    """agent framework (default: the engine's own, torch for warp and jax for mjx; any pairing works, zero copy;
    warp: the Warp agent, with --backend warp only)"""
    num_envs: int | None = None
    """number of simulated worlds (default: the task's)"""
    timesteps: int | None = None
    """vectorized steps to train for (default: the task's agent config)"""
    seed: int = 42
    num_seeds: int = 1
    """train K independent agents (seeds seed..seed+K-1) side by side, each on its own --num-envs worlds and logged
    in <run>/seed_<seed>/; on MJX with the JAX agent they are vmapped into one compiled program"""
    device: str | None = None
    """cpu, cuda or cuda:K (default: cuda if available, else cpu)"""
    headless: bool = False
    """no rendering; plain periodic progress lines instead of a progress bar"""
    experiment_name: str = ""
    """suffix of the run folder's name"""
    stop_when_solved: bool = True
    """stop once the mean episode return reaches the task's solved threshold"""
    torch_threads: int = 1
    """torch CPU threads. 1 is measured fastest on both engines (README "Choosing --torch-threads"): the
    simulator's own CPU work (Warp's kernel launches, XLA's threads) needs a core; on a GPU they only launch kernels"""
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
    randomization: envs.Randomization = envs.Randomization()
    """domain randomization, off by default: per world, drawn again at each of its resets, factors uniform in
    [LOW, HIGH] for body masses, geoms' friction and actuator gains, e.g. --randomization.mass 0.8 1.2"""
    distributed: bool = False
    """JAX agent on several processes (jax.distributed), one per host or GPU; torch runs are distributed by
    launching this script with torchrun instead (it sets RANK, WORLD_SIZE and LOCAL_RANK)"""
    coordinator_address: str | None = None
    """--distributed: host:port of process 0 (default: $JAX_COORDINATOR_ADDRESS, or what Slurm tells JAX)"""
    num_processes: int | None = None
    """--distributed: how many processes (default: $JAX_NUM_PROCESSES, or Slurm's)"""
    process_id: int | None = None
    """--distributed: this process's index (default: $JAX_PROCESS_ID, or Slurm's)"""
    export: bool = False
    """after training, export the policy (best checkpoint, else last) to <run>/exported as launch/export.py does"""


def validate(args: TrainArgs) -> None:
    tasks.spec(args.task)
    if args.backend not in envs.BACKENDS:
        raise ValueError(f"--backend: {args.backend!r} is not allowed; choose one of {', '.join(envs.BACKENDS)}")
    for flag, value in (("--num-envs", args.num_envs), ("--timesteps", args.timesteps), ("--num-seeds", args.num_seeds)):
        if value is not None and value < 1:
            raise ValueError(f"{flag}: {value} is not allowed; must be a positive integer")
    if args.framework is not None and args.framework not in FRAMEWORKS:
        raise ValueError(f"--framework: {args.framework!r} is not allowed; choose one of {', '.join(FRAMEWORKS)}")
    if args.framework == "warp":  # issue 18: what the Warp agent (skrl's Warp column) does not do
        check_warp_launch(args)
    if args.distributed and (args.framework or envs.NATIVE_FRAMEWORK.get(args.backend)) != "jax":
        raise ValueError("--distributed: is for JAX agents (jax.distributed); launch torch agents with torchrun instead")
    if args.torch_threads < 1:
        raise ValueError(f"--torch-threads: {args.torch_threads} is not allowed; must be a positive integer")
    if args.wandb and importlib.util.find_spec("wandb") is None:
        raise ValueError("--wandb: the wandb package is not installed; pip install -e '.[wandb]' (or drop --wandb)")
    if args.agent_cfg is not None and not os.path.isfile(args.agent_cfg):
        raise ValueError(f"--agent-cfg: {args.agent_cfg!r} is not allowed; expected a YAML file in the Runner's format"
                         + (" (it is a folder)" if os.path.isdir(args.agent_cfg) else " (it does not exist)"))


def check_warp_launch(args: TrainArgs) -> None:
    """--framework warp: MuJoCo Warp only, one process; each refusal names the alternative."""
    if args.backend != "warp":
        raise ValueError(f"--backend: {args.backend!r} is not allowed with --framework warp (the Warp agent reads MuJoCo Warp's "
                         "arrays); use --framework jax (or torch) for --backend mjx")
    if args.distributed or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError("--framework: 'warp' is not allowed in a distributed run (skrl's Warp PPO is not distributed); "
                         "use --framework torch (torchrun)")


def check_batch(parsed, num_envs: int) -> None:
    """mini_batches must not exceed what one rollout of one agent's worlds holds (samples, or sequences for PPO_RNN)."""
    agent = parsed.agent
    lengths = [spec.rnn.sequence_length for spec in (parsed.models.policy, parsed.models.value) if spec.rnn is not None]
    if parsed.agent_class == "PPO_RNN" and lengths:
        count, what = num_envs * max(agent.rollouts // lengths[0], 1), f"sequences (rollouts {agent.rollouts} / sequence_length {lengths[0]} x {num_envs} worlds)"
    else:
        count, what = num_envs * agent.rollouts, f"samples (rollouts {agent.rollouts} x {num_envs} worlds)"
    check(agent.mini_batches <= count, "agent", "mini_batches", agent.mini_batches, f"must be <= the {count} {what} of a rollout")


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


CURRENT_RUN: dict = {"dir": None}  # the run folder of the command in progress (for main()'s error log)


def train(args: TrainArgs, overrides: dict | None = None) -> dict:
    import torch

    # everything the user typed or pointed at is checked here, before a folder is claimed or a world is built
    if args.resume:
        args, cfg, run_dir = _resumed(args, overrides or {})
    else:
        validate(args)
        cfg, run_dir = _new_cfg(args, overrides or {}), None
    framework = args.framework or envs.NATIVE_FRAMEWORK[args.backend]
    Runner = runner_class(framework)
    check(isinstance(cfg.get("trainer"), dict), "trainer", "section", cfg.get("trainer"), "expected a mapping of its keys")
    if args.timesteps is not None:
        cfg["trainer"]["timesteps"] = args.timesteps
    cfg["trainer"].update(headless=args.headless, disable_progressbar=True if args.headless else None)
    parsed = parse_runner_cfg(cfg, Runner.resolve_class)  # a configuration error ends the command here
    if framework == "warp":  # issue 18: RNN, mixed precision, ... refused before any world is built
        from toolkit.warp import check_runner_cfg

        check_runner_cfg(parsed)
    spec = tasks.spec(args.task)
    check_batch(parsed, args.num_envs or spec.default_num_envs)
    device = resolve_device(args.device, uses_jax="jax" in (framework, envs.NATIVE_FRAMEWORK[args.backend]))
    torch.set_num_threads(args.torch_threads)
    _persistent_jax_cache(device)
    cluster = join(framework, device, JaxProcessArgs(args.coordinator_address, args.num_processes, args.process_id)
                   if args.distributed else None)  # torchrun or --distributed: this process is one rank of several
    claimed = run_dir is None and cluster.is_main
    if claimed:  # one atomic mkdir: no other run can take this folder
        run_dir = new_run_dir(args.runs_dir, args.task, args.experiment_name or args.backend)
    CURRENT_RUN["dir"] = run_dir
    try:
        if cluster.distributed:
            device, run_dir = _as_rank(cluster, args, cfg, device, run_dir)
        _set_experiment(cfg, run_dir)
        resolved = resolved_yaml(parse_runner_cfg(cfg, Runner.resolve_class))
        return _train(args, cfg, resolved, run_dir, framework, device, cluster, spec)
    except BaseException:
        if claimed and release_run_dir(run_dir):  # failed before it trained: leave nothing half-made
            CURRENT_RUN["dir"] = None
        raise


def _train(args: TrainArgs, cfg: dict, resolved: dict, run_dir: str, framework: str, device: str, cluster, spec) -> dict:
    import torch

    seeds = [args.seed + index for index in range(args.num_seeds)]
    num_envs = (args.num_envs or spec.default_num_envs) * len(seeds)
    env = envs.wrap_env(tasks.make(args.task, args.backend, num_envs, device=device, seed=args.seed + cluster.rank,
                                   randomization=args.randomization), env_framework(framework))
    runner = runner_class(framework)(env, cfg, seeds=seeds if len(seeds) > 1 else None)
    agents = runner.agent if isinstance(runner.agent, list) else [runner.agent]
    cluster.follow(runner.trainer)
    if args.resume:  # read before anything in the folder is rewritten
        runner.trainer.restore([os.path.join(agent.experiment_dir, "checkpoints", "last.pt") for agent in agents])
        if not cluster.is_main:  # rank 0's checkpoint: its networks, but this rank's own worlds and random state
            runner.trainer.observations = None
            torch.manual_seed(args.seed + cluster.rank + runner.trainer.timestep)
    launch = {**dataclasses.asdict(args), "randomization": args.randomization.as_dict(), "resume": None, "device": device,
              "framework": framework}
    if cluster.is_main:  # in a distributed run, rank 0 writes the run folder
        write_yaml(os.path.join(run_dir, "config.yaml"), resolved)
        write_yaml(os.path.join(run_dir, "launch.yaml"), launch)
        for seed, agent in zip(seeds, agents):
            os.makedirs(os.path.join(agent.experiment_dir, "checkpoints"), exist_ok=True)
            if agent.experiment_dir != run_dir:  # a seed's folder is a run of its own for play.py
                write_yaml(os.path.join(agent.experiment_dir, "config.yaml"), {**resolved, "seed": seed})
                write_yaml(os.path.join(agent.experiment_dir, "launch.yaml"), {**launch, "seed": seed, "num_seeds": 1})
            if args.resume:  # the records after the checkpoint are written again by this run
                cut_metrics(os.path.join(agent.experiment_dir, "metrics.jsonl"), runner.trainer.timestep)

    loggers = [logger for index, agent in enumerate(agents) if cluster.is_main
               for logger in _loggers(args, agent.experiment_dir, resolved, index if len(agents) > 1 else None, run_dir)]
    runner.trainer.loggers.extend(loggers)
    solved_at = spec.solved_return if args.stop_when_solved else None
    started = time.perf_counter()
    start_timestep = runner.trainer.timestep
    try:
        stats = runner.run("train", stop=None if solved_at is None else (lambda s: cluster.all_ranks(_all_solved(s, solved_at))))
    finally:
        for logger in loggers:
            logger.close()
    if not runner.trainer.preempted:  # a preempted run has just written its checkpoint
        runner.trainer.write_checkpoints(runner.trainer.timestep)
    wall = time.perf_counter() - started
    env_steps = (runner.trainer.timestep - start_timestep) * env.num_envs
    result = {
        "task": args.task, "backend": args.backend, "framework": framework, "num_envs": env.num_envs,
        "env_steps": runner.trainer.timestep * env.num_envs, "wall_s": round(wall, 2),
        "env_steps_per_s": round(env_steps / wall, 1), "mean_return": stats.mean_return,
        "solved": _all_solved(stats, spec.solved_return), "preempted": runner.trainer.preempted, "run_dir": run_dir,
    }
    if args.export and cluster.is_main and not runner.trainer.preempted:
        result["exported"] = [_export(agent.experiment_dir) for agent in agents]
    if cluster.distributed:
        result.update(_distributed_result(cluster, agents[0], result))
    elif cluster.process_group:  # a one-rank torchrun: its collectives ran on this backend
        result["process_group"] = cluster.process_group
        cluster.close()
    if len(agents) > 1:
        result["seeds"] = [{"seed": seed, "mean_return": agent_stats.get("mean_return"), "run_dir": agent.experiment_dir}
                           for seed, agent, agent_stats in zip(seeds, agents, stats.agents or [{}] * len(agents))]
    return result


def _export(run_dir: str) -> dict:
    """launch/export.py's export of a run folder (loaded by path: this script may itself be loaded by path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("simtrain_export", os.path.join(os.path.dirname(os.path.abspath(__file__)), "export.py"))
    export = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
    spec.loader.exec_module(export)
    best = os.path.join(run_dir, "checkpoints", "best.pt")
    return export.export_run(run_dir, "best" if os.path.isfile(best) else "last")["files"]


def _persistent_jax_cache(device: str) -> None:
    """On a GPU, XLA compiles an MJX step for tens of seconds: JAX's persistent compilation cache keeps the programs
    on disk, so the next run with the same task and world count starts in seconds ($JAX_COMPILATION_CACHE_DIR, or
    ~/.cache/simtrain/jax)."""
    if device.startswith("cuda"):
        import jax

        jax.config.update("jax_compilation_cache_dir", os.environ.get("JAX_COMPILATION_CACHE_DIR")
                          or os.path.expanduser("~/.cache/simtrain/jax"))


def _as_rank(cluster, args: TrainArgs, cfg: dict, device: str, run_dir: str) -> tuple[str, str]:
    """This rank's device (its own GPU), seed (seed + rank, for its worlds and sampling; the networks start as
    rank 0's) and rank 0's run folder. Ranks other than 0 print nothing (rank 0 reports for all)."""
    if args.num_seeds > 1:
        raise ValueError(f"--num-seeds: {args.num_seeds} is not allowed in a distributed run; must be 1")
    if device.startswith("cuda") and args.device in (None, "cuda"):
        device = f"cuda:{cluster.local_rank}"
    cfg["seed"] = args.seed + cluster.rank
    run_dir = cluster.broadcast_object(run_dir)
    if not cluster.is_main:
        sys.stdout = open(os.devnull, "w")
    return device, run_dir


def _distributed_result(cluster, agent, result: dict) -> dict:
    """The whole run's throughput (every rank's worlds) and each rank's weights digest (equal when in sync)."""
    from toolkit.distributed import agent_digest

    digests = cluster.all_gather_objects(agent_digest(agent))
    cluster.close()
    return {"world_size": cluster.world_size, "process_group": cluster.process_group, "num_envs": result["num_envs"] * cluster.world_size,
            "env_steps": result["env_steps"] * cluster.world_size,
            "env_steps_per_s": round(result["env_steps_per_s"] * cluster.world_size, 1), "rank_weight_digests": digests}


def _all_solved(stats, solved_at: float | None) -> bool:
    returns = [agent.get("mean_return") for agent in stats.agents] or [stats.mean_return]
    return solved_at is not None and all(value is not None and value >= solved_at for value in returns)


def _loggers(args: TrainArgs, folder: str, resolved: dict, agent_index: int | None, run_dir: str) -> list:
    """The metric loggers of one agent's folder; with several agents each sees only its own metrics."""
    name = os.path.basename(run_dir) if agent_index is None else f"{os.path.basename(run_dir)}_{os.path.basename(folder)}"
    loggers = [JsonlMetrics(os.path.join(folder, "metrics.jsonl"))]
    if args.wandb:
        from toolkit.loggers import WandbLogger

        loggers.append(WandbLogger(folder, config={"launch": dataclasses.asdict(args), **resolved}, project=args.wandb_project,
                                   entity=args.wandb_entity, name=name, run_id=name,
                                   group=None if agent_index is None else os.path.basename(run_dir)))
    if args.tensorboard:
        from toolkit.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(os.path.join(folder, "tensorboard")))
    if agent_index is None:
        return loggers
    return [_OneAgent(logger, agent_index) for logger in loggers]


class _OneAgent:
    """A logger fed with one agent's metrics of a several-agent report (its return, length and losses on top)."""

    def __init__(self, logger, index: int):
        self.logger, self.index = logger, index

    def __call__(self, metrics: dict) -> None:
        agent = metrics["agents"][self.index]
        self.logger({**metrics, "mean_return": agent.get("mean_return"), "mean_length": agent.get("mean_length"),
                     "env_steps": metrics["env_steps"] // len(metrics["agents"]),
                     "env_steps_per_s": metrics["env_steps_per_s"] / len(metrics["agents"]), "agents": [agent]})

    def close(self) -> None:
        self.logger.close()


def _new_cfg(args: TrainArgs, overrides: dict) -> dict:
    """The agent configuration: the task's default or --agent-cfg, with the dotted overrides."""
    cfg = load_yaml(args.agent_cfg or str(tasks.spec(args.task).agent_cfg))
    cfg["seed"] = args.seed
    apply_overrides(cfg, overrides)
    cfg.setdefault("trainer", {})
    return cfg


def _set_experiment(cfg: dict, run_dir: str) -> None:
    """Point the agent's experiment at the run folder (a resumed run: the folder given, wherever it was copied)."""
    agent = cfg.setdefault("agent", {})
    check(isinstance(agent, dict), "agent", "section", agent, "expected a mapping of PPO_CFG keys")
    experiment = agent.setdefault("experiment", {})
    check(isinstance(experiment, dict), "agent", "experiment", experiment, "expected a mapping of ExperimentCfg keys")
    experiment.update(directory=os.path.dirname(run_dir), experiment_name=os.path.basename(run_dir))


# flags a resumed run takes from the command line; every other flag is the run's own (its launch.yaml)
RESUME_TAKES = ("timesteps", "headless", "torch_threads", "device", "wandb", "tensorboard", "stop_when_solved", "export",
                "wandb_project", "wandb_entity", "coordinator_address", "num_processes", "process_id")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _resumed(args: TrainArgs, overrides: dict) -> tuple[TrainArgs, dict, str]:
    """The arguments and configuration a run folder was started with, and the flags of this command it takes
    (--timesteps may extend its budget). A flag that would change the run itself is refused."""
    run_dir = os.path.normpath(args.resume)
    checkpoint = os.path.join(run_dir, "checkpoints", "last.pt")
    if not os.path.isfile(checkpoint) and not glob.glob(os.path.join(run_dir, "seed_*", "checkpoints", "last.pt")):
        raise ValueError(f"--resume: {args.resume.rstrip('/')} has no checkpoints/last.pt; expected a run folder written by launch/train.py")
    saved = {key: value for key, value in load_yaml(os.path.join(run_dir, "launch.yaml")).items()
             if key in TrainArgs.__dataclass_fields__}
    saved["randomization"] = envs.Randomization.from_dict(saved.get("randomization") or {})
    original = TrainArgs(**saved)
    defaults = TrainArgs()
    refused = [f"{_flag(name)} {getattr(args, name)}" for name in TrainArgs.__dataclass_fields__
               if name not in (*RESUME_TAKES, "resume") and getattr(args, name) != getattr(defaults, name)
               and getattr(args, name) != getattr(original, name)]
    refused += [f"--{'.'.join(path)} {value}" for path, value in overrides.items()]
    if refused:
        raise ValueError(f"--resume: {', '.join(refused)} cannot change a resumed run (it continues with the settings in "
                         f"its launch.yaml and config.yaml); drop {'it' if len(refused) == 1 else 'them'}, or start a new "
                         f"run. A resume takes {', '.join(_flag(name) for name in RESUME_TAKES[:7])}")
    taken = {name: getattr(args, name) for name in RESUME_TAKES if getattr(args, name) != getattr(defaults, name)}
    if taken:
        print(f"resume: taking {', '.join(f'{_flag(name)} {value}' for name, value in taken.items())} from the command line; "
              f"everything else from {run_dir}/launch.yaml", file=sys.stderr)
    resumed = dataclasses.replace(original, resume=run_dir, timesteps=args.timesteps, headless=args.headless,
                                  torch_threads=args.torch_threads, wandb=args.wandb or original.wandb,
                                  tensorboard=args.tensorboard or original.tensorboard,
                                  **{name: value for name, value in taken.items()
                                     if name not in ("timesteps", "headless", "torch_threads", "wandb", "tensorboard")})
    return resumed, load_yaml(os.path.join(run_dir, "config.yaml")), run_dir


def main() -> None:
    args, unknown = tyro.cli(TrainArgs, description=__doc__, return_unknown_args=True)
    result = run_main("train", lambda: train(args, parse_overrides(unknown)), lambda: CURRENT_RUN["dir"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
