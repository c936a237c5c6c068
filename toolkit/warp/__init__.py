"""The Warp agent and its parts (skrl's names): PPO with Gaussian / deterministic MLP models, separate or shared, in
Warp arrays and kernels end to end; no torch or JAX here (the env's torch tensors are viewed with wp.from_torch)."""

from ..ppo_cfg import PPO_CFG
from . import agents  # noqa: F401  (registers PPO in toolkit.registry)
from .gae import compute_gae
from .memories import RandomMemory
from .models import Model, build_models
from .optim import Adam
from .ppo import PPO
from .preprocessors import RunningStandardScaler
from .runner import Runner, check_runner_cfg
from .schedulers import KLAdaptiveLR

__all__ = [
    "Adam",
    "KLAdaptiveLR",
    "Model",
    "PPO",
    "PPO_CFG",
    "RandomMemory",
    "Runner",
    "RunningStandardScaler",
    "build_models",
    "check_runner_cfg",
    "compute_gae",
]
