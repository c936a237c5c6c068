"""Distributed SPMD: the collectives of the agents' rank reducer keep ranks identical (gloo, two local processes), and
launch/train.py under torchrun trains cartpole with both ranks ending on the same weights."""

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from toolkit.torch import distributed
from toolkit.torch.preprocessors import RunningStandardScaler

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")


def _collectives(rank: int, store_path: str, results, received):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store_path}", rank=rank, world_size=2)
    try:
        torch.manual_seed(rank)  # different data, and different initial weights, on each rank
        data = torch.randn(10 + 5 * rank, 3) + rank
        reducer = distributed.RankReducer()  # what an agent's update calls (toolkit.torch.reducers)
        scaler = RunningStandardScaler(3)
        scaler.distribute(reducer)
        scaler.update(data)
        layer = torch.nn.Linear(3, 1)
        reducer.broadcast_module(layer)
        layer(data).square().mean().backward()
        reducer.average_gradients(list(layer.parameters()))
        results.put(
            (
                rank,
                scaler.running_mean.clone(),
                scaler.running_variance.clone(),
                float(scaler.current_count),
                layer.weight.detach().clone(),
                layer.weight.grad.clone(),
                float(reducer.mean(torch.tensor(float(rank)))),
                distributed.any_rank(rank == 1),
                reducer.standardize(data[:, 0]).clone(),
            )
        )
        received.wait(120)  # the tensors travel through this process's shared memory: stay until they are read
    finally:
        dist.destroy_process_group()


def test_collectives_give_every_rank_the_statistics_and_gradients_of_the_whole_batch(tmp_path):
    context = mp.get_context("spawn")
    results, received = context.Queue(), context.Event()
    processes = [
        context.Process(target=_collectives, args=(rank, str(tmp_path / "store"), results, received)) for rank in (0, 1)
    ]
    for process in processes:
        process.start()
    outputs = sorted(results.get(timeout=120) for _ in processes)
    received.set()
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    # what one process would compute from both ranks' data
    torch.manual_seed(0)
    data0 = torch.randn(10, 3)
    layer = torch.nn.Linear(3, 1)  # rank 0's initial weights, broadcast to rank 1
    torch.manual_seed(1)
    data1 = torch.randn(15, 3) + 1
    together = torch.cat([data0, data1]).double()
    expected = RunningStandardScaler(3)
    expected.update(together)
    grads = []
    for data in (data0, data1):
        layer.zero_grad()
        layer(data).square().mean().backward()
        grads.append(layer.weight.grad.clone())
    column = torch.cat([data0[:, 0], data1[:, 0]])
    standardized = (column - column.mean()) / (column.std() + 1e-8)
    for rank, mean, variance, count, weight, grad, mean_rank, any_flag, normalized in outputs:
        assert torch.allclose(mean, expected.running_mean) and torch.allclose(variance, expected.running_variance)
        assert count == 1 + 25
        assert torch.equal(weight, layer.weight.detach())
        assert torch.allclose(grad, (grads[0] + grads[1]) / 2)
        assert mean_rank == 0.5 and any_flag
        assert torch.allclose(normalized, standardized[:10] if rank == 0 else standardized[10:], atol=1e-5)


@pytest.mark.slow
def test_torchrun_two_ranks_train_cartpole_to_the_threshold_with_identical_weights(tmp_path):
    command = [
        TORCHRUN,
        "--standalone",
        "--nproc_per_node=2",
        os.path.join(REPO, "launch", "train.py"),
        "--headless",
        "--torch-threads",
        "1",
        "--runs-dir",
        str(tmp_path),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=tmp_path, env={**os.environ, "WANDB_MODE": "offline"}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["solved"] and result["mean_return"] >= 475 and result["world_size"] == 2
    assert result["num_envs"] == 2 * 1024
    digest_rank0, digest_rank1 = result["rank_weight_digests"]
    assert digest_rank0 == digest_rank1  # networks, optimizer, scheduler and preprocessor statistics alike
    # rank 0 alone wrote the run folder; its checkpoint is the agent whose digest both ranks reported
    from toolkit.distributed import weights_digest

    state = torch.load(os.path.join(result["run_dir"], "checkpoints", "last.pt"), weights_only=True)
    state.pop("extra")
    assert weights_digest(state) == digest_rank0
    assert sorted(os.listdir(tmp_path / "cartpole")) == [os.path.basename(result["run_dir"])]


def test_jax_running_statistics_of_two_processes_merge_into_those_of_the_whole_batch():
    import jax.numpy as jnp
    import numpy as np

    from toolkit.jax.distributed import _stat_sums, merge_running_statistics
    from toolkit.jax.preprocessors import RunningStandardScaler as JaxScaler

    scaler, rng = JaxScaler(3), np.random.default_rng(0)
    synced = scaler.update(scaler.init_state(), jnp.asarray(rng.normal(size=(50, 3))))  # the last update's state
    batches = [[jnp.asarray(rng.normal(rank, 1 + rank, size=(20, 3))) for _ in range(4)] for rank in (0, 1)]
    per_process = []
    for steps in batches:  # each process updates its own copy, step by step, on its own worlds
        state = synced
        for batch in steps:
            state = scaler.update(state, batch)
        per_process.append(_stat_sums(state))
    merged = merge_running_statistics(_stat_sums(synced), np.stack(per_process), synced)
    whole = scaler.update(synced, jnp.concatenate([batch for steps in batches for batch in steps]))
    for name in ("mean", "variance", "count"):
        assert np.allclose(merged[name], whole[name], rtol=1e-5), name


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_jax_distributed_two_processes_train_cartpole_to_the_threshold_with_identical_weights(tmp_path):
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{_free_port()}",
        "JAX_NUM_PROCESSES": "2",
    }
    command = [
        sys.executable,
        os.path.join(REPO, "launch", "train.py"),
        "--backend",
        "mjx",
        "--distributed",
        "--headless",
        "--runs-dir",
        str(tmp_path),
    ]
    processes = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env={**env, "JAX_PROCESS_ID": str(rank)},
        )
        for rank in (0, 1)
    ]
    try:
        outputs = [process.communicate(timeout=900) for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    result = json.loads(outputs[0][0].strip().splitlines()[-1])
    assert "{" not in outputs[1][0]  # rank 1 prints no progress nor result (gloo's connection line aside)
    assert (
        result["solved"] and result["mean_return"] >= 475 and result["world_size"] == 2 and result["framework"] == "jax"
    )
    digest_rank0, digest_rank1 = result["rank_weight_digests"]
    assert digest_rank0 == digest_rank1  # networks, optimizer with its learning rate, preprocessor statistics
    assert sorted(os.listdir(tmp_path / "cartpole")) == [os.path.basename(result["run_dir"])]
    assert os.path.isfile(os.path.join(result["run_dir"], "checkpoints", "last.pt"))


def test_agents_that_do_not_average_over_ranks_are_refused_in_a_distributed_run():
    from types import SimpleNamespace

    from toolkit.distributed import Cluster

    class Recurrent:
        pass

    trainer = SimpleNamespace(agents=[Recurrent()])
    with pytest.raises(
        ValueError, match=r"agent: tests.test_distributed.Recurrent is not allowed in a distributed run"
    ):
        Cluster("torch", rank=0, world_size=2).follow(trainer)
    Cluster("torch").follow(trainer)  # a single process takes any agent
