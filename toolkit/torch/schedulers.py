"""Learning-rate schedulers (skrl's KLAdaptiveLR)."""

from __future__ import annotations

import torch


class KLAdaptiveLR(torch.optim.lr_scheduler.LRScheduler):
    """Lower the learning rate when the policy moved too far in one epoch (KL above kl_threshold * kl_factor),
    raise it when it barely moved (below kl_threshold / kl_factor), within [min_lr, max_lr]."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        kl_threshold: float = 0.008,
        min_lr: float = 1e-6,
        max_lr: float = 1e-2,
        kl_factor: float = 2.0,
        lr_factor: float = 1.5,
        last_epoch: int = -1,
    ):
        self.kl_threshold, self.min_lr, self.max_lr = kl_threshold, min_lr, max_lr
        self.kl_factor, self.lr_factor = kl_factor, lr_factor
        self._last_kl: float | None = None
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        kl = self._last_kl
        if kl is None:
            return lrs
        if kl > self.kl_threshold * self.kl_factor:
            return [max(lr / self.lr_factor, self.min_lr) for lr in lrs]
        if kl < self.kl_threshold / self.kl_factor:
            return [min(lr * self.lr_factor, self.max_lr) for lr in lrs]
        return lrs

    def step(self, kl: float | torch.Tensor | None = None, epoch: int | None = None) -> None:
        self._last_kl = None if kl is None else float(kl)
        super().step()
