"""Runner: models, memory, agent and trainer built from one YAML file (skrl-runner.txt's format)."""

from __future__ import annotations

import torch

from ..config import ConfigError
from ..runner_cfg import RunnerCfg, load_yaml, parse_runner_cfg
from ..trainers import SequentialTrainer
from .instantiators import build_models
from .memories import RandomMemory
from .ppo import PPO
from .preprocessors import RunningStandardScaler
from .schedulers import KLAdaptiveLR

_PREPROCESSORS = {"RunningStandardScaler": RunningStandardScaler}
_SCHEDULERS = {"KLAdaptiveLR": KLAdaptiveLR}


def resolve_class(key: str, name: str) -> type:
    if key == "learning_rate_scheduler":
        scheduler = _SCHEDULERS.get(name) or getattr(torch.optim.lr_scheduler, name, None)
        if not isinstance(scheduler, type):
            raise ConfigError(f"agent.{key}: {name!r} is not allowed; choose KLAdaptiveLR or a torch.optim.lr_scheduler class")
        return scheduler
    if name not in _PREPROCESSORS:
        raise ConfigError(f"agent.{key}: {name!r} is not allowed; choose one of {', '.join(_PREPROCESSORS)}")
    return _PREPROCESSORS[name]


class Runner:
    def __init__(self, env, cfg: dict):
        self._env = env
        self.cfg: RunnerCfg = parse_runner_cfg(cfg, resolve_class)
        if self.cfg.seed is not None:
            torch.manual_seed(self.cfg.seed)
        device = torch.device(env.device)
        models = build_models(self.cfg.models, env.observation_space, env.action_space, device)
        memory_size = self.cfg.memory.memory_size
        memory = RandomMemory(self.cfg.agent.rollouts if memory_size < 0 else memory_size, env.num_envs, device)
        self._agent = PPO(models=models, memory=memory, observation_space=env.observation_space,
                          state_space=getattr(env, "state_space", None), action_space=env.action_space,
                          device=device, cfg=self.cfg.agent)
        self._trainer = SequentialTrainer(env=env, agents=self._agent, cfg=self.cfg.trainer)

    @property
    def agent(self) -> PPO:
        return self._agent

    @property
    def trainer(self) -> SequentialTrainer:
        return self._trainer

    @staticmethod
    def load_cfg_from_yaml(path: str) -> dict:
        return load_yaml(path)

    def run(self, mode: str = "train", **kwargs):
        if mode == "train":
            return self._trainer.train(**kwargs)
        if mode == "eval":
            return self._trainer.eval(**kwargs)
        raise ValueError(f"mode: {mode!r} is not allowed; choose train or eval")
