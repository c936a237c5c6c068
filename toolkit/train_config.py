"""rl8's TrainConfig: one YAML or JSON file -> a ready Trainer (`TrainConfig.from_file(path).build().run()`).

Field names are rl8's; each maps onto the PPO_CFG field in the comment. `env_cls` in a file names an env factory,
never arbitrary code: `tasks.make`, a registered task's name, or a gymnasium id; any other callable is passed in
Python (`TrainConfig(env_cls=my_factory)`).
"""

from __future__ import annotations

import functools
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from .config import ConfigError, from_dict

# rl8 name -> PPO_CFG name
_PPO_FIELDS = {
    "horizon": "rollouts",
    "gamma": "discount_factor",
    "gae_lambda": "gae_lambda",
    "entropy_coeff": "entropy_loss_scale",
    "clip_param": "ratio_clip",
    "vf_clip_param": "value_clip",
    "vf_coeff": "value_loss_scale",
    "target_kl_div": "kl_threshold",
    "max_grad_norm": "grad_norm_clip",
    "num_sgd_iters": "learning_epochs",
    "enable_amp": "mixed_precision",
}


def env_factory(name: str) -> Callable:
    """`env_cls` of a file -> the env factory it names: "tasks.make" (keyword arguments `task`, `backend`, ...), a
    registered task's name (e.g. "cartpole": tasks.make of that task), or a gymnasium id ("CartPole-v1", or
    "gymnasium:CartPole-v1": gymnasium.make_vec with same-step autoreset). Nothing else is imported or called, so a
    config file cannot run code."""
    import gymnasium as gym

    tasks = importlib.import_module("tasks")  # by name: the learning library does not depend on the task package
    if name == "tasks.make":
        return tasks.make
    if name in tasks.names():
        return functools.partial(tasks.make, name)
    gym_id = name.removeprefix("gymnasium:")
    if gym_id in gym.registry:

        def make_vec(num_envs: int = 1, device: str | None = None, **kwargs):
            if device not in (None, "cpu"):
                raise ConfigError(
                    f"TrainConfig.device: {device!r} is not allowed for gymnasium env {gym_id!r}; it runs on cpu"
                )
            return gym.make_vec(
                gym_id,
                num_envs=num_envs,
                vectorization_mode="sync",
                vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
                **kwargs,
            )

        return make_vec
    raise ConfigError(
        f"TrainConfig.env_cls: {name!r} is not allowed; choose tasks.make, a registered task "
        f"({', '.join(tasks.names())}) or a gymnasium id such as CartPole-v1; pass any other factory as a "
        "callable in Python"
    )


@dataclass
class TrainConfig:
    env_cls: str | Callable = "tasks.make"  # an env factory's name (see env_factory), or any factory given in Python
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
        factory = env_factory(self.env_cls) if isinstance(self.env_cls, str) else self.env_cls
        kwargs = dict(self.env_config)
        if self.num_envs is not None:
            kwargs["num_envs"] = self.num_envs
        if self.device is not None:
            kwargs["device"] = self.device
        env = envs.wrap_env(factory(**kwargs), "torch")
        agent_cfg = self.agent_cfg(env.num_envs)
        if self.normalize_observations:
            agent_cfg.update(
                observation_preprocessor=RunningStandardScaler,
                value_preprocessor=RunningStandardScaler,
                state_preprocessor=RunningStandardScaler,
            )
        device = torch.device(env.device)
        # an env with a state space gets an asymmetric critic, as from a Runner YAML
        models = build_models(
            self.model_config, env.observation_space, env.action_space, device, state_space=env.state_space
        )
        rollouts = agent_cfg.get("rollouts", 16)
        agent_cfg.setdefault("experiment", {}).update(checkpoint_interval=0)
        agent = PPO(
            models=models,
            memory=RandomMemory(rollouts, env.num_envs, device),
            observation_space=env.observation_space,
            state_space=env.state_space,
            action_space=env.action_space,
            device=device,
            cfg=agent_cfg,
        )
        return Trainer(env, agent)
