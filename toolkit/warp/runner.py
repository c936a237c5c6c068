"""The Warp Runner: skrl-runner YAML -> Warp models, memory, PPO and SequentialTrainer."""

from __future__ import annotations

from ..config import ConfigError
from ..runner_base import RunnerBase
from ..runner_cfg import RunnerCfg
from .memories import RandomMemory
from .models import ALTERNATIVE, check_models
from .ppo import PPO
from .preprocessors import RunningStandardScaler
from .schedulers import KLAdaptiveLR


def check_runner_cfg(cfg: RunnerCfg) -> None:
    """What skrl's Warp column lacks (PPO_RNN, recurrent models, mixed precision, Categorical policies, multi-block
    networks), as a one-line ConfigError naming the alternative; called before any world is built."""
    if cfg.agent_class != "PPO":
        raise ConfigError(
            f"agent.class: {cfg.agent_class!r} is not allowed with --framework warp (PPO only, no RNN); {ALTERNATIVE}"
        )
    if cfg.agent.mixed_precision:
        raise ConfigError(
            f"agent.mixed_precision: True is not allowed with --framework warp (skrl's Warp PPO has no mixed "
            f"precision); {ALTERNATIVE}"
        )
    check_models(cfg.models)


class Runner(RunnerBase):
    framework = "warp"
    preprocessors = {"RunningStandardScaler": RunningStandardScaler}
    schedulers = {"KLAdaptiveLR": KLAdaptiveLR}

    @classmethod
    def resolve_class(cls, key: str, name: str):
        try:
            return super().resolve_class(key, name)
        except ConfigError:
            if key != "agent":
                raise
            raise ConfigError(
                f"agent.class: {name!r} is not allowed with --framework warp (PPO only, no RNN); {ALTERNATIVE}"
            ) from None

    def build_agent(self, env, cfg: RunnerCfg, memory_size: int) -> PPO:
        check_runner_cfg(cfg)
        seed = 0 if cfg.seed is None else int(cfg.seed)
        device = str(env.device)
        entry = self.resolve_class("agent", cfg.agent_class)
        return entry.agent_class(
            models=entry.build_models(cfg.models, env, device, seed=seed),
            memory=RandomMemory(memory_size, env.num_envs, device),
            observation_space=env.observation_space,
            state_space=getattr(env, "state_space", None),
            action_space=env.action_space,
            device=device,
            cfg=cfg.agent,
            seed=seed,
        )
