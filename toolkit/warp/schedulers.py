"""Learning-rate schedulers (skrl's KLAdaptiveLR) for the Warp Adam."""

from __future__ import annotations


class KLAdaptiveLR:
    """Lower the learning rate when the policy moved too far in one epoch (KL above kl_threshold * kl_factor), raise
    it when it barely moved (below kl_threshold / kl_factor), within [min_lr, max_lr]; the same rule and defaults as
    the torch and JAX schedulers."""

    def __init__(
        self,
        optimizer,
        kl_threshold: float = 0.008,
        min_lr: float = 1e-6,
        max_lr: float = 1e-2,
        kl_factor: float = 2.0,
        lr_factor: float = 1.5,
    ):
        self.optimizer = optimizer
        self.kl_threshold, self.min_lr, self.max_lr = kl_threshold, min_lr, max_lr
        self.kl_factor, self.lr_factor = kl_factor, lr_factor

    def step(self, kl: float | None = None) -> None:
        if kl is None:
            return
        kl = float(kl)
        for group in self.optimizer.param_groups:
            if kl > self.kl_threshold * self.kl_factor:
                group["lr"] = max(group["lr"] / self.lr_factor, self.min_lr)
            elif kl < self.kl_threshold / self.kl_factor:
                group["lr"] = min(group["lr"] * self.lr_factor, self.max_lr)

    def state_dict(self) -> dict:
        return {}  # the learning rates it set live in the optimizer's state

    def load_state_dict(self, state: dict) -> None:
        pass
