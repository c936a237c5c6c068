"""Running mean / standard deviation normalisation as pure functions on a small state pytree."""

from __future__ import annotations

import jax.numpy as jnp


class RunningStandardScaler:
    """skrl's RunningStandardScaler for JAX: the statistics (mean, variance, sample count) are a state pytree that the
    agent carries, updates inside its jitted functions and saves in checkpoints."""

    def __init__(self, size: int | tuple[int, ...], epsilon: float = 1e-8, clip_threshold: float = 5.0, device=None):
        self.shape = (size,) if isinstance(size, int) else tuple(size)
        self.epsilon, self.clip_threshold = epsilon, clip_threshold

    def init_state(self) -> dict:
        return {"mean": jnp.zeros(self.shape), "variance": jnp.ones(self.shape), "count": jnp.ones(())}

    def update(self, state: dict, x) -> dict:
        x = x.reshape(-1, *self.shape)
        batch_mean, batch_var, batch_count = x.mean(0), x.var(0), x.shape[0]
        delta = batch_mean - state["mean"]
        total = state["count"] + batch_count
        m2 = (
            state["variance"] * state["count"]
            + batch_var * batch_count
            + delta**2 * state["count"] * batch_count / total
        )
        return {"mean": state["mean"] + delta * batch_count / total, "variance": m2 / total, "count": total}

    def __call__(self, state: dict, x, inverse: bool = False):
        std = jnp.sqrt(state["variance"] + self.epsilon)
        if inverse:
            return jnp.clip(x, -self.clip_threshold, self.clip_threshold) * std + state["mean"]
        return jnp.clip((x - state["mean"]) / std, -self.clip_threshold, self.clip_threshold)
