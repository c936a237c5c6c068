"""Torch agents and their parts (skrl's names)."""

from ..ppo_cfg import PPO_CFG
from . import agents  # noqa: F401  (registers PPO and PPO_RNN in toolkit.registry)
from .instantiators import build_models
from .memories import RandomMemory
from .ppo import PPO
from .ppo_rnn import PPO_RNN
from .preprocessors import RunningStandardScaler
from .rnn_models import build_recurrent_models
from .runner import Runner
from .schedulers import KLAdaptiveLR

__all__ = [
    "KLAdaptiveLR",
    "PPO",
    "PPO_CFG",
    "PPO_RNN",
    "RandomMemory",
    "Runner",
    "RunningStandardScaler",
    "build_models",
    "build_recurrent_models",
]
