"""When a trainer writes checkpoints, and the files it keeps: agent_<timestep>.pt, last.pt and best.pt per agent."""

from __future__ import annotations

import math
import os
from typing import Callable

from ..checkpoint import atomic_copy
from ..experiment import resolve_interval

SaveAgent = Callable[[int, str, dict], None]  # (agent index, path, extra entries) -> writes the agent's file


class Checkpoints:
    """Checkpoints fall on update boundaries (`update_period`: the least common multiple of the agents' rollouts),
    where no rollout is half collected; `interval` is skrl's checkpoint_interval ("auto": timesteps / 10, 0: none)
    rounded up to such a boundary. best.pt follows each agent's best mean return."""

    def __init__(self, rollouts: list[int], checkpoint_interval: int | str, timesteps: int):
        self.update_period = math.lcm(*rollouts)
        interval = resolve_interval(checkpoint_interval, timesteps, 10)
        self.interval = -(-interval // self.update_period) * self.update_period if interval > 0 else 0
        self.best_returns = [-math.inf] * len(rollouts)

    def at_update_boundary(self, timestep: int) -> bool:
        return timestep % self.update_period == 0

    def due(self, timestep: int) -> bool:
        return bool(self.interval) and timestep % self.interval == 0

    def write(
        self, timestep: int, folders: list[str], mean_returns: list[float | None], save: SaveAgent, env_state=None
    ) -> list[str]:
        """Write each agent's checkpoint for `timestep` into `<folder>/checkpoints/` with `save` (the worlds' state
        beside it, so a resume continues them), and refresh last.pt and, when its mean return improved, best.pt.
        Every file is replaced atomically. Returns the written paths."""
        paths = []
        for index, (folder, mean_return) in enumerate(zip(folders, mean_returns)):
            checkpoints = os.path.join(folder, "checkpoints")
            path = os.path.join(checkpoints, f"agent_{timestep}.pt")
            save(index, path, {"timestep": timestep, "env": env_state, "mean_return": mean_return})
            atomic_copy(path, os.path.join(checkpoints, "last.pt"))
            if mean_return is not None and mean_return > self.best_returns[index]:
                self.best_returns[index] = mean_return
                atomic_copy(path, os.path.join(checkpoints, "best.pt"))
            paths.append(path)
        return paths

    def restored(self, extras: list[dict]) -> int:
        """Take the best returns of loaded checkpoints' extra entries; returns the timestep they were written at."""
        self.best_returns = [
            -math.inf if extra.get("mean_return") is None else extra["mean_return"] for extra in extras
        ]
        return int(extras[0].get("timestep") or 0)
