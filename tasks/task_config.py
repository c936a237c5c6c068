"""A task's typed configuration: what a user tunes of a registered task, as one frozen dataclass per task.

The launch scripts show it as `--env.FIELD` flags (`--env.max-episode-steps 200`, `--env.randomization.mass 0.8
1.2`) with the task's own defaults, store it in a run's launch.yaml (`env:`) and restore it on `--resume`.

Every field named as a TaskSpec field replaces that field of the registered spec (`apply`); so a task whose TaskSpec
gains a field exposes it with one line in its config class, its default read from the spec (`from_spec`). A field
that is not a TaskSpec field (velocity commands, reward weights, the terrain) is turned into the spec by the config
class's own `apply` (see tasks/locomotion/config.py and tasks/terrain/rough_config.py: the task rebuilt).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from envs import Randomization, TaskSpec

_SPEC_FIELDS = frozenset(field.name for field in dataclasses.fields(TaskSpec))


@dataclass(frozen=True)
class TaskConfig:
    """Every task's settings: episode length, domain randomization and MuJoCo Warp's contact buffers."""

    max_episode_steps: int
    """steps before an episode is cut (a time-out, not a termination)"""
    randomization: Randomization = Randomization()
    """per world, drawn again at each of its resets: factors uniform in [LOW, HIGH] for body masses, geoms' friction
    and actuator gains (None: off)"""
    nconmax: int | None = None
    """MuJoCo Warp: contacts per world to allocate (None: mujoco_warp's guess)"""
    njmax: int | None = None
    """MuJoCo Warp: constraint rows per world to allocate (None: mujoco_warp's guess)"""

    def __post_init__(self):
        _check_int("env.max_episode_steps", self.max_episode_steps, minimum=1)
        for name in ("nconmax", "njmax"):
            if getattr(self, name) is not None:
                _check_int(f"env.{name}", getattr(self, name), minimum=1, allowed="a positive integer or None")
        if not isinstance(self.randomization, Randomization):
            raise ValueError(f"env.randomization: {self.randomization!r} is not allowed; must be an envs.Randomization")

    @classmethod
    def from_spec(cls, spec: TaskSpec, **values) -> "TaskConfig":
        """The registered task's defaults: each field named as a TaskSpec field takes the spec's value, the others
        `values` or their class defaults."""
        names = {field.name for field in dataclasses.fields(cls) if field.init}
        return cls(**{name: getattr(spec, name) for name in names & _SPEC_FIELDS}, **values)

    def apply(self, spec: TaskSpec) -> TaskSpec:
        """`spec` as this configuration describes it (TaskSpec checks the result once more)."""
        names = {field.name for field in dataclasses.fields(self)} & _SPEC_FIELDS
        return dataclasses.replace(spec, **{name: getattr(self, name) for name in names})

    def as_dict(self) -> dict:
        """Plain values for YAML: nested configurations as mappings, tuples as lists."""
        return _plain(self)

    def updated(self, values: dict, where: str = "env") -> "TaskConfig":
        """This configuration with `values` (a mapping as `as_dict` writes it, e.g. a run's launch.yaml) put over it;
        keys it lacks keep this one's values. An unknown key is one line naming the allowed ones."""
        return _updated(self, values, where)


@dataclass(frozen=True)
class ResetNoiseConfig(TaskConfig):
    """The task's settings: episode length, domain randomization, MuJoCo Warp's contact buffers and the noise its
    worlds start with around the model's rest pose."""

    reset_noise_scale: float = 0.0
    """qpos starts at the model's qpos0 plus noise of this scale (qvel too, unless the task sets its own scale)"""

    def __post_init__(self):
        super().__post_init__()
        _check_float("env.reset_noise_scale", self.reset_noise_scale, minimum=0.0)


def _check_int(name: str, value, minimum: int, allowed: str = "a positive integer") -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: {value!r} is not allowed; must be {allowed}")


def _check_float(name: str, value, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name}: {value!r} is not allowed; must be a finite number >= {minimum}")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


def _updated(current: Any, values: Any, where: str) -> Any:
    """`current` (a dataclass, a mapping or a value) with `values` over it, typed as `current` is."""
    if dataclasses.is_dataclass(current):
        if not isinstance(values, dict):
            raise ValueError(f"{where}: {values!r} is not allowed; expected a mapping of {type(current).__name__}")
        allowed = [field.name for field in dataclasses.fields(current)]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown key; allowed: {', '.join(allowed)}")
        hints = typing.get_type_hints(type(current))
        changes = {}
        for name, given in values.items():
            now = getattr(current, name)
            if now is None or given is None:  # an optional value: set or cleared as given
                changes[name] = _typed(hints[name], given, f"{where}.{name}")
            else:
                changes[name] = _updated(now, given, f"{where}.{name}")
        return dataclasses.replace(current, **changes)
    if isinstance(current, dict):
        if not isinstance(values, dict):
            raise ValueError(f"{where}: {values!r} is not allowed; expected a mapping")
        unknown = sorted(set(values) - set(current))
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown key; allowed: {', '.join(current)}")
        return {**current, **values}
    if isinstance(current, tuple):
        return _tuples(values)
    return values


def _tuples(value: Any) -> Any:
    """YAML's lists as the tuples a configuration holds, nested ones too (terrain proportions: ((type, share), ...))."""
    return tuple(_tuples(item) for item in value) if isinstance(value, (list, tuple)) else value


def _typed(hint: Any, value: Any, where: str) -> Any:
    """A plain value as the type `hint` (X | None) wants it: lists as tuples, mappings as nested configurations."""
    if value is None:
        return None
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next((arg for arg in typing.get_args(hint) if arg is not type(None)), hint)
    if dataclasses.is_dataclass(hint):
        return _updated(hint(), value, where)
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        return _tuples(value)
    return value
