"""Running mean / standard deviation normalisation (skrl's RunningStandardScaler) on Warp arrays."""

from __future__ import annotations

import numpy as np
import warp as wp

from .interop import warp_device

wp.set_module_options({"enable_backward": False})  # gradients are written out, never taped


@wp.kernel
def _merge(
    x: wp.array2d(dtype=float),
    mean: wp.array(dtype=wp.float64),
    variance: wp.array(dtype=wp.float64),
    count: wp.array(dtype=wp.float64),
    new_count: wp.array(dtype=wp.float64),
):
    """One thread per feature: the batch's mean and (biased) variance, merged into the running ones (parallel
    variance algorithm); the count is written to new_count, copied back once every feature has read it."""
    j = wp.tid()
    n = x.shape[0]
    total = wp.float64(0.0)
    for i in range(n):
        total += wp.float64(x[i, j])
    batch_mean = total / wp.float64(n)
    square = wp.float64(0.0)
    for i in range(n):
        d = wp.float64(x[i, j]) - batch_mean
        square += d * d
    batch_var = square / wp.float64(n)
    old = count[0]
    merged = old + wp.float64(n)
    delta = batch_mean - mean[j]
    mean[j] = mean[j] + delta * wp.float64(n) / merged
    variance[j] = (
        variance[j] * old + batch_var * wp.float64(n) + delta * delta * old * wp.float64(n) / merged
    ) / merged
    if j == 0:
        new_count[0] = merged


@wp.kernel
def _apply(
    x: wp.array2d(dtype=float),
    mean: wp.array(dtype=wp.float64),
    variance: wp.array(dtype=wp.float64),
    epsilon: float,
    clip: float,
    inverse: int,
    out: wp.array2d(dtype=float),
):
    i, j = wp.tid()
    std = float(wp.sqrt(variance[j] + wp.float64(epsilon)))
    mu = float(mean[j])
    if inverse != 0:
        out[i, j] = wp.clamp(x[i, j], -clip, clip) * std + mu
    else:
        out[i, j] = wp.clamp((x[i, j] - mu) / std, -clip, clip)


class RunningStandardScaler:
    """Normalises inputs by statistics accumulated over every batch seen in training; the statistics, sample count
    included, travel in checkpoints (float64, as the torch and JAX scalers keep them)."""

    def __init__(self, size: int | tuple[int, ...], epsilon: float = 1e-8, clip_threshold: float = 5.0, device=None):
        shape = (size,) if isinstance(size, int) else tuple(size)
        self.size = int(np.prod(shape))
        self.epsilon, self.clip_threshold = epsilon, clip_threshold
        self.device = warp_device(device)
        self.running_mean = wp.zeros(self.size, dtype=wp.float64, device=self.device)
        self.running_variance = wp.array(np.ones(self.size), dtype=wp.float64, device=self.device)
        self.current_count = wp.array(np.ones(1), dtype=wp.float64, device=self.device)
        self._next_count = wp.zeros(1, dtype=wp.float64, device=self.device)
        self._outputs: dict[tuple, wp.array] = {}

    def update(self, x: wp.array) -> None:
        """Merge the statistics of a (batch, size) batch."""
        x = x.reshape((-1, self.size))
        wp.launch(
            _merge,
            dim=self.size,
            inputs=[x, self.running_mean, self.running_variance, self.current_count],
            outputs=[self._next_count],
            device=self.device,
        )
        wp.copy(self.current_count, self._next_count)

    def __call__(
        self, x: wp.array, train: bool = False, inverse: bool = False, out: wp.array | None = None
    ) -> wp.array:
        """(batch, size) -> normalised (or, inverse, denormalised) values in `out` (default: a buffer of this scaler
        for that batch and direction, reused)."""
        x2 = x.reshape((-1, self.size))
        if train:
            self.update(x2)
        if out is None:
            key = (x2.shape[0], inverse)
            out = self._outputs.get(key)
            if out is None:
                out = self._outputs[key] = wp.zeros(x2.shape, dtype=float, device=self.device)
        wp.launch(
            _apply,
            dim=x2.shape,
            inputs=[
                x2,
                self.running_mean,
                self.running_variance,
                float(self.epsilon),
                float(self.clip_threshold),
                int(inverse),
            ],
            outputs=[out.reshape(x2.shape)],
            device=self.device,
        )
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        return {
            "running_mean": self.running_mean.numpy(),
            "running_variance": self.running_variance.numpy(),
            "current_count": self.current_count.numpy(),
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for name in ("running_mean", "running_variance", "current_count"):
            getattr(self, name).assign(np.asarray(state[name], dtype=np.float64).reshape(-1))
