"""The Warp agent's registration (toolkit.registry): how the Runner builds it and what it supports."""

from __future__ import annotations

from ..registry import AgentEntry, register_agent
from .models import build_models
from .ppo import PPO


def _models(spec, env, device, seed: int = 0) -> dict:
    # Warp has no global random state: the Runner passes the run's seed for the initial weights
    return build_models(spec, env.observation_space, env.action_space, str(device), seed=seed)


register_agent(AgentEntry("PPO", "warp", PPO, _models))
