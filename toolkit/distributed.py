"""Which rank of a multi-process run this is, for launchers: torchrun (torch agents) or jax.distributed (JAX
agents, `--distributed`). Each rank simulates its own worlds; rank 0 alone writes the run's files; stop and
preemption decisions are taken together so that every rank leaves the loop at the same step.

Imports only the framework in use (toolkit.torch.distributed or toolkit.jax.distributed)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .registry import entry_of


@dataclass
class JaxProcessArgs:
    """Where a jax.distributed process finds the others (flags, or the JAX_* environment variables)."""

    coordinator_address: str | None = None  # host:port of process 0
    num_processes: int | None = None
    process_id: int | None = None


class Cluster:
    """One process's view of the run: a single process (rank 0 of 1) unless a launcher says otherwise."""

    def __init__(
        self,
        framework: str = "torch",
        rank: int = 0,
        world_size: int = 1,
        local_rank: int = 0,
        process_group: str | None = None,
    ):
        self.framework, self.rank, self.world_size, self.local_rank = framework, rank, world_size, local_rank
        self.process_group = process_group  # torch's backend ("nccl" or "gloo") once joined, one rank's group included

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that logs, writes the run folder and checkpoints."""
        return self.rank == 0

    def _ops(self):
        if self.framework == "torch":
            from .torch import distributed as ops
        else:
            from .jax import distributed as ops
        return ops

    def any_rank(self, flag: bool) -> bool:
        return self._ops().any_rank(flag) if self.distributed else bool(flag)

    def all_ranks(self, flag: bool) -> bool:
        return not self.any_rank(not flag)

    def broadcast_object(self, value: Any) -> Any:
        """Rank 0's value (a run folder's name, say) on every rank."""
        return self._ops().broadcast_object(value) if self.distributed else value

    def all_gather_objects(self, value: Any) -> list:
        return self._ops().all_gather_objects(value) if self.distributed else [value]

    def follow(self, trainer) -> None:
        """Make a trainer one rank of this run, after it initialised its agents: each agent gets this framework's
        reducer (`agent.distribute`: rank 0's networks on every rank, and updates that average over the ranks),
        and the cluster becomes the trainer's `cluster`, with which it stops and preempts together with the other
        ranks (`any_rank`) and writes checkpoints on rank 0 alone (`is_main`). Agents whose update does not average
        over ranks (toolkit.registry's averages_over_ranks) are refused. A one-rank torchrun distributes too: its
        collectives run on the process group's backend, as a larger run's do."""
        if self.distributed:
            for agent in trainer.agents:  # others (the recurrent agents, so far) would let the ranks drift apart
                entry = entry_of(agent)
                if entry is None or not entry.averages_over_ranks:
                    name = f"{type(agent).__module__}.{type(agent).__name__}"
                    raise ValueError(
                        f"agent: {name} is not allowed in a distributed run; it keeps ranks in sync only for "
                        "agents registered with averages_over_ranks (PPO)"
                    )
        if self.distributed or self.process_group:
            for agent in trainer.agents:
                agent.distribute(self._reducer())
        if self.distributed:
            trainer.cluster = self

    def _reducer(self):
        """A new reducer for one agent (toolkit.torch.reducers, toolkit.jax.reducers)."""
        if self.framework == "torch":
            from .torch.distributed import RankReducer

            return RankReducer()
        from .jax.distributed import ProcessReducer

        return ProcessReducer()

    def close(self) -> None:
        if self.distributed or self.process_group:
            self._ops().shutdown()


def join(framework: str, device: str | None = None, jax_args: JaxProcessArgs | None = None) -> Cluster:
    """torch: join the process group when torchrun launched this process (WORLD_SIZE > 1). JAX: join
    jax.distributed when `jax_args` is given (from --distributed). Otherwise a one-process Cluster."""
    if framework == "torch":
        from .torch import distributed as torch_distributed

        if not torch_distributed.launched_by_torchrun():
            return Cluster("torch")
        rank, world_size, local_rank = torch_distributed.init_from_env(device)
        return Cluster("torch", rank, world_size, local_rank, torch_distributed.backend())
    if jax_args is None:
        return Cluster(framework)
    from .jax import distributed as jax_distributed

    rank, world_size = jax_distributed.initialize(
        jax_args.coordinator_address, jax_args.num_processes, jax_args.process_id
    )
    return Cluster("jax", rank, world_size, rank)


def agent_digest(agent) -> str:
    """weights_digest of a torch agent's state_dict or a JAX agent's training state."""
    return weights_digest(agent.state_dict() if hasattr(agent, "state_dict") else agent.training_state())


def weights_digest(state: Any) -> str:
    """A short hash of an agent's state (networks, optimizer, preprocessors, learning rate; nested dicts and lists of
    arrays and numbers), without its random state: the ranks of a distributed run must end with the same digest."""
    digest = hashlib.sha256()

    def visit(node, key=""):
        if key in ("rng", "key"):  # each rank samples with its own random state
            return
        if isinstance(node, dict):
            for name in sorted(node, key=str):
                visit(node[name], str(name))
        elif isinstance(node, (list, tuple)):
            for item in node:
                visit(item)
        elif hasattr(node, "shape"):
            digest.update(memoryview(_numpy(node)).cast("B"))
        elif isinstance(node, (int, float, bool, str)) or node is None:
            digest.update(repr(node).encode())

    visit(state)
    return digest.hexdigest()[:16]


def _numpy(array):
    import numpy as np

    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(array))
