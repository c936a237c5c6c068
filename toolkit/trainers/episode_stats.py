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
        ended_f = ended * 1.0
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
