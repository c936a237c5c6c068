"""The JAX Runner: skrl-runner YAML -> JAX models, memory, PPO and SequentialTrainer."""

from __future__ import annotations

from ..runner_base import RunnerBase
from ..runner_cfg import RunnerCfg
from .ppo import RandomMemory
from .preprocessors import RunningStandardScaler
from .schedulers import KLAdaptiveLR


class Runner(RunnerBase):
    framework = "jax"
    preprocessors = {"RunningStandardScaler": RunningStandardScaler}
    schedulers = {"KLAdaptiveLR": KLAdaptiveLR}

    def build_agent(self, env, cfg: RunnerCfg, memory_size: int):
        """The registered agent `cfg.agent_class` names, with its models and a memory of `memory_size` steps for
        env's worlds."""
        entry = self.resolve_class("agent", cfg.agent_class)
        return entry.agent_class(
            models=entry.build_models(cfg.models, env, env.device),
            memory=RandomMemory(memory_size, env.num_envs),
            observation_space=env.observation_space,
            state_space=getattr(env, "state_space", None),
            action_space=env.action_space,
            device=env.device,
            cfg=cfg.agent,
            seed=cfg.seed or 0,
        )
