"""Train a registered task: `python launch/train.py --task cartpole --backend warp`.

Writes runs/<task>/<time>_<name>/ (config.yaml, launch.yaml, metrics.jsonl, checkpoints/) and prints, as its
last line, one JSON object for scripts and cluster jobs. Any key of the agent configuration can be overridden
with a dotted flag: `--agent.learning_rate 1e-3`, `--models.policy.hiddens [64,64]`, `--trainer.timesteps 5000`.
The task's own settings are typed `--env.*` flags (`--env.max-episode-steps 200`; `--task TASK --help` lists
that task's, with its defaults).
SIGTERM, SIGUSR1 or Ctrl-C (SIGINT) write a checkpoint and end the run cleanly; `--resume RUN_DIR` continues it.
Any error ends the command with one line on stderr (and, for an unexpected one, the path of a log holding its
traceback).
"""

from __future__ import annotations

import importlib.util
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
from launch import jax_cache, task_flags  # noqa: E402
from launch.training import ranks, result, resume, run_files  # noqa: E402
from toolkit.cli import run_main  # noqa: E402
from toolkit.config import check  # noqa: E402
from toolkit.registry import FRAMEWORK_PACKAGES, env_framework, runner_class  # noqa: E402
from toolkit.run_dir import new_run_dir, release_run_dir  # noqa: E402
from toolkit.runner_cfg import load_yaml, parse_runner_cfg, resolved_yaml  # noqa: E402
from toolkit.runner_flags import Overrides, apply_overrides, split_overrides, unknown_flag, with_override_flags  # noqa: E402

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
    jax_cache_dir: Annotated[str | None, tyro.conf.arg(help=jax_cache.HELP)] = jax_cache.DEFAULT_DIR
    env: Annotated[tasks.TaskConfig | None, tyro.conf.AvoidSubcommands] = None
    """the task's settings (None: its defaults): episode length, domain randomization (factors uniform in [LOW, HIGH]
    per world, drawn at each reset, e.g. --env.randomization.mass 0.8 1.2), contact buffers, and per task more
    (commands, pushes, reward weights); `--task TASK --help` lists that task's"""
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
    tasks.spec(args.task, args.env)  # the task, and its configuration checked against it
    if args.backend not in envs.BACKENDS:
        raise ValueError(f"--backend: {args.backend!r} is not allowed; choose one of {', '.join(envs.BACKENDS)}")
    for flag, value in (
        ("--num-envs", args.num_envs),
        ("--timesteps", args.timesteps),
        ("--num-seeds", args.num_seeds),
    ):
        if value is not None and value < 1:
            raise ValueError(f"{flag}: {value} is not allowed; must be a positive integer")
    if args.framework is not None and args.framework not in FRAMEWORK_PACKAGES:
        raise ValueError(
            f"--framework: {args.framework!r} is not allowed; choose one of {', '.join(FRAMEWORK_PACKAGES)}"
        )
    if args.framework == "warp":  # what the Warp agent (skrl's Warp column) does not do
        check_warp_launch(args)
    if args.distributed and (args.framework or envs.NATIVE_FRAMEWORK.get(args.backend)) != "jax":
        raise ValueError(
            "--distributed: is for JAX agents (jax.distributed); launch torch agents with torchrun instead"
        )
    if args.torch_threads < 1:
        raise ValueError(f"--torch-threads: {args.torch_threads} is not allowed; must be a positive integer")
    if args.wandb and importlib.util.find_spec("wandb") is None:
        raise ValueError("--wandb: the wandb package is not installed; pip install -e '.[wandb]' (or drop --wandb)")
    if args.agent_cfg is not None and not os.path.isfile(args.agent_cfg):
        raise ValueError(
            f"--agent-cfg: {args.agent_cfg!r} is not allowed; expected a YAML file in the Runner's format"
            + (" (it is a folder)" if os.path.isdir(args.agent_cfg) else " (it does not exist)")
        )


def check_warp_launch(args: TrainArgs) -> None:
    """--framework warp: MuJoCo Warp only, one process; each refusal names the alternative."""
    if args.backend != "warp":
        raise ValueError(
            f"--backend: {args.backend!r} is not allowed with --framework warp (the Warp agent reads MuJoCo Warp's "
            "arrays); use --framework jax (or torch) for --backend mjx"
        )
    if args.distributed or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError(
            "--framework: 'warp' is not allowed in a distributed run (skrl's Warp PPO is not distributed); "
            "use --framework torch (torchrun)"
        )
    if tasks.spec(args.task).states is not None:
        raise ValueError(
            f"--framework: 'warp' is not allowed for {args.task} (its critic reads privileged states, which "
            "the Warp agent does not take); use --framework torch (or jax)"
        )


def check_batch(parsed, num_envs: int) -> None:
    """mini_batches must not exceed what one rollout of one agent's worlds holds (samples, or sequences for PPO_RNN)."""
    agent = parsed.agent
    lengths = [spec.rnn.sequence_length for spec in (parsed.models.policy, parsed.models.value) if spec.rnn is not None]
    if lengths:  # recurrent models (only a recurrent agent takes them)
        count, what = (
            num_envs * max(agent.rollouts // lengths[0], 1),
            f"sequences (rollouts {agent.rollouts} / sequence_length {lengths[0]} x {num_envs} worlds)",
        )
    else:
        count, what = num_envs * agent.rollouts, f"samples (rollouts {agent.rollouts} x {num_envs} worlds)"
    check(
        agent.mini_batches <= count,
        "agent",
        "mini_batches",
        agent.mini_batches,
        f"must be <= the {count} {what} of a rollout",
    )


CURRENT_RUN: dict = {"dir": None}  # the run folder of the command in progress (for main()'s error log)


def train(args: TrainArgs, overrides: Overrides | None = None) -> dict:
    """Train as `args` and the agent configuration's `overrides` ((section, key, ...) -> value) say; returns the
    result printed as the command's last line. Everything the user typed or pointed at is checked before a folder
    is claimed or a world is built."""
    import torch

    if args.resume:
        args, cfg, run_dir = resume.resumed(args, overrides or {})
    else:
        validate(args)
        cfg, run_dir = _new_cfg(args, overrides or {}), None
    framework = args.framework or envs.NATIVE_FRAMEWORK[args.backend]
    Runner = runner_class(framework)
    _launch_flags_into(cfg, args)
    parsed = parse_runner_cfg(cfg, Runner.resolve_class)  # a configuration error ends the command here
    if framework == "warp":  # RNN, mixed precision, ... refused before any world is built
        from toolkit.warp import check_runner_cfg

        check_runner_cfg(parsed)
    spec = tasks.spec(args.task, args.env)
    check_batch(parsed, args.num_envs or spec.default_num_envs)
    device = ranks.choose_device(args.device, args.backend, framework, args.jax_cache_dir)
    torch.set_num_threads(args.torch_threads)
    cluster = ranks.join_cluster(args, framework, device)
    claimed = run_dir is None and cluster.is_main
    if claimed:  # one atomic mkdir: no other run can take this folder
        run_dir = new_run_dir(args.runs_dir, args.task, args.experiment_name or args.backend)
    CURRENT_RUN["dir"] = run_dir
    try:
        if cluster.distributed:
            device, run_dir = ranks.as_rank(cluster, args, cfg, device, run_dir)
        _set_experiment(cfg, run_dir)
        resolved = resolved_yaml(parse_runner_cfg(cfg, Runner.resolve_class))
        return _train(args, cfg, resolved, run_dir, framework, device, cluster, spec)
    except BaseException:
        if claimed and release_run_dir(run_dir):  # failed before it trained: leave nothing half-made
            CURRENT_RUN["dir"] = None
        raise


def _train(args: TrainArgs, cfg: dict, resolved: dict, run_dir: str, framework: str, device: str, cluster, spec):
    seeds = [args.seed + index for index in range(args.num_seeds)]
    num_envs = (args.num_envs or spec.default_num_envs) * len(seeds)
    made = tasks.make(args.task, args.backend, num_envs, device=device, seed=args.seed + cluster.rank, config=args.env)
    env = envs.wrap_env(made, env_framework(framework))
    runner = runner_class(framework)(env, cfg, seeds=seeds if len(seeds) > 1 else None)
    trainer = runner.trainer
    agents = runner.agent if isinstance(runner.agent, list) else [runner.agent]
    cluster.follow(trainer)
    if args.resume:
        resume.restore(trainer, agents, cluster, args.seed)
    loggers = []
    if cluster.is_main:  # in a distributed run, rank 0 writes the run folder and logs
        launch = run_files.launch_record(args, device, framework)
        run_files.write_run_files(run_dir, resolved, launch, seeds, agents, trainer.timestep if args.resume else None)
        loggers = run_files.metric_loggers(args, agents, resolved, run_dir)
    trainer.loggers.extend(loggers)
    solved_at = spec.solved_return if args.stop_when_solved else None
    stop = None if solved_at is None else (lambda stats: cluster.all_ranks(result.all_solved(stats, solved_at)))
    started, start_timestep = time.perf_counter(), trainer.timestep
    try:
        stats = runner.run("train", stop=stop)
    finally:
        for logger in loggers:
            logger.close()
    if not trainer.preempted:  # a preempted run has just written its checkpoint
        trainer.write_checkpoints(trainer.timestep)
    wall = time.perf_counter() - started
    summary = result.summary(args, framework, env, trainer, stats, wall, start_timestep, spec.solved_return, run_dir)
    if args.export and cluster.is_main and not trainer.preempted:
        summary["exported"] = [result.export(agent.experiment_dir) for agent in agents]
    if cluster.distributed:
        summary.update(result.distributed(cluster, agents[0], summary))
        cluster.close()
    elif cluster.process_group:  # a one-rank torchrun: its collectives ran on this backend
        summary["process_group"] = cluster.process_group
        cluster.close()
    if len(agents) > 1:
        summary["seeds"] = result.per_seed(seeds, agents, stats)
    return summary


def _new_cfg(args: TrainArgs, overrides: Overrides) -> dict:
    """The agent configuration: the task's default or --agent-cfg, with the overrides."""
    cfg = load_yaml(args.agent_cfg or str(tasks.spec(args.task).agent_cfg))
    cfg["seed"] = args.seed
    apply_overrides(cfg, overrides)
    cfg.setdefault("trainer", {})
    return cfg


def _launch_flags_into(cfg: dict, args: TrainArgs) -> None:
    """--timesteps and --headless into the configuration's trainer section."""
    trainer = cfg.get("trainer")
    check(isinstance(trainer, dict), "trainer", "section", trainer, "expected a mapping of its keys")
    if args.timesteps is not None:
        trainer["timesteps"] = args.timesteps
    trainer.update(headless=args.headless, disable_progressbar=True if args.headless else None)


def _set_experiment(cfg: dict, run_dir: str) -> None:
    """Point the agent's experiment at the run folder (a resumed run: the folder given, wherever it was copied)."""
    agent = cfg.setdefault("agent", {})
    check(isinstance(agent, dict), "agent", "section", agent, "expected a mapping of PPO_CFG keys")
    experiment = agent.setdefault("experiment", {})
    check(isinstance(experiment, dict), "agent", "experiment", experiment, "expected a mapping of ExperimentCfg keys")
    experiment.update(directory=os.path.dirname(run_dir), experiment_name=os.path.basename(run_dir))


def parse(argv: list[str]) -> tuple[TrainArgs, Overrides]:
    """The command line as launch arguments and agent overrides; `env` is the chosen task's configuration (a resumed
    run's own, from its launch.yaml)."""
    argv = task_flags.with_legacy_flags(argv)
    chosen = task_flags.chosen(argv, ("task", "resume"))
    saved = task_flags.run_env(chosen["resume"]) if chosen["resume"] else None
    task, env = saved or (chosen["task"] or TrainArgs.task, None)
    args_class = with_override_flags(TrainArgs)
    default = args_class(env=env or tasks.config(task))
    parsed, unknown = task_flags.cli(args_class, default, argv, __doc__, return_unknown_args=True)
    if unknown:
        raise ValueError(task_flags.unknown_env_flag(unknown[0], default.env) or unknown_flag(unknown[0]))
    return split_overrides(parsed, TrainArgs)


def main() -> None:
    print(json.dumps(run_main("train", lambda: train(*parse(sys.argv[1:])), lambda: CURRENT_RUN["dir"])))


if __name__ == "__main__":
    main()
