"""Task registry: name -> TaskSpec (MJCF, MDP terms, default agent configuration) and the task's typed configuration
class (what `--env.*` flags tune; tasks/task_config.py)."""

from __future__ import annotations

import dataclasses

import envs
from envs import TaskSpec, VecEnv

from .task_config import ResetNoiseConfig, TaskConfig

_TASKS: dict[str, TaskSpec] = {}
_CONFIGS: dict[str, type[TaskConfig]] = {}


def register(spec: TaskSpec, config: type[TaskConfig] = ResetNoiseConfig) -> TaskSpec:
    """Register `spec` under its name, tuned by `config` (a TaskConfig subclass; its defaults are read from the spec
    by `config.from_spec`, which is checked here, so a task whose defaults do not fit its config fails at import)."""
    if spec.name in _TASKS:
        raise ValueError(f"task: {spec.name!r} is registered already")
    if not (isinstance(config, type) and issubclass(config, TaskConfig)):
        raise ValueError(f"config: {config!r} is not allowed for task {spec.name!r}; must be a TaskConfig subclass")
    config.from_spec(spec)
    _TASKS[spec.name] = spec
    _CONFIGS[spec.name] = config
    return spec


def names() -> list[str]:
    return sorted(_TASKS)


def _registered(task: str) -> TaskSpec:
    if task not in _TASKS:
        raise ValueError(f"task: {task!r} is not registered; choose one of {', '.join(names())}")
    return _TASKS[task]


def config(task: str, saved: dict | None = None) -> TaskConfig:
    """The task's configuration: its defaults as registered, with `saved` (a mapping as TaskConfig.as_dict writes
    it, e.g. a run's launch.yaml `env`) put over them."""
    registered = _registered(task)
    default = _CONFIGS[task].from_spec(registered)
    return default if saved is None else default.updated(saved)


def spec(task: str, config: TaskConfig | None = None) -> TaskSpec:
    """The registered task's TaskSpec; with `config` (of the task's configuration class), as it describes it."""
    registered = _registered(task)
    if config is None:
        return registered
    if type(config) is not _CONFIGS[task]:
        raise ValueError(
            f"env: a {type(config).__name__} is not allowed for task {task!r}; expected its {_CONFIGS[task].__name__}"
            " (tasks.config(task) gives its defaults)"
        )
    if config == config.from_spec(registered):  # the defaults: the very spec registered
        return registered
    return config.apply(registered)


def make(
    task: str,
    backend: str = "warp",
    num_envs: int | None = None,
    device: str | None = None,
    seed: int = 0,
    config: TaskConfig | None = None,
    **overrides,
) -> VecEnv:
    """Build `num_envs` worlds of a registered task on `backend` and return the engine's VecEnv.

    Args:
        task: a registered name (`tasks.names()`), e.g. "cartpole".
        backend: "warp" (MuJoCo Warp, torch arrays) or "mjx" (MuJoCo XLA, JAX arrays).
        num_envs: number of worlds stepped together (None: the task's `default_num_envs`).
        device: "cpu", "cuda" or "cuda:K" (None: the engine's default device).
        seed: seeds the engine's generator (reset noise, randomization, commands, observation noise).
        config: the task's typed configuration (`tasks.config(task)` gives its defaults; change it with
            dataclasses.replace), e.g. episode length, randomization, commands. None: as registered.
        overrides: TaskSpec fields replaced after `config` (max_episode_steps=..., reset_noise_scale=..., nconmax=...,
            randomization=...); `randomization` may be an envs.Randomization or a dict of its fields, e.g.
            {"mass": (0.8, 1.2)}.

    Returns:
        The engine's `envs.VecEnv` (WarpVecEnv or MjxVecEnv): `reset()` and `step(actions)` on arrays shaped
        (num_envs, ...) of the engine's framework; wrap it with `envs.wrap_env` for another framework's arrays.
    Raises ValueError (one line naming the field, the value and what is allowed) before any world is built.
    """
    task_spec = spec(task, config)
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
