"""The torch Runner: skrl-runner YAML -> torch models, memory, PPO and SequentialTrainer."""

from __future__ import annotations

import torch

from ..config import ConfigError
from ..runner_base import RunnerBase
from ..runner_cfg import RunnerCfg
from .memories import RandomMemory
from .preprocessors import RunningStandardScaler
from .schedulers import KLAdaptiveLR


class Runner(RunnerBase):
    framework = "torch"
    preprocessors = {"RunningStandardScaler": RunningStandardScaler}
    schedulers = {"KLAdaptiveLR": KLAdaptiveLR}

    @classmethod
    def resolve_class(cls, key: str, name: str) -> type:
        if key == "learning_rate_scheduler" and name not in cls.schedulers:  # any torch scheduler by name too
            scheduler = getattr(torch.optim.lr_scheduler, name, None)
            if not isinstance(scheduler, type):
                raise ConfigError(
                    f"agent.{key}: {name!r} is not allowed; choose KLAdaptiveLR or a torch.optim.lr_scheduler class"
                )
            return scheduler
        return super().resolve_class(key, name)

    def build_agent(self, env, cfg: RunnerCfg, memory_size: int):
        """The registered agent `cfg.agent_class` names, with its models and a memory of `memory_size` steps for
        env's worlds."""
        if cfg.seed is not None:
            torch.manual_seed(cfg.seed)
        device = torch.device(env.device)
        entry = self.resolve_class("agent", cfg.agent_class)
        return entry.agent_class(
            models=entry.build_models(cfg.models, env, device),
            memory=RandomMemory(memory_size, env.num_envs, device),
            observation_space=env.observation_space,
            state_space=getattr(env, "state_space", None),
            action_space=env.action_space,
            device=device,
            cfg=cfg.agent,
        )
