"""Experiment settings shared by the agents of every framework (skrl's ExperimentCfg)."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Literal


@dataclass
class ExperimentCfg:
    directory: str = ""  # parent folder of the experiment; "" means "runs"
    experiment_name: str = ""  # "" means "<date-time>_<agent class>"
    write_interval: int | Literal["auto"] = "auto"  # timesteps between metric records; auto: timesteps / 100
    checkpoint_interval: int | Literal["auto"] = "auto"  # timesteps between checkpoints; auto: timesteps / 10; 0: none
    store_separately: bool = False
    wandb: bool = False
    wandb_kwargs: dict = field(default_factory=dict)

    def path(self, agent_name: str) -> str:
        """The experiment folder, naming it the first time it is asked for."""
        if not self.experiment_name:
            self.experiment_name = f"{datetime.datetime.now():%y-%m-%d_%H-%M-%S-%f}_{agent_name}"
        return os.path.join(self.directory or "runs", self.experiment_name)


def resolve_interval(value: int | str, timesteps: int, fraction: int) -> int:
    """'auto' -> timesteps // fraction (at least 1); otherwise the value itself."""
    return max(timesteps // fraction, 1) if value == "auto" else int(value)
