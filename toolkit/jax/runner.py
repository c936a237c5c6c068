"""The JAX Runner: skrl-runner YAML -> JAX models, memory, PPO and SequentialTrainer."""

from __future__ import annotations

from ..runner_base import RunnerBase
from ..runner_cfg import RunnerCfg
from .models import build_models
from .ppo import PPO, RandomMemory
from .ppo_rnn import PPO_RNN
from .preprocessors import RunningStandardScaler
from .rnn_models import build_recurrent_models
from .schedulers import KLAdaptiveLR


class Runner(RunnerBase):
    preprocessors = {"RunningStandardScaler": RunningStandardScaler}
    schedulers = {"KLAdaptiveLR": KLAdaptiveLR}

    def build_agent(self, env, cfg: RunnerCfg, memory_size: int) -> PPO | PPO_RNN:
        if cfg.agent_class == "PPO_RNN":
            agent_class = PPO_RNN
            models = build_recurrent_models(cfg.models, env.observation_space, env.action_space, env.num_envs)
        else:
            agent_class = PPO
            models = build_models(cfg.models, env.observation_space, env.action_space,
                                  state_space=getattr(env, "state_space", None))
        return agent_class(models=models, memory=RandomMemory(memory_size, env.num_envs), observation_space=env.observation_space,
                   state_space=getattr(env, "state_space", None), action_space=env.action_space, device=env.device,
                   cfg=cfg.agent, seed=cfg.seed or 0)
