"""SPMD training on jax.distributed: every process simulates and acts on its own worlds with a local copy of the
agent; each update is one jitted program over the rollouts of all processes.

How the update stays one program without a hand-written gradient all-reduce: the rollout of each process becomes
its shard of a global array (batch axis over a mesh of every process's devices) and the agent's arrays are
replicated on that mesh. The agent's own `update_step` then runs unchanged: its batch means (advantage
normalisation, the value preprocessor's statistics, the losses and so the gradients, the KL behind the
learning-rate rule and the early stop) are means over the global batch, and XLA inserts the all-reduces. On the
CPU the cross-process collectives are gloo's.

The observation preprocessor is updated while acting, once per step, on each process's own worlds (a collective
per env step would cost more than the step). At each update the processes merge what they added since the last
one, exactly (sums of counts, values and squares), so the statistics are identical on every process from the
update on, and in every checkpoint. The compiled rollout path (toolkit.jax.compiled) is not used in a distributed
run: it calls the update function directly.

All of it is the agent's reducer (toolkit.jax.reducers): `agent.distribute(ProcessReducer())` (toolkit.distributed's
Cluster.follow does it for every agent of a distributed run) hands it to the agent, whose update calls it.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P


def initialize(
    coordinator_address: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> tuple[int, int]:
    """Join the other processes (arguments, else $JAX_COORDINATOR_ADDRESS / $JAX_NUM_PROCESSES /
    $JAX_PROCESS_ID, else what JAX detects, e.g. Slurm's variables); returns (process index, process count).
    Must run before any JAX computation."""
    env = os.environ
    num_processes = num_processes or (int(env["JAX_NUM_PROCESSES"]) if "JAX_NUM_PROCESSES" in env else None)
    if process_id is None and "JAX_PROCESS_ID" in env:
        process_id = int(env["JAX_PROCESS_ID"])
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices of several processes talk via gloo
    jax.distributed.initialize(
        coordinator_address=coordinator_address or env.get("JAX_COORDINATOR_ADDRESS"),
        num_processes=num_processes,
        process_id=process_id,
    )
    return jax.process_index(), jax.process_count()


def shutdown() -> None:
    jax.distributed.shutdown()


def world_size() -> int:
    return jax.process_count()


def any_rank(flag: bool) -> bool:
    return bool(np.asarray(multihost_utils.process_allgather(np.asarray(bool(flag)))).any())


def broadcast_object(value):
    """Process 0's string (a run folder) on every process."""
    data = np.frombuffer(str(value).encode(), dtype=np.uint8)
    size = int(multihost_utils.broadcast_one_to_all(np.asarray(len(data), np.int32)))
    padded = np.zeros(max(size, len(data)), np.uint8)
    padded[: len(data)] = data
    return bytes(np.asarray(multihost_utils.broadcast_one_to_all(padded[:size])).astype(np.uint8)).decode()


def all_gather_objects(value: str) -> list[str]:
    """Every process's short string (a weights digest), in process order."""
    data = np.zeros(64, np.uint8)
    encoded = str(value).encode()[:64]
    data[: len(encoded)] = np.frombuffer(encoded, np.uint8)
    gathered = np.asarray(multihost_utils.process_allgather(data))
    return [bytes(row).rstrip(b"\0").decode() for row in gathered.reshape(-1, 64)]


ACTING_STATISTICS = ("observation", "state")  # preprocessors whose statistics each process updates while acting


class ProcessReducer:
    """The reducer (toolkit.jax.reducers) of one agent on jax.distributed: `agent.distribute(ProcessReducer())`.
    One per agent: it keeps the observation statistics of that agent's last merge."""

    distributed = True

    def __init__(self):
        self.mesh = Mesh(np.array(jax.devices()), ("batch",))
        self.replicated = NamedSharding(self.mesh, P())
        self.synced: dict[str, np.ndarray] = {}  # per acting preprocessor: its (count, sums) at the last merge

    def start(self, state: dict) -> dict:
        """Process 0's params, opt_state and preprocessors on every process; their observation statistics become
        the base each process's acting adds to."""
        state = _local(multihost_utils.broadcast_one_to_all(state))
        preprocessors = state["preprocessors"]
        self.synced = {name: _stat_sums(preprocessors.get(name) or {}) for name in ACTING_STATISTICS}
        return state

    def merge_statistics(self, preprocessors: dict) -> dict:
        """Every process's acting statistics since the last merge added up (one gather per preprocessor)."""
        for name in ACTING_STATISTICS:
            statistics = preprocessors.get(name) or {}
            if not statistics:
                continue
            mine = _stat_sums(statistics)
            everyone = np.asarray(multihost_utils.process_allgather(mine)).reshape(-1, mine.size)
            merged = merge_running_statistics(self.synced[name], everyone, statistics)
            preprocessors = {**preprocessors, name: merged}
            self.synced[name] = _stat_sums(merged)
        return preprocessors

    def layout_batch(self, batch: dict, groups: int) -> dict:
        """The flat batch world-major, sharded by worlds: the agent flattens (groups, worlds) group-major, which XLA
        cannot keep sharded by worlds, so it would gather the whole batch onto every process and each would compute
        the losses of all of them. World-major, each process keeps its own worlds' samples and computes their part;
        the gradient's all-reduce is then the only collective of an epoch (with one minibatch: the agent's global
        shuffle for several minibatches still gathers)."""
        batch_sharding = NamedSharding(self.mesh, P("batch"))

        def world_major(x):
            x = x.reshape(groups, -1, *x.shape[1:]).swapaxes(0, 1).reshape(-1, *x.shape[1:])
            return jax.lax.with_sharding_constraint(x, batch_sharding)

        return jax.tree.map(world_major, batch)

    def compile_update(self, update_step):
        """`update_step` as one program over the rollouts of all processes: each process's rollout (worlds on axis
        1), next observations (axis 0) and next recurrent states (axis 1) are its shard of global arrays; params,
        opt_state, preprocessors and the key (process 0's: one shuffle for all) are replicated; the outputs are
        replicated and handed back as this process's copy."""
        program = jax.jit(
            lambda params, opt_state, preprocessors, rollout, next_observations, next_rnn_states, key_data: update_step(
                params,
                opt_state,
                preprocessors,
                rollout,
                next_observations,
                next_rnn_states,
                jax.random.wrap_key_data(key_data),
            ),
            out_shardings=self.replicated,
        )

        def sharded(axis: int):
            return NamedSharding(self.mesh, P(*([None] * axis), "batch"))

        def global_arrays(tree, sharding):
            return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), tree)

        def update(params, opt_state, preprocessors, rollout, next_observations, next_rnn_states, key):
            key_data = multihost_utils.broadcast_one_to_all(np.asarray(jax.random.key_data(key)))
            outputs = program(
                global_arrays(params, self.replicated),
                global_arrays(opt_state, self.replicated),
                global_arrays(preprocessors, self.replicated),
                global_arrays(rollout, sharded(1)),
                global_arrays(next_observations, sharded(0)),
                global_arrays(next_rnn_states, sharded(1)),
                global_arrays(key_data, self.replicated),
            )
            return _local(outputs)

        return update


def merge_running_statistics(synced: np.ndarray, everyone: np.ndarray, like: dict) -> dict:
    """Running mean/variance statistics of every process, each = those of the last update (`synced`) plus what
    it saw since: add up what all of them saw since (sums of counts, values and squares, float64) on top of
    `synced`. `everyone`: one row of `_stat_sums` per process; `like`: a state of the result's shapes and dtypes."""
    merged = synced + (everyone - synced).sum(0)
    count, size = merged[0], (synced.size - 1) // 2
    mean = merged[1 : 1 + size] / count
    variance = np.maximum(merged[1 + size :] / count - mean**2, 0.0)
    shape, dtype = like["mean"].shape, like["mean"].dtype
    return {
        "mean": jnp.asarray(mean.reshape(shape), dtype),
        "variance": jnp.asarray(variance.reshape(shape), dtype),
        "count": jnp.asarray(count, like["count"].dtype),
    }


def _stat_sums(state: dict) -> np.ndarray:
    """(count, sum, sum of squares) of a running mean/variance state, flat, in float64."""
    if not state:
        return np.zeros(0)
    count = np.float64(state["count"])
    mean = np.asarray(state["mean"], np.float64).reshape(-1)
    variance = np.asarray(state["variance"], np.float64).reshape(-1)
    return np.concatenate([[count], count * mean, count * (variance + mean**2)])


def _local(tree):
    """This process's copy of replicated (or fully addressable) arrays, as plain single-device arrays."""
    return jax.tree.map(lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x, tree)
