"""Torch models from a `models` specification (Runner YAML section, either of skrl's grammars)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from torch import nn

from ..model_grammar import action_size
from ..model_spec import ModelsSpec, check_asymmetric, parse_models
from .models import PolicyModel, SharedModel, ValueModel, build_trunk, make_head


def build_models(
    spec: ModelsSpec | dict | None,
    observation_space: gym.spaces.Space,
    action_space: gym.spaces.Space,
    device: str = "cpu",
    state_space: gym.spaces.Space | None = None,
) -> dict[str, nn.Module]:
    """{"policy": ..., "value": ...}; the same module under both keys when the spec is not separate (skrl's shared
    model: the policy's network feeds both outputs; the value's own network is not used). With a `state_space`
    (an asymmetric critic) the value model reads the env's states instead of its observations."""
    if not isinstance(spec, ModelsSpec):
        spec = parse_models(spec)
    if not isinstance(observation_space, gym.spaces.Box):
        raise ValueError(f"observation_space: {observation_space} is not allowed; expected a Box")
    check_asymmetric(spec, state_space)
    obs_size, act_size = int(np.prod(observation_space.shape)), action_size(action_space)
    value_size = obs_size if state_space is None else int(np.prod(state_space.shape))
    policy_trunk, features = build_trunk(spec.policy.plan("policy"), obs_size, act_size, "models.policy")
    head = make_head(features, action_space, **spec.policy.gaussian_kwargs())
    value_output = spec.value.plan("value").output_transform
    if not spec.separate:
        shared = SharedModel(policy_trunk, head, features, value_output).to(device)
        return {"policy": shared, "value": shared}
    value_trunk, value_features = build_trunk(spec.value.plan("value"), value_size, act_size, "models.value")
    return {
        "policy": PolicyModel(policy_trunk, head).to(device),
        "value": ValueModel(value_trunk, value_features, value_output).to(device),
    }
