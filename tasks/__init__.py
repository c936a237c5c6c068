"""Tasks: one folder per task (MJCF model, MDP terms, default agent configuration) and a registry."""

from . import (  # noqa: F401  # noqa: F401
    ant,
    cartpole,  # noqa: F401  (registers its task)
    cartpole_pomdp,  # noqa: F401
    g1_flat,
    g1_rough,
    go1_flat,
    go1_rough,
    half_cheetah,
    hopper,
    humanoid,
    inverted_double_pendulum,
    inverted_pendulum,
    reacher,
    walker2d,
)
from .registry import config, make, names, register, spec
from .task_config import ResetNoiseConfig, TaskConfig

__all__ = ["ResetNoiseConfig", "TaskConfig", "config", "make", "names", "register", "spec"]
