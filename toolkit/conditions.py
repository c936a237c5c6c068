"""Stop conditions (rl8's `conditions`): callables on a TrainStats that say when training should stop.

They work with `toolkit.Trainer.run(stop_conditions=[...])` and `SequentialTrainer.train(stop=[...])`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from .trainers.base import TrainStats


def _value(stats: TrainStats, key: str) -> float | None:
    """A top-level TrainStats field, else the first agent's tracked value of that name."""
    if hasattr(stats, key):
        return getattr(stats, key)
    return (stats.agents[0] if stats.agents else {}).get(key)


@dataclass
class HitsUpperBound:
    """`key` reached `upper_bound` (e.g. the mean return reached the solved threshold)."""

    key: str
    upper_bound: float

    def __call__(self, stats: TrainStats) -> bool:
        value = _value(stats, self.key)
        return value is not None and value >= self.upper_bound


@dataclass
class HitsLowerBound:
    """`key` fell to `lower_bound` (e.g. a loss)."""

    key: str
    lower_bound: float

    def __call__(self, stats: TrainStats) -> bool:
        value = _value(stats, self.key)
        return value is not None and value <= self.lower_bound


def MeanReturnReached(value: float) -> HitsUpperBound:  # noqa: N802  (reads as a condition class)
    return HitsUpperBound("mean_return", value)


@dataclass
class TimestepsReached:
    """At least `env_steps` environment steps (vectorized steps times worlds) were taken."""

    env_steps: int

    def __call__(self, stats: TrainStats) -> bool:
        return stats.env_steps >= self.env_steps


@dataclass
class WallTime:
    """`seconds` of wall-clock time passed since the condition's first check."""

    seconds: float
    _started: float | None = field(default=None, repr=False)

    def __call__(self, stats: TrainStats) -> bool:
        now = time.monotonic()
        if self._started is None:
            self._started = now
        return now - self._started >= self.seconds


@dataclass
class Plateaus:
    """`key` has not improved by more than `rtol` (relative to its best) for `patience` consecutive checks."""

    key: str = "mean_return"
    patience: int = 5
    rtol: float = 1e-2
    _best: float = field(default=-math.inf, repr=False)
    _stale: int = field(default=0, repr=False)

    def __call__(self, stats: TrainStats) -> bool:
        value = _value(stats, self.key)
        if value is None:
            return False
        if value > self._best + self.rtol * abs(self._best if math.isfinite(self._best) else 0.0):
            self._best, self._stale = value, 0
            return False
        self._stale += 1
        return self._stale >= self.patience
