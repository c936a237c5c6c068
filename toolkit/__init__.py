"""simtrain's learning library: agents (toolkit.torch), trainers, configuration and run logging.

Framework code lives in its own subpackage, so importing toolkit imports neither torch nor JAX."""

from . import conditions
from .config import ConfigError
from .experiment import ExperimentCfg
from .ppo_cfg import PPO_CFG
from .train_config import TrainConfig
from .trainers.base import TrainStats
from .trainers.stepwise import Trainer

__all__ = ["ConfigError", "ExperimentCfg", "PPO_CFG", "TrainConfig", "TrainStats", "Trainer", "conditions"]
