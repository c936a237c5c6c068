"""What a torch agent's update does across ranks: its reducer. `LocalReducer` is the one-process reducer every
agent (and RunningStandardScaler) starts with; toolkit.torch.distributed.RankReducer is the torchrun one that
`agent.distribute(reducer)` installs (rsl_rl's multi-GPU PPO reduces at the same points).

A reducer has five methods, each called from one visible place of the agent:
- `broadcast_module(module)`: rank 0's parameters and buffers on every rank (PPO.distribute).
- `batch_moments(x) -> (mean, variance, count)`: over the first axis of every rank's x together
  (RunningStandardScaler.update: observation, state and value statistics).
- `standardize(x) -> x`: (x - mean) / (std + 1e-8) with every rank's mean and std (the advantages).
- `mean(value) -> value`: the mean over the ranks (the KL behind the learning-rate rule and the early stop).
- `average_gradients(parameters)`: each gradient replaced by its mean over the ranks, before the optimizer step.
"""

from __future__ import annotations

import torch


class LocalReducer:
    """One process: the batch is this process's."""

    distributed = False

    def broadcast_module(self, module: torch.nn.Module | None) -> None:
        pass

    def batch_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int | torch.Tensor]:
        return x.mean(0), x.var(0, unbiased=False), x.shape[0]

    def standardize(self, x: torch.Tensor, epsilon: float = 1e-8) -> torch.Tensor:
        return (x - x.mean()) / (x.std() + epsilon)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        return value

    def average_gradients(self, parameters: list[torch.Tensor]) -> None:
        pass
