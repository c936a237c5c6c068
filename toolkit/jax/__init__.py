"""JAX agents and their parts (skrl's names); no torch here."""

from ..ppo_cfg import PPO_CFG
from .models import ActorCritic, build_models
from .ppo import PPO, RandomMemory
from .preprocessors import RunningStandardScaler
from .runner import Runner
from .schedulers import KLAdaptiveLR

__all__ = ["ActorCritic", "KLAdaptiveLR", "PPO", "PPO_CFG", "RandomMemory", "Runner", "RunningStandardScaler", "build_models"]
