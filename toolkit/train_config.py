"""rl8's TrainConfig: one YAML or JSON file -> a ready Trainer (`TrainConfig.from_file(path).build().run()`).

Field names are rl8's; each maps onto the PPO_CFG field in the comment. Classes and factories are given as
dotted import paths.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from .config import ConfigError, from_dict

# rl8 name -> PPO_CFG name
_PPO_FIELDS = {
    "horizon": "rollouts", "gamma": "discount_factor", "gae_lambda": "gae_lambda",
    "entropy_coeff": "entropy_loss_scale", "clip_param": "ratio_clip", "vf_clip_param": "value_clip",
    "vf_coeff": "value_loss_scale", "target_kl_div": "kl_threshold", "max_grad_norm": "grad_norm_clip",
    "num_sgd_iters": "learning_epochs", "enable_amp": "mixed_precision",
}


def import_object(path: str) -> Any:
    """'package.module.name' -> the object."""
    module_name, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(f"import path: {path!r} cannot be imported; expected 'package.module.name' of an installed package") from None


@dataclass
class TrainConfig:
    env_cls: str | Callable = "tasks.make"  # a factory returning an envs.VecEnv or a gymnasium vector env
    env_config: dict = field(default_factory=dict)  # its keyword arguments, e.g. {task: cartpole, backend: warp}
    num_envs: int | None = None
    model_config: dict | None = None  # the Runner YAML's `models` section
    horizon: int | None = None
    gamma: float | None = None
    gae_lambda: float | None = None
    entropy_coeff: float | None = None
    clip_param: float | None = None
    vf_clip_param: float | None = None
    vf_coeff: float | None = None
    target_kl_div: float | None = None
    max_grad_norm: float | None = None
    num_sgd_iters: int | None = None
    sgd_minibatch_size: int | None = None  # samples per minibatch; sets PPO's mini_batches
    enable_amp: bool | None = None
    optimizer_config: dict | None = None  # {"lr": ...}
    normalize_observations: bool = True  # running mean / std of observations and of values
    device: str | None = None
    seed: int | None = None
    recurrent: bool = False

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return from_dict(cls, data or {}, "TrainConfig")

    def agent_cfg(self, num_envs: int) -> dict:
        """PPO_CFG fields (as a dict) from the rl8 fields that are set."""
        agent = {ppo: getattr(self, rl8) for rl8, ppo in _PPO_FIELDS.items() if getattr(self, rl8) is not None}
        if self.optimizer_config:
            unknown = sorted(set(self.optimizer_config) - {"lr"})
            if unknown:
                raise ConfigError(f"TrainConfig.optimizer_config.{unknown[0]}: unknown key; allowed: lr")
            agent["learning_rate"] = self.optimizer_config["lr"]
        if self.sgd_minibatch_size:
            samples = num_envs * agent.get("rollouts", 16)
            agent["mini_batches"] = max(samples // self.sgd_minibatch_size, 1)
        return agent

    def build(self):
        """The env, models and PPO agent this config describes, inside an rl8-style Trainer."""
        if self.recurrent:
            raise ConfigError("TrainConfig.recurrent: True is not allowed yet; recurrent PPO is not available")
        import torch

        import envs

        from .torch import PPO, RandomMemory, RunningStandardScaler, build_models
        from .trainers.stepwise import Trainer

        if self.seed is not None:
            torch.manual_seed(self.seed)
        factory = import_object(self.env_cls) if isinstance(self.env_cls, str) else self.env_cls
        kwargs = dict(self.env_config)
        if self.num_envs is not None:
            kwargs["num_envs"] = self.num_envs
        if self.device is not None:
            kwargs["device"] = self.device
        env = envs.wrap_env(factory(**kwargs), "torch")
        agent_cfg = self.agent_cfg(env.num_envs)
        if self.normalize_observations:
            agent_cfg.update(observation_preprocessor=RunningStandardScaler, value_preprocessor=RunningStandardScaler)
        device = torch.device(env.device)
        models = build_models(self.model_config, env.observation_space, env.action_space, device)
        rollouts = agent_cfg.get("rollouts", 16)
        agent_cfg.setdefault("experiment", {}).update(checkpoint_interval=0)
        agent = PPO(models=models, memory=RandomMemory(rollouts, env.num_envs, device), observation_space=env.observation_space,
                    action_space=env.action_space, device=device, cfg=agent_cfg)
        return Trainer(env, agent)
