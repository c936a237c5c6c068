"""JAX agents and their parts (skrl's names); no torch here."""

from ..ppo_cfg import PPO_CFG
from . import agents  # noqa: F401  (registers PPO and PPO_RNN in toolkit.registry)
from .models import ActorCritic, build_models
from .ppo import PPO, RandomMemory
from .ppo_rnn import PPO_RNN
from .preprocessors import RunningStandardScaler
from .rnn_models import RecurrentActorCritic, build_recurrent_models
from .runner import Runner
from .schedulers import KLAdaptiveLR

__all__ = [
    "ActorCritic",
    "KLAdaptiveLR",
    "PPO",
    "PPO_CFG",
    "PPO_RNN",
    "RandomMemory",
    "RecurrentActorCritic",
    "Runner",
    "RunningStandardScaler",
    "build_models",
    "build_recurrent_models",
]
