"""simtrain's learning library: agents (toolkit.torch), trainers, configuration and run logging.

Framework code lives in its own subpackage, so importing toolkit imports neither torch nor JAX."""

from .config import ConfigError
from .experiment import ExperimentCfg
from .ppo_cfg import PPO_CFG

__all__ = ["ConfigError", "ExperimentCfg", "PPO_CFG"]
