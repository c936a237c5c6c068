"""Task registry: name -> TaskSpec (MJCF, MDP terms, default agent configuration)."""

from __future__ import annotations

import dataclasses

import envs
from envs import TaskSpec, VecEnv

_TASKS: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    if spec.name in _TASKS:
        raise ValueError(f"task: {spec.name!r} is registered already")
    _TASKS[spec.name] = spec
    return spec


def names() -> list[str]:
    return sorted(_TASKS)


def spec(task: str) -> TaskSpec:
    if task not in _TASKS:
        raise ValueError(f"task: {task!r} is not registered; choose one of {', '.join(names())}")
    return _TASKS[task]


def make(
    task: str, backend: str = "warp", num_envs: int | None = None, device: str | None = None, seed: int = 0, **overrides
) -> VecEnv:
    """`num_envs` worlds of a registered task on `backend` ("warp" or "mjx"). `overrides` replace TaskSpec
    fields (max_episode_steps=..., reset_noise_scale=..., nconmax=..., randomization=...); `randomization` may
    be an envs.Randomization or a dict of its fields, e.g. {"mass": (0.8, 1.2)}."""
    task_spec = spec(task)
    if isinstance(overrides.get("randomization"), dict):
        overrides["randomization"] = envs.Randomization.from_dict(overrides["randomization"])
    if overrides:
        unknown = sorted(set(overrides) - set(TaskSpec.__dataclass_fields__))
        if unknown:
            raise ValueError(
                f"override: {unknown[0]!r} is not a task field; allowed: {', '.join(TaskSpec.__dataclass_fields__)}"
            )
        task_spec = dataclasses.replace(task_spec, **overrides)
    return envs.make_engine(
        task_spec, backend, task_spec.default_num_envs if num_envs is None else num_envs, device, seed
    )
