"""A torch PPO or PPO_RNN agent -> PolicyGraph (for ONNX; toolkit.export writes it), and its policy as a
TorchScript module. The agents' `policy_graph` and `write_torchscript` call these."""

from __future__ import annotations

import copy
import io
import warnings

import numpy as np
import torch
from torch import nn

from ..checkpoint import atomic_write_bytes
from ..export.policy_graph import (
    TRUNK_INPUT,
    Block,
    Dense,
    ExportError,
    Normalizer,
    PolicyGraph,
    Recurrent,
    RecurrentLayer,
)
from .models import BlockNetwork, CategoricalHead, GaussianHead
from .rnn_models import RecurrentModel

_ACTIVATION_NAMES = {
    nn.Identity: "identity",
    nn.ReLU: "relu",
    nn.ELU: "elu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.LeakyReLU: "leaky_relu",
    nn.SELU: "selu",
    nn.Softplus: "softplus",
    nn.SiLU: "silu",
    nn.Softsign: "softsign",
    nn.Softmax: "softmax",
}


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32)


def _activation_name(module: nn.Module) -> str:
    if isinstance(module, nn.GELU):
        return "gelu" if module.approximate == "none" else "gelu_tanh"
    name = _ACTIVATION_NAMES.get(type(module))
    if (
        name is None
        or (name == "elu" and module.alpha != 1.0)
        or (name == "leaky_relu" and module.negative_slope != 0.01)
        or (name == "softplus" and module.beta != 1.0)
        or (name == "softmax" and module.dim != -1)
    ):
        raise ExportError(
            f"activation: {module} cannot be exported; allowed: {', '.join(_ACTIVATION_NAMES.values())}, gelu"
        )
    return name


def _mlp(sequential: nn.Sequential) -> list[Dense]:
    """[Linear, activation, Linear, activation, ...] (toolkit.torch.models.mlp) -> dense layers."""
    modules, layers = list(sequential), []
    if len(modules) % 2:
        raise ExportError(
            f"model: an MLP of {len(modules)} modules cannot be exported; expected Linear/activation pairs"
        )
    for linear, act in zip(modules[::2], modules[1::2]):
        if not isinstance(linear, nn.Linear):
            raise ExportError(f"model: {type(linear).__name__} cannot be exported; expected nn.Linear")
        layers.append(Dense(_numpy(linear.weight), _numpy(linear.bias), _activation_name(act)))
    return layers


def _recurrent(rnn: nn.RNNBase) -> Recurrent:
    kind = {nn.RNN: "RNN", nn.GRU: "GRU", nn.LSTM: "LSTM"}[type(rnn)]
    if (
        kind == "RNN"
        and rnn.nonlinearity != "tanh"
        or rnn.bidirectional
        or not rnn.bias
        or getattr(rnn, "proj_size", 0)
    ):
        raise ExportError(f"rnn: {rnn} cannot be exported; expected a unidirectional tanh RNN, GRU or LSTM with biases")
    layers = [
        RecurrentLayer(
            *(_numpy(getattr(rnn, f"{name}_l{index}")) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        )
        for index in range(rnn.num_layers)
    ]
    return Recurrent(kind, rnn.hidden_size, layers)


def _normalizer(scaler) -> Normalizer | None:
    if scaler is None:
        return None
    variance = scaler.running_variance.detach().cpu().double()
    return Normalizer(
        mean=_numpy(scaler.running_mean),
        std=_numpy((variance + scaler.epsilon).sqrt()),
        clip=float(scaler.clip_threshold),
        count=float(scaler.current_count),
        epsilon=float(scaler.epsilon),
    )


def _blocks(trunk: nn.Module) -> list[Block]:
    """The trunk's blocks: a BlockNetwork's, with the input expressions of the plan it was built from; a plain MLP
    (nn.Sequential) is the one block fed the observations."""
    if isinstance(trunk, BlockNetwork):
        return [
            Block(block.name, block.input, _mlp(sequential))
            for block, sequential in zip(trunk.plan.blocks, trunk.blocks)
        ]
    if isinstance(trunk, nn.Sequential):
        return [Block("net", TRUNK_INPUT, _mlp(trunk))]
    raise ExportError(f"model: a {type(trunk).__name__} trunk cannot be exported; expected an MLP or a BlockNetwork")


def policy_graph(agent) -> PolicyGraph:
    policy = agent.policy
    if isinstance(policy, RecurrentModel):
        rnn = _recurrent(policy.trunk.rnn) if policy.trunk.rnn is not None else None
        blocks = _blocks(policy.trunk.mlp)
    else:
        rnn, blocks = None, _blocks(policy.trunk)
    head, bounds = policy.head, None
    if isinstance(head, GaussianHead):
        out, kind = Dense(_numpy(head.mean.weight), _numpy(head.mean.bias)), "continuous"
        if head.clamps_mean:
            bounds = (_numpy(head.mean_low), _numpy(head.mean_high))
    elif isinstance(head, CategoricalHead):
        out, kind = Dense(_numpy(head.logits.weight), _numpy(head.logits.bias)), "discrete"
    else:
        raise ExportError(
            f"model: a {type(head).__name__} head cannot be exported; expected GaussianHead or CategoricalHead"
        )
    return PolicyGraph(
        observation_size=int(np.prod(agent.observation_space.shape)),
        normalizer=_normalizer(agent._observation_preprocessor),
        rnn=rnn,
        blocks=blocks,
        head=out,
        action_kind=kind,
        output=head.output,
        mean_bounds=bounds,
        gelu="gelu",
        info={"framework": "torch", "agent": type(agent).__name__},
    )


class DeterministicPolicy(nn.Module):
    """Raw observations (and recurrent states) -> the policy's deterministic action (and next states), the
    observation normaliser inside: what the agent does in evaluation, as one module."""

    def __init__(self, agent):
        super().__init__()
        self.normalizer = copy.deepcopy(agent._observation_preprocessor)
        self.policy = copy.deepcopy(agent.policy)
        self.head = self.policy.head

    def forward(self, obs: torch.Tensor, *states: torch.Tensor):
        x = obs.to(torch.float32)
        if self.normalizer is not None:
            x = self.normalizer(x)
        if not isinstance(self.policy, RecurrentModel):
            return self.head.mode(self.policy(x))
        params, _, next_states = self.policy(x, tuple(states))  # a policy without an rnn section has no states
        return (self.head.mode(params), *next_states) if next_states else self.head.mode(params)


def write_torchscript(agent, graph: PolicyGraph, path: str) -> str:
    """Trace the agent's policy (on the CPU, in evaluation mode) and save it with torch.jit.save."""
    module = DeterministicPolicy(agent).cpu().eval()
    example = [torch.zeros(2, graph.observation_size)]
    if graph.rnn is not None:
        example += [torch.zeros(graph.rnn.num_layers, 2, graph.rnn.hidden_size) for _ in graph.rnn.state_names]
    # torch 2.13 marks TorchScript deprecated (for torch.export); policy.pt is still what libtorch and Isaac-style
    # deployment code load, and the trace of nn.RNN's shape checks is exact for the fixed input size
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(module, tuple(example), check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path
