"""SPMD training under torchrun: every rank simulates its own worlds and runs the same agent; the collectives
below keep the agents identical (NCCL on GPU, gloo on the CPU).

What stays in sync, and how: the networks and preprocessors start from rank 0's (broadcast once); each
minibatch's gradients are averaged before the optimizer step; the batch statistics that feed a running-mean
preprocessor, the advantage normalisation and the KL that drives the learning-rate scheduler (and the early stop
of an epoch) are global means over all ranks. The agent calls each of these through its reducer (RankReducer, see
toolkit.torch.reducers), which `agent.distribute(RankReducer())` installs (toolkit.distributed's Cluster.follow
does it for every agent of a torchrun). Every function here is a no-op outside a process group.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_distributed() -> bool:
    """In a process group, one rank's included (a one-rank torchrun runs the same collectives as a larger run)."""
    return dist.is_available() and dist.is_initialized()


def launched_by_torchrun() -> bool:
    """torchrun sets TORCHELASTIC_RUN_ID (other launchers of torch.distributed: WORLD_SIZE > 1)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str | None = None) -> tuple[int, int, int]:
    """Join the process group torchrun describes in the environment: NCCL when training on CUDA, gloo on the CPU.
    Returns (rank, world_size, local_rank)."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
        if cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return dist.get_rank(), dist.get_world_size(), local_rank


def backend() -> str | None:
    """The process group's backend ("nccl" or "gloo"), None outside one."""
    return dist.get_backend() if is_distributed() else None


def broadcast_state(module: torch.nn.Module | None, source: int = 0) -> None:
    """Overwrite a module's parameters and buffers (a preprocessor's statistics, say) with rank `source`'s."""
    if module is None or not is_distributed():
        return
    with torch.no_grad():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, source)


def average_gradients(parameters: list[torch.Tensor]) -> None:
    """Replace every parameter's gradient by its mean over the ranks, in one collective."""
    if not is_distributed():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def mean_across_ranks(value: torch.Tensor) -> torch.Tensor:
    """The mean of a tensor over the ranks (each rank's value weighted equally)."""
    if not is_distributed():
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / world_size()


def batch_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int | torch.Tensor]:
    """Mean and (biased) variance over the first axis, and the sample count, of the batch made of every rank's x:
    one collective on the sums, so a running-mean preprocessor sees the same global batch on every rank (the
    count stays a tensor there: no host synchronisation in the step loop)."""
    if not is_distributed():
        return x.mean(0), x.var(0, unbiased=False), x.shape[0]
    sums = torch.cat(
        [
            x.sum(0).reshape(-1),
            x.square().sum(0).reshape(-1),
            torch.tensor([float(x.shape[0])], dtype=x.dtype, device=x.device),
        ]
    )
    dist.all_reduce(sums)
    size = x[0].numel()
    count = sums[-1]
    mean = (sums[:size] / count).view_as(x[0])
    var = (sums[size : 2 * size] / count).view_as(x[0]) - mean.square()
    return mean, var.clamp_min(0), count


def standardize(x: torch.Tensor, epsilon: float = 1e-8) -> torch.Tensor:
    """(x - mean) / (std + epsilon) with the mean and (unbiased) std of every rank's x together."""
    if not is_distributed():
        return (x - x.mean()) / (x.std() + epsilon)
    mean, var, count = batch_moments(x.reshape(-1, 1))
    return (x - mean) / ((var * count / (count - 1).clamp_min(1)).sqrt() + epsilon)


class RankReducer:
    """The reducer (toolkit.torch.reducers) of an agent in a torch process group: the collectives above."""

    distributed = True

    def broadcast_module(self, module: torch.nn.Module | None) -> None:
        broadcast_state(module)

    def batch_moments(self, x: torch.Tensor):
        return batch_moments(x)

    def standardize(self, x: torch.Tensor, epsilon: float = 1e-8) -> torch.Tensor:
        return standardize(x, epsilon)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        return mean_across_ranks(value)

    def average_gradients(self, parameters: list[torch.Tensor]) -> None:
        average_gradients(parameters)


def any_rank(flag: bool) -> bool:
    """Whether `flag` holds on at least one rank; every rank gets the same answer (so all stop at the same step)."""
    if not is_distributed():
        return bool(flag)
    value = torch.tensor([1.0 if flag else 0.0], device=_collective_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def mean_of_means(value: float | None) -> float | None:
    """The mean over the ranks that have a value (e.g. their mean episode return); None if none has."""
    if not is_distributed():
        return value
    pair = torch.tensor(
        [0.0 if value is None else float(value), 0.0 if value is None else 1.0],
        dtype=torch.float64,
        device=_collective_device(),
    )
    dist.all_reduce(pair)
    return None if pair[1].item() == 0 else pair[0].item() / pair[1].item()


def all_gather_objects(value) -> list:
    if not is_distributed():
        return [value]
    gathered = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_object(value, source: int = 0):
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, source)
    return box[0]


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
