"""Policy and value networks: a trunk (an MLP, or skrl's named blocks chained by their inputs) with a distribution
head (Gaussian or Categorical) or a value head, separate or sharing one trunk. Heads apply the model's output
expression (`tanh(ACTIONS)`, `2 * tanh(ACTIONS)`, ...) to their output layer.

Log-probabilities and entropies are written out rather than taken from torch.distributions: the same numbers,
without its argument validation and object construction on every call of the step loop.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from ..model_grammar import ACTIVATIONS, Expr, NetworkPlan

_ACTIVATIONS = {
    "": nn.Identity,
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "selu": nn.SELU,
    "softplus": nn.Softplus,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softsign": nn.Softsign,
    "softmax": lambda: nn.Softmax(dim=-1),
}
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def activation(name: str | None) -> nn.Module:
    name = (name or "").lower()
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation: {name!r} is not allowed; choose one of {', '.join(sorted(_ACTIVATIONS))}")
    return _ACTIVATIONS[name]()


def compile_expression(expr: Expr | None) -> Callable | None:
    """An input or output expression as a function of {name: tensor}; None stays None (nothing to apply)."""
    if expr is None:
        return None
    return expr.compile({name: activation(name) for name in ACTIVATIONS}, lambda tensors: torch.cat(tensors, -1))


def mlp(input_size: int, hiddens: Sequence[int], activations: Sequence[str] | str) -> tuple[nn.Sequential, int]:
    """Linear layers with activations; returns the module and its output size."""
    if isinstance(activations, str):
        activations = [activations] * len(hiddens)
    if len(activations) != len(hiddens):
        raise ValueError(
            f"hidden_activation: {len(activations)} entries are not allowed; "
            f"expected one per hidden layer ({len(hiddens)})"
        )
    layers: list[nn.Module] = []
    size = input_size
    for hidden, name in zip(hiddens, activations):
        linear = nn.Linear(size, hidden)
        nn.init.orthogonal_(linear.weight, math.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers += [linear, activation(name)]
        size = hidden
    return nn.Sequential(*layers), size


class BlockNetwork(nn.Module):
    """skrl's containers: blocks called in order, each on its input expression over the observations and the
    outputs of the blocks before it; the last block's output is the trunk's."""

    def __init__(self, plan: NetworkPlan, observation_size: int, action_size: int, where: str = "models"):
        super().__init__()
        self.plan = plan  # the description it was built from (policy export reads its blocks' input expressions)
        # a list, not a ModuleDict: a block may be named like a ModuleDict method (keys, values, ...)
        self.blocks = nn.ModuleList()
        self._inputs = []
        for block, inputs, units in plan.resolve(observation_size, action_size, where):
            sequential, self.features = mlp(inputs, units, list(block.activations))
            self.blocks.append(sequential)
            self._inputs.append((block.name, compile_expression(block.input)))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        # STATES are the observations until simtrain's envs give a privileged state (README, "Bring your skrl YAML")
        env = {"OBSERVATIONS": observations, "STATES": observations}
        for (name, inputs), block in zip(self._inputs, self.blocks):
            env[name] = output = block(inputs(env))
        return output


def build_trunk(
    plan: NetworkPlan, observation_size: int, action_size: int, where: str = "models"
) -> tuple[nn.Module, int]:
    """The module that turns observations into features, and their width. One block fed the observations is a plain
    nn.Sequential, whichever grammar wrote it, so both grammars give the same parameter names (and checkpoints)."""
    if plan.plain_mlp:
        ((block, _, units),) = plan.resolve(observation_size, action_size, where)
        return mlp(observation_size, units, list(block.activations))
    network = BlockNetwork(plan, observation_size, action_size, where)
    return network, network.features


def _output_layer(size: int, outputs: int, gain: float) -> nn.Linear:
    linear = nn.Linear(size, outputs)
    nn.init.orthogonal_(linear.weight, gain)
    nn.init.zeros_(linear.bias)
    return linear


class GaussianHead(nn.Module):
    """Diagonal Gaussian over continuous actions: a state-dependent mean, a learned state-independent log std."""

    def __init__(
        self,
        features: int,
        action_dim: int,
        *,
        output: Expr | None = None,
        initial_log_std: float = 0.0,
        clip_log_std: bool = True,
        min_log_std: float = -20.0,
        max_log_std: float = 2.0,
        fixed_log_std: bool = False,
        reduction: str = "sum",
        mean_bounds: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        """`output`: the expression over ACTIONS applied to the mean layer (tanh(ACTIONS), ...); `mean_bounds`:
        (low, high) to clamp the mean to (skrl's clip_mean_actions); `reduction`: sum or mean of the per-action
        log-probabilities."""
        super().__init__()
        self.mean = _output_layer(features, action_dim, 0.01)
        self.output = output  # the plan's expression, kept for policy export
        self._mean_output = compile_expression(output)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(initial_log_std)), requires_grad=not fixed_log_std)
        self.log_std_range = (min_log_std, max_log_std) if clip_log_std else None
        self.clamps_mean = mean_bounds is not None
        if self.clamps_mean:  # buffers follow .to(device); not persistent, so checkpoints keep their keys
            self.register_buffer("mean_low", torch.as_tensor(mean_bounds[0], dtype=torch.float32), persistent=False)
            self.register_buffer("mean_high", torch.as_tensor(mean_bounds[1], dtype=torch.float32), persistent=False)
        if reduction == "mean":  # per instance: the class's log_prob (a sum) stays usable without one
            self.log_prob = self._mean_log_prob

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.mean(features)
        if self._mean_output is not None:
            mean = self._mean_output({"ACTIONS": mean})
        if self.clamps_mean:
            mean = torch.maximum(torch.minimum(mean, self.mean_high), self.mean_low)
        log_std = self.log_std if self.log_std_range is None else self.log_std.clamp(*self.log_std_range)
        return mean, log_std.expand_as(mean)

    @classmethod
    def _mean_log_prob(cls, params, actions: torch.Tensor) -> torch.Tensor:
        return cls.log_prob(params, actions) / actions.shape[-1]

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

    def __init__(self, features: int, num_actions: int, output: Expr | None = None):
        super().__init__()
        self.logits = _output_layer(features, num_actions, 0.01)
        self.output = output  # the plan's expression, kept for policy export
        self._logits_output = compile_expression(output)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.logits(features)
        if self._logits_output is not None:
            logits = self._logits_output({"ACTIONS": logits})
        return torch.log_softmax(logits, dim=-1)

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


class ValueHead(nn.Linear):
    """features -> state value, shape (batch,): the one-unit output layer (ONE) and the value's output expression.
    A Linear itself, so its parameters keep the names older checkpoints have (`out.weight`, `value_out.bias`)."""

    def __init__(self, features: int, output: Expr | None = None):
        super().__init__(features, 1)
        nn.init.orthogonal_(self.weight, 1.0)
        nn.init.zeros_(self.bias)
        self._output = compile_expression(output)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        value = super().forward(features)
        if self._output is not None:
            value = self._output({"ONE": value})
        return value.squeeze(-1)


class ValueModel(nn.Module):
    """observations -> state value, shape (batch,)."""

    def __init__(self, trunk: nn.Module, features: int, output: Expr | None = None):
        super().__init__()
        self.trunk, self.out = trunk, ValueHead(features, output)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.out(self.trunk(observations))


class SharedModel(PolicyModel):
    """Policy and value heads on one trunk: both come out of one forward pass."""

    def __init__(self, trunk: nn.Module, head: nn.Module, features: int, value_output: Expr | None = None):
        super().__init__(trunk, head)
        self.value_out = ValueHead(features, value_output)

    def value(self, observations: torch.Tensor) -> torch.Tensor:
        return self.value_out(self.trunk(observations))

    def policy_and_value(self, observations: torch.Tensor):
        features = self.trunk(observations)
        return self.head(features), self.value_out(features)


def make_head(
    features: int, action_space: gym.spaces.Space, *, clip_mean_actions: bool = False, **gaussian_kwargs
) -> nn.Module:
    """The policy's head for its action space: Categorical (Discrete) or Gaussian (1-D Box); `gaussian_kwargs` are
    ModelSpec.gaussian_kwargs() (a Categorical head takes its output expression alone)."""
    if isinstance(action_space, gym.spaces.Discrete):
        return CategoricalHead(features, int(action_space.n), output=gaussian_kwargs.get("output"))
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        bounds = (action_space.low, action_space.high) if clip_mean_actions else None
        return GaussianHead(features, action_space.shape[0], mean_bounds=bounds, **gaussian_kwargs)
    raise ValueError(f"action_space: {action_space} is not allowed; expected Discrete or a 1-D Box")
