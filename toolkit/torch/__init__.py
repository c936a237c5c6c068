"""Torch agents and their parts (skrl's names)."""

from ..ppo_cfg import PPO_CFG
from .instantiators import build_models
from .memories import RandomMemory
from .ppo import PPO
from .preprocessors import RunningStandardScaler
from .runner import Runner
from .schedulers import KLAdaptiveLR

__all__ = ["KLAdaptiveLR", "PPO", "PPO_CFG", "RandomMemory", "Runner", "RunningStandardScaler", "build_models"]
