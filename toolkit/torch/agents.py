"""The torch agents' registrations (toolkit.registry): how the Runner builds each and what it supports."""

from __future__ import annotations

from ..registry import AgentEntry, register_agent
from .instantiators import build_models
from .ppo import PPO
from .ppo_rnn import PPO_RNN
from .rnn_models import build_recurrent_models


def _feedforward_models(spec, env, device) -> dict:
    return build_models(
        spec, env.observation_space, env.action_space, device, state_space=getattr(env, "state_space", None)
    )


def _recurrent_models(spec, env, device) -> dict:
    return build_recurrent_models(spec, env.observation_space, env.action_space, env.num_envs, device)


register_agent(AgentEntry("PPO", "torch", PPO, _feedforward_models, averages_over_ranks=True))
register_agent(AgentEntry("PPO_RNN", "torch", PPO_RNN, _recurrent_models, recurrent=True))
