"""Episode statistics accumulated on the env's device and read once per report (no per-step host sync)."""

from __future__ import annotations


class EpisodeStats:
    """Sums of the returns and lengths of episodes that ended, for one slice of worlds."""

    def __init__(self):
        self._sums = None  # (return sum, length sum, count), device scalars of the env's framework
        self.total_episodes = 0
        self.mean_return: float | None = None
        self.mean_length: float | None = None

    def record(self, episode: dict, ended) -> None:
        ended_f = _as_float(ended)
        sums = ((episode["r"] * ended_f).sum(), (episode["l"] * ended_f).sum(), ended_f.sum())
        self._sums = sums if self._sums is None else tuple(a + b for a, b in zip(self._sums, sums))

    def flush(self) -> int:
        """Turn the window's sums into means (kept from the last window if no episode ended); returns the number
        of episodes of this window."""
        if self._sums is None:
            return 0
        return_sum, length_sum, count = (float(x) for x in self._sums)
        self._sums = None
        if count:
            self.mean_return, self.mean_length = return_sum / count, length_sum / count
            self.total_episodes += int(count)
        return int(count)


class EnvLog:
    """Means over a report window of what the env logs each step in `info["log"]` (its reward terms, Isaac Lab's
    way): summed on the env's device, read once per report."""

    def __init__(self):
        self._sums: dict = {}
        self._steps = 0

    def record(self, log: dict, steps: int = 1) -> None:
        """`log`: the step's values, or the sums of `steps` steps."""
        for name, value in log.items():
            self._sums[name] = value if name not in self._sums else self._sums[name] + value
        self._steps += steps

    def flush(self) -> dict[str, float]:
        means = {name: float(value) / self._steps for name, value in self._sums.items()} if self._steps else {}
        self._sums, self._steps = {}, 0
        return means


def _as_float(mask):
    """A torch, JAX or numpy mask as floats, without a Python scalar (which JAX would upload on every call)."""
    return mask.float() if hasattr(mask, "float") else mask.astype("float32")
