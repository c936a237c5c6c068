"""Tasks: one folder per task (MJCF model, MDP terms, default agent configuration) and a registry."""

from . import cartpole  # noqa: F401  (registers its task)
from .registry import make, names, register, spec

__all__ = ["make", "names", "register", "spec"]
