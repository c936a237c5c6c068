"""The torch Runner: skrl-runner YAML -> torch models, memory, PPO and SequentialTrainer."""

from __future__ import annotations

import torch

from ..config import ConfigError
from ..runner_base import RunnerBase
from ..runner_cfg import RunnerCfg
from .instantiators import build_models
from .memories import RandomMemory
from .ppo import PPO
from .ppo_rnn import PPO_RNN
from .preprocessors import RunningStandardScaler
from .rnn_models import build_recurrent_models
from .schedulers import KLAdaptiveLR


class Runner(RunnerBase):
    preprocessors = {"RunningStandardScaler": RunningStandardScaler}
    schedulers = {"KLAdaptiveLR": KLAdaptiveLR}

    @classmethod
    def resolve_class(cls, key: str, name: str) -> type:
        if key == "learning_rate_scheduler" and name not in cls.schedulers:  # any torch scheduler by name too
            scheduler = getattr(torch.optim.lr_scheduler, name, None)
            if not isinstance(scheduler, type):
                raise ConfigError(f"agent.{key}: {name!r} is not allowed; choose KLAdaptiveLR or a torch.optim.lr_scheduler class")
            return scheduler
        return super().resolve_class(key, name)

    def build_agent(self, env, cfg: RunnerCfg, memory_size: int) -> PPO | PPO_RNN:
        if cfg.seed is not None:
            torch.manual_seed(cfg.seed)
        device = torch.device(env.device)
        if cfg.agent_class == "PPO_RNN":
            agent_class = PPO_RNN
            models = build_recurrent_models(cfg.models, env.observation_space, env.action_space, env.num_envs, device)
        else:
            agent_class = PPO
            models = build_models(cfg.models, env.observation_space, env.action_space, device,
                                  state_space=getattr(env, "state_space", None))
        return agent_class(models=models, memory=RandomMemory(memory_size, env.num_envs, device), observation_space=env.observation_space,
                   state_space=getattr(env, "state_space", None), action_space=env.action_space, device=device, cfg=cfg.agent)
