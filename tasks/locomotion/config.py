"""A velocity-command locomotion task's typed configuration: TaskConfig's settings, plus the commands it draws, its
interval pushes, its reset ranges and its reward weights (`--env.commands.vx -0.5 1.5`, `--env.no-interval-pushes`,
`--env.rewards.action-rate -0.02`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import ClassVar

from envs import TaskSpec

from ..task_config import TaskConfig
from ..velocity_task import VelocityTask
from .events import Pushes, ResetRanges, VelocityCommands


@dataclass(frozen=True)
class LocomotionConfig(TaskConfig):
    """A task subclasses it naming the task it configures (`task`, a tasks.velocity_task.VelocityTask), whose events
    and reward table give the defaults; a new setting of that task is one more field of its subclass."""

    commands: VelocityCommands = VelocityCommands()
    """the velocity commands' ranges (vx, vy m/s in the base frame; wz rad/s), resampling times and modes"""
    interval_pushes: bool = True
    """push the base at intervals (--env.no-interval-pushes: never)"""
    pushes: Pushes = Pushes()
    """the pushes' interval (s) and horizontal velocity kick (m/s)"""
    reset: ResetRanges = ResetRanges()
    """where a reset places the base (m, rad) and the joints (rad), and the base velocity it starts with"""
    rewards: dict[str, float] = field(default_factory=dict)
    """each reward term's weight (the term times weight times the control step is added to the reward)"""

    task: ClassVar[VelocityTask]

    def __post_init__(self):
        super().__post_init__()
        for name in ("position", "yaw", "joint", "velocity"):
            value = getattr(self.reset, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ValueError(f"reset.{name}: {value!r} is not allowed; must be a finite number >= 0")
        terms = self.task.reward_table.terms
        for name, weight in self.rewards.items():
            if name not in terms:
                raise ValueError(f"env.rewards.{name}: unknown reward term; allowed: {', '.join(terms)}")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
                raise ValueError(f"env.rewards.{name}: {weight!r} is not allowed; must be a finite number")

    @classmethod
    def from_spec(cls, spec: TaskSpec, **values) -> "LocomotionConfig":
        events = cls.task.events
        return super().from_spec(
            spec,
            commands=events.commands,
            interval_pushes=events.pushes is not None,
            pushes=events.pushes or Pushes(),
            reset=events.reset,
            rewards=cls.task.reward_table.weights(),
            **values,
        )

    def apply(self, spec: TaskSpec) -> TaskSpec:
        """The task rebuilt (`spec` is the one registered) with these settings."""
        return super().apply(self.task.spec(**self.built_with()))

    def built_with(self) -> dict:
        """What the task's builder (VelocityTask.spec) takes from this configuration: the events with its commands,
        pushes and resets, the reward table with its weights."""
        events = dataclasses.replace(
            self.task.events,
            commands=self.commands,
            pushes=self.pushes if self.interval_pushes else None,
            reset=self.reset,
        )
        table = self.task.reward_table
        weights = {**table.weights(), **self.rewards}
        reward = dataclasses.replace(
            table, terms={name: (term, weights[name]) for name, (term, _) in table.terms.items()}
        )
        return {"events": events, "reward": reward}
