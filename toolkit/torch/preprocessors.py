"""Running mean / standard deviation normalisation (skrl's RunningStandardScaler)."""

from __future__ import annotations

import torch
from torch import nn

from .reducers import LocalReducer


class RunningStandardScaler(nn.Module):
    """Normalises inputs by statistics accumulated over every batch seen in training.

    The statistics, sample count included, are buffers: they travel in state_dict and so in checkpoints. Under
    torchrun the agent's `distribute` hands it the agent's reducer, so each update merges every rank's batch."""

    def __init__(
        self,
        size: int | tuple[int, ...],
        epsilon: float = 1e-8,
        clip_threshold: float = 5.0,
        device: str | torch.device | None = None,
    ):
        super().__init__()
        shape = (size,) if isinstance(size, int) else tuple(size)
        self.epsilon, self.clip_threshold = epsilon, clip_threshold
        self.register_buffer("running_mean", torch.zeros(shape, dtype=torch.float64, device=device))
        self.register_buffer("running_variance", torch.ones(shape, dtype=torch.float64, device=device))
        self.register_buffer("current_count", torch.ones((), dtype=torch.float64, device=device))
        self.reducer = LocalReducer()

    def distribute(self, reducer) -> None:
        """Merge the batches of every rank from now on (toolkit.torch.reducers)."""
        self.reducer = reducer

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Merge the statistics of a batch (parallel variance algorithm)."""
        x = x.reshape(-1, *self.running_mean.shape).to(torch.float64)
        batch_mean, batch_var, batch_count = self.reducer.batch_moments(x)  # distributed: the batch of every rank
        delta = batch_mean - self.running_mean
        total = self.current_count + batch_count
        self.running_mean += delta * batch_count / total
        m2 = (
            self.running_variance * self.current_count
            + batch_var * batch_count
            + delta.square() * self.current_count * batch_count / total
        )
        self.running_variance.copy_(m2 / total)
        self.current_count.copy_(total)

    def forward(self, x: torch.Tensor, train: bool = False, inverse: bool = False) -> torch.Tensor:
        if train:
            self.update(x)
        mean = self.running_mean.to(x.dtype)
        std = (self.running_variance + self.epsilon).sqrt().to(x.dtype)
        if inverse:
            return torch.clamp(x, -self.clip_threshold, self.clip_threshold) * std + mean
        return torch.clamp((x - mean) / std, -self.clip_threshold, self.clip_threshold)
