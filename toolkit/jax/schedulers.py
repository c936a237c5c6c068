"""KL-adaptive learning rate for the JAX agent (the rule of the torch KLAdaptiveLR, as array operations so that it
runs inside the jitted update)."""

from __future__ import annotations

import jax.numpy as jnp


class KLAdaptiveLR:
    def __init__(
        self,
        kl_threshold: float = 0.008,
        min_lr: float = 1e-6,
        max_lr: float = 1e-2,
        kl_factor: float = 2.0,
        lr_factor: float = 1.5,
    ):
        self.kl_threshold, self.min_lr, self.max_lr = kl_threshold, min_lr, max_lr
        self.kl_factor, self.lr_factor = kl_factor, lr_factor

    def step(self, learning_rate, kl):
        """The next learning rate after an epoch of mean KL divergence `kl`."""
        lower = jnp.maximum(learning_rate / self.lr_factor, self.min_lr)
        higher = jnp.minimum(learning_rate * self.lr_factor, self.max_lr)
        return jnp.where(
            kl > self.kl_threshold * self.kl_factor,
            lower,
            jnp.where(kl < self.kl_threshold / self.kl_factor, higher, learning_rate),
        )
