"""The vectorized environment layer: the VecEnv contract, the MuJoCo Warp and MJX engines, and wrappers."""

from . import xla_cpu_threads
from .task import JointPositionActions, MdpState, Randomization, TaskSpec
from .vec_env import SimulationError, VecEnv
from .wrappers import FrameworkEnv, GymnasiumVecEnv, wrap_env

xla_cpu_threads.install()  # before any JAX array exists: XLA reads its CPU pool's size once

BACKENDS = ("warp", "mjx")
NATIVE_FRAMEWORK = {"warp": "torch", "mjx": "jax"}  # the agent framework that reads each engine's arrays as they are


def make_engine(task: TaskSpec, backend: str, num_envs: int, device: str | None = None, seed: int = 0) -> VecEnv:
    """Build `num_envs` worlds of `task` on `backend` ("warp" or "mjx")."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: {backend!r} is not allowed; choose one of {', '.join(BACKENDS)}")
    if not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs: {num_envs!r} is not allowed; must be a positive integer")
    if backend == "warp":
        from .warp_engine import WarpVecEnv

        return WarpVecEnv(task, num_envs, device, seed)
    from .mjx_engine import MjxVecEnv

    return MjxVecEnv(task, num_envs, device, seed)


__all__ = [
    "BACKENDS",
    "NATIVE_FRAMEWORK",
    "FrameworkEnv",
    "GymnasiumVecEnv",
    "JointPositionActions",
    "MdpState",
    "Randomization",
    "SimulationError",
    "TaskSpec",
    "VecEnv",
    "make_engine",
    "wrap_env",
]
