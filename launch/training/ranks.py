"""This process's device and its place in a multi-process run (torchrun, or jax.distributed with --distributed)."""

from __future__ import annotations

import os
import sys

import envs
from launch import jax_cache
from toolkit.devices import resolve_device
from toolkit.distributed import Cluster, JaxProcessArgs, join


def choose_device(device: str | None, backend: str, framework: str, jax_cache_dir: str | None) -> str:
    """--device checked against this machine (default: cuda if present, else cpu); where JAX compiles (MJX, the JAX
    agent), its persistent compilation cache in --jax-cache-dir (launch/jax_cache.py). train.py and play.py."""
    uses_jax = "jax" in (framework, envs.NATIVE_FRAMEWORK[backend])
    device = resolve_device(device, uses_jax=uses_jax)
    if uses_jax:
        jax_cache.use(jax_cache_dir)
    return device


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
