"""KL-adaptive learning rate for the JAX agent (the rule of the torch KLAdaptiveLR, on a float)."""

from __future__ import annotations


class KLAdaptiveLR:
    def __init__(self, kl_threshold: float = 0.008, min_lr: float = 1e-6, max_lr: float = 1e-2, kl_factor: float = 2.0,
                 lr_factor: float = 1.5):
        self.kl_threshold, self.min_lr, self.max_lr = kl_threshold, min_lr, max_lr
        self.kl_factor, self.lr_factor = kl_factor, lr_factor

    def step(self, learning_rate: float, kl: float) -> float:
        if kl > self.kl_threshold * self.kl_factor:
            return max(learning_rate / self.lr_factor, self.min_lr)
        if kl < self.kl_threshold / self.kl_factor:
            return min(learning_rate * self.lr_factor, self.max_lr)
        return learning_rate
