"""Policy and value networks: an MLP trunk with a distribution head (Gaussian or Categorical) or a value head,
separate or sharing one trunk.

Log-probabilities and entropies are written out rather than taken from torch.distributions: the same numbers,
without its argument validation and object construction on every call of the step loop.
"""

from __future__ import annotations

import math
from typing import Sequence

import gymnasium as gym
import torch
from torch import nn

_ACTIVATIONS = {
    "": nn.Identity, "identity": nn.Identity, "relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU, "selu": nn.SELU, "softplus": nn.Softplus, "gelu": nn.GELU, "silu": nn.SiLU,
}
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def activation(name: str | None) -> nn.Module:
    if (name or "") not in _ACTIVATIONS:
        raise ValueError(f"activation: {name!r} is not allowed; choose one of {', '.join(sorted(_ACTIVATIONS))}")
    return _ACTIVATIONS[name or ""]()


def mlp(input_size: int, hiddens: Sequence[int], activations: Sequence[str] | str) -> tuple[nn.Sequential, int]:
    """Linear layers with activations; returns the module and its output size."""
    if isinstance(activations, str):
        activations = [activations] * len(hiddens)
    if len(activations) != len(hiddens):
        raise ValueError(f"hidden_activation: {len(activations)} entries are not allowed; expected one per hidden layer ({len(hiddens)})")
    layers: list[nn.Module] = []
    size = input_size
    for hidden, name in zip(hiddens, activations):
        linear = nn.Linear(size, hidden)
        nn.init.orthogonal_(linear.weight, math.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers += [linear, activation(name)]
        size = hidden
    return nn.Sequential(*layers), size


def _output_layer(size: int, outputs: int, gain: float) -> nn.Linear:
    linear = nn.Linear(size, outputs)
    nn.init.orthogonal_(linear.weight, gain)
    nn.init.zeros_(linear.bias)
    return linear


class GaussianHead(nn.Module):
    """Diagonal Gaussian over continuous actions: a state-dependent mean, a learned state-independent log std."""

    def __init__(self, features: int, action_dim: int, *, output_activation: str = "", output_scale: float = 1.0,
                 initial_log_std: float = 0.0, clip_log_std: bool = True, min_log_std: float = -20.0,
                 max_log_std: float = 2.0):
        super().__init__()
        self.mean = _output_layer(features, action_dim, 0.01)
        self.mean_activation = activation(output_activation)
        self.output_scale = output_scale
        self.log_std = nn.Parameter(torch.full((action_dim,), float(initial_log_std)))
        self.log_std_range = (min_log_std, max_log_std) if clip_log_std else None

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.output_scale * self.mean_activation(self.mean(features))
        log_std = self.log_std if self.log_std_range is None else self.log_std.clamp(*self.log_std_range)
        return mean, log_std.expand_as(mean)

    @staticmethod
    def sample(params, generator: torch.Generator | None = None) -> torch.Tensor:
        mean, log_std = params
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + log_std.exp() * noise

    @staticmethod
    def log_prob(params, actions: torch.Tensor) -> torch.Tensor:
        mean, log_std = params
        z = (actions - mean) * torch.exp(-log_std)
        return (-0.5 * z.square() - log_std - _LOG_SQRT_2PI).sum(-1)

    @staticmethod
    def entropy(params) -> torch.Tensor:
        _, log_std = params
        return (0.5 + _LOG_SQRT_2PI + log_std).sum(-1)

    @staticmethod
    def mode(params) -> torch.Tensor:
        return params[0]


class CategoricalHead(nn.Module):
    """Categorical over discrete actions (gymnasium Discrete); actions have shape (batch,)."""

    def __init__(self, features: int, num_actions: int):
        super().__init__()
        self.logits = _output_layer(features, num_actions, 0.01)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.logits(features), dim=-1)

    @staticmethod
    def sample(log_probs, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(-1)

    @staticmethod
    def log_prob(log_probs, actions: torch.Tensor) -> torch.Tensor:
        return log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    @staticmethod
    def entropy(log_probs) -> torch.Tensor:
        # exp(log p) * log p is finite even where p underflows to 0 (log_softmax never returns -inf here)
        return -(log_probs.exp() * log_probs).sum(-1)

    @staticmethod
    def mode(log_probs) -> torch.Tensor:
        return log_probs.argmax(-1)


class PolicyModel(nn.Module):
    """observations -> distribution parameters."""

    def __init__(self, trunk: nn.Module, head: nn.Module):
        super().__init__()
        self.trunk, self.head = trunk, head

    def forward(self, observations: torch.Tensor):
        return self.head(self.trunk(observations))


class ValueModel(nn.Module):
    """observations -> state value, shape (batch,)."""

    def __init__(self, trunk: nn.Module, features: int):
        super().__init__()
        self.trunk, self.out = trunk, _output_layer(features, 1, 1.0)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.out(self.trunk(observations)).squeeze(-1)


class SharedModel(PolicyModel):
    """Policy and value heads on one trunk: both come out of one forward pass."""

    def __init__(self, trunk: nn.Module, head: nn.Module, features: int):
        super().__init__(trunk, head)
        self.value_out = _output_layer(features, 1, 1.0)

    def value(self, observations: torch.Tensor) -> torch.Tensor:
        return self.value_out(self.trunk(observations)).squeeze(-1)

    def policy_and_value(self, observations: torch.Tensor):
        features = self.trunk(observations)
        return self.head(features), self.value_out(features).squeeze(-1)


def make_head(features: int, action_space: gym.spaces.Space, **gaussian_kwargs) -> nn.Module:
    if isinstance(action_space, gym.spaces.Discrete):
        return CategoricalHead(features, int(action_space.n))
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        return GaussianHead(features, action_space.shape[0], **gaussian_kwargs)
    raise ValueError(f"action_space: {action_space} is not allowed; expected Discrete or a 1-D Box")
