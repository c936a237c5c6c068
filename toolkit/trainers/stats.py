"""Where a run stands (TrainStats), how a report window's episodes and env log become it, and stop conditions."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .episode_stats import EnvLog, EpisodeStats


@dataclass
class TrainStats:
    """Where a run stands; handed to stop conditions and metric loggers."""

    timestep: int = 0  # vectorized steps taken (each steps every world once)
    env_steps: int = 0  # timestep * num_envs
    wall_s: float = 0.0
    env_steps_per_s: float = 0.0
    mean_return: float | None = None  # mean return of the episodes that ended in the last report window
    mean_length: float | None = None
    episodes: int = 0  # episodes ended so far
    agents: list[dict] = field(default_factory=list)  # per agent: mean_return, mean_length, tracking data
    log: dict = field(default_factory=dict)  # means of the env's info["log"] (reward terms) over the report window

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


StopCondition = Callable[[TrainStats], bool]


def any_condition(stop: StopCondition | Iterable[StopCondition] | None) -> StopCondition:
    """One condition that holds when `stop` (a condition, several, or None: never) holds."""
    if stop is None:
        return lambda stats: False
    if callable(stop):
        return stop
    conditions = list(stop)
    return lambda stats: any(condition(stats) for condition in conditions)


def summarize(
    episode_stats: list[EpisodeStats],
    tracked: list[dict],
    env_log: EnvLog,
    *,
    timestep: int,
    num_envs: int,
    wall_s: float,
    steps_in_window: int,
) -> TrainStats:
    """The report of a window: each agent's episodes (`episode_stats`, flushed here) and tracked means (`tracked`),
    the env's logged means, and the rate of the `steps_in_window` vectorized steps taken in `wall_s` seconds."""
    for stats in episode_stats:
        stats.flush()
    returns = [s.mean_return for s in episode_stats if s.mean_return is not None]
    lengths = [s.mean_length for s in episode_stats if s.mean_length is not None]
    agents = [
        {"mean_return": stats.mean_return, "mean_length": stats.mean_length, **means}
        for means, stats in zip(tracked, episode_stats)
    ]
    return TrainStats(
        timestep=timestep,
        env_steps=timestep * num_envs,
        wall_s=wall_s,
        env_steps_per_s=steps_in_window * num_envs / max(wall_s, 1e-9),
        mean_return=sum(returns) / len(returns) if returns else None,
        mean_length=sum(lengths) / len(lengths) if lengths else None,
        episodes=sum(s.total_episodes for s in episode_stats),
        agents=agents,
        log=env_log.flush(),
    )


def info_scalars(entries: dict) -> dict:
    """The one-element entries of an info dict (skrl logs those alone; per-world arrays are left out)."""
    return {
        name: value
        for name, value in entries.items()
        if isinstance(value, (int, float)) or (hasattr(value, "shape") and math.prod(value.shape) == 1)
    }


class NonfiniteTally:
    """The env's counts of worlds reset for a NaN or inf (check_finite(), once per update) over a report window:
    world-steps summed per source (`nonfinite/worlds`, `nonfinite/<source>`), and the largest fraction of the worlds
    that blew up in one update (`nonfinite/fraction`)."""

    def __init__(self):
        self._window: dict = {}

    def record(self, metrics: dict) -> None:
        for name, value in metrics.items():
            if name == "nonfinite/fraction":
                self._window[name] = max(self._window.get(name, 0.0), value)
            else:
                self._window[name] = self._window.get(name, 0) + value

    def flush(self) -> dict:
        """The window's tally (zeros when nothing was checked: every report carries nonfinite/worlds)."""
        window, self._window = self._window, {}
        return {"nonfinite/worlds": 0, "nonfinite/fraction": 0.0, **window}
