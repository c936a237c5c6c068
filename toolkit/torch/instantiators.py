"""Torch models from a `models` specification (Runner YAML section)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from torch import nn

from ..model_spec import ModelsSpec, parse_models
from .models import PolicyModel, SharedModel, ValueModel, make_head, mlp


def build_models(spec: ModelsSpec | dict | None, observation_space: gym.spaces.Space,
                 action_space: gym.spaces.Space, device: str = "cpu") -> dict[str, nn.Module]:
    """{"policy": ..., "value": ...}; the same module under both keys when the spec is not separate."""
    if not isinstance(spec, ModelsSpec):
        spec = parse_models(spec)
    if not isinstance(observation_space, gym.spaces.Box):
        raise ValueError(f"observation_space: {observation_space} is not allowed; expected a Box")
    obs_size = int(np.prod(observation_space.shape))
    policy_trunk, features = mlp(obs_size, spec.policy.hiddens, spec.policy.hidden_activation)
    head = make_head(features, action_space, **spec.policy.gaussian_kwargs())
    if not spec.separate:
        shared = SharedModel(policy_trunk, head, features).to(device)
        return {"policy": shared, "value": shared}
    value_trunk, value_features = mlp(obs_size, spec.value.hiddens, spec.value.hidden_activation)
    return {"policy": PolicyModel(policy_trunk, head).to(device), "value": ValueModel(value_trunk, value_features).to(device)}
