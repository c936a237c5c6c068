"""Tasks: one folder per task (MJCF model, MDP terms, default agent configuration) and a registry."""

from . import cartpole  # noqa: F401  (registers its task)
from . import cartpole_pomdp  # noqa: F401
from . import g1_flat, go1_flat  # noqa: F401
from . import ant, half_cheetah, hopper, humanoid, inverted_double_pendulum, inverted_pendulum, reacher, walker2d  # noqa: F401
from .registry import make, names, register, spec

__all__ = ["make", "names", "register", "spec"]
