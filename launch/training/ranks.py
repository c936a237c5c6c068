"""This process's device and its place in a multi-process run (torchrun, or jax.distributed with --distributed)."""

from __future__ import annotations

import os
import sys

import envs
from toolkit.devices import resolve_device
from toolkit.distributed import Cluster, JaxProcessArgs, join


def choose_device(args, framework: str) -> str:
    """--device checked against this machine (default: cuda if present, else cpu); on a GPU, JAX's persistent
    compilation cache is switched on."""
    device = resolve_device(args.device, uses_jax="jax" in (framework, envs.NATIVE_FRAMEWORK[args.backend]))
    if device.startswith("cuda"):
        persistent_jax_cache()
    return device


def persistent_jax_cache() -> None:
    """On a GPU, XLA compiles an MJX step for tens of seconds: JAX's persistent compilation cache keeps the programs
    on disk, so the next run with the same task and world count starts in seconds ($JAX_COMPILATION_CACHE_DIR, or
    ~/.cache/simtrain/jax)."""
    import jax

    folder = os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.expanduser("~/.cache/simtrain/jax")
    jax.config.update("jax_compilation_cache_dir", folder)


def join_cluster(args, framework: str, device: str) -> Cluster:
    """torchrun or --distributed: this process is one rank of several; otherwise a one-process Cluster."""
    jax_args = (
        JaxProcessArgs(args.coordinator_address, args.num_processes, args.process_id) if args.distributed else None
    )
    return join(framework, device, jax_args)


def as_rank(cluster: Cluster, args, cfg: dict, device: str, run_dir: str) -> tuple[str, str]:
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
