"""A trained policy as plain numpy arrays: what both frameworks' agents reduce to before they are written out.

The torch and JAX agents build the same networks from one NetworkPlan (toolkit/model_grammar.py): an optional RNN,
GRU or LSTM, then the plan's blocks (each fed by its `input` expression, made of dense layers), an output layer
and the plan's `output` expression, the mean clamped to the action bounds for clip_mean_actions, behind the same
observation preprocessor. So one description holds either, and one ONNX writer turns it into a file: the two
frameworks' exports of one task have the same inputs, outputs and metadata by construction. The expressions are
the plan's own `Expr` objects (the writer evaluates them as the models do, with ONNX operators), not a copy.

Weights are kept in torch's layout: a dense layer's `weight` is (outputs, inputs); a recurrent layer's weights are
torch's `weight_ih` (gates * hidden, inputs) and `weight_hh` (gates * hidden, hidden) with torch's gate order
(GRU: reset, update, new; LSTM: input, forget, cell, output) and both biases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..model_grammar import INPUT_TOKENS, Expr, parse_expression

# the activations both frameworks' MLPs offer (toolkit.torch.models, toolkit.jax.models)
ACTIVATIONS = (
    "identity",
    "relu",
    "elu",
    "tanh",
    "sigmoid",
    "leaky_relu",
    "selu",
    "softplus",
    "gelu",
    "gelu_tanh",
    "silu",
    "softsign",
    "softmax",
)
# a plain MLP trunk (one block fed the observations, as the older grammar gives) reads the trunk's input
TRUNK_INPUT = parse_expression("OBSERVATIONS", "network[0].input", ("concatenate",))
RNN_TYPES = ("RNN", "GRU", "LSTM")


class ExportError(ValueError):
    """A policy that cannot be exported, or an export asked for in a way that is not allowed (one line)."""


@dataclass
class Dense:
    weight: np.ndarray  # (outputs, inputs)
    bias: np.ndarray  # (outputs,)
    activation: str = "identity"  # one of ACTIVATIONS (gelu_tanh: JAX's default, tanh-approximated GELU)


@dataclass
class Block:
    """One of the plan's blocks: its input expression over OBSERVATIONS / STATES (the normalised observations, or
    the RNN's output) and the earlier blocks' names, and its dense layers (none: the block passes its input on)."""

    name: str
    input: Expr
    layers: list[Dense]


@dataclass
class RecurrentLayer:
    weight_ih: np.ndarray  # (gates * hidden, inputs)
    weight_hh: np.ndarray  # (gates * hidden, hidden)
    bias_ih: np.ndarray  # (gates * hidden,)
    bias_hh: np.ndarray  # (gates * hidden,)


@dataclass
class Recurrent:
    type: str  # RNN (tanh), GRU or LSTM
    hidden_size: int
    layers: list[RecurrentLayer]

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def state_names(self) -> list[str]:
        """h, and c for an LSTM: the exported inputs are <name>_in, the outputs <name>_out."""
        return ["h", "c"] if self.type == "LSTM" else ["h"]


@dataclass
class Normalizer:
    """(obs - mean) / std, clipped to +-clip: the running standard scaler, as the agent applies it when acting."""

    mean: np.ndarray
    std: np.ndarray  # sqrt(variance + epsilon)
    clip: float
    count: float  # the samples the statistics were computed from
    epsilon: float

    @classmethod
    def of_statistics(cls, mean, variance, count, epsilon: float, clip: float) -> Normalizer:
        """From a running standard scaler's statistics; std is computed in the statistics' own precision (float32
        in JAX, float64 in Warp), as the agent computes it."""
        variance = np.asarray(variance).reshape(-1)
        return cls(
            mean=np.asarray(mean, dtype=np.float32).reshape(-1),
            std=np.sqrt(variance + variance.dtype.type(epsilon)).astype(np.float32),
            clip=float(clip),
            count=float(np.asarray(count).reshape(-1)[0]),
            epsilon=float(epsilon),
        )


@dataclass
class PolicyGraph:
    observation_size: int
    normalizer: Normalizer | None
    rnn: Recurrent | None
    blocks: list[Block]  # called in order; the last one's output feeds the head
    head: Dense  # the output layer (no activation): the Gaussian's mean layer, or the logits
    action_kind: str  # "continuous": the Gaussian's mean; "discrete": the index of the largest logit
    output: Expr | None = None  # the plan's output expression over ACTIONS (tanh(ACTIONS), ...), applied to the head
    mean_bounds: tuple[np.ndarray, np.ndarray] | None = None  # clip_mean_actions: the mean clamped to (low, high)
    gelu: str = "gelu"  # what `gelu` in an expression computes in the agent's framework (JAX: gelu_tanh)
    info: dict = field(default_factory=dict)  # agent, framework: for the metadata

    def __post_init__(self):
        if self.action_kind not in ("continuous", "discrete"):
            raise ExportError(f"action_kind: {self.action_kind!r} is not allowed; choose continuous or discrete")
        for layer in [*(layer for block in self.blocks for layer in block.layers), self.head]:
            if layer.activation not in ACTIVATIONS:
                raise ExportError(
                    f"activation: {layer.activation!r} cannot be exported; allowed: {', '.join(ACTIVATIONS)}"
                )
        names = list(INPUT_TOKENS)
        for block in self.blocks:
            unknown = sorted(block.input.names() - set(names))
            if unknown:
                raise ExportError(
                    f"network.{block.name}.input: {block.input.source!r} reads {unknown[0]}; "
                    f"allowed: {', '.join(names)}"
                )
            names.append(block.name)
        if self.output is not None and not self.output.names() <= {"ACTIONS"}:
            raise ExportError(
                f"output: {self.output.source!r} cannot be exported; a policy's output is built on ACTIONS"
            )
        if self.rnn is not None and self.rnn.type not in RNN_TYPES:
            raise ExportError(f"rnn.type: {self.rnn.type!r} cannot be exported; allowed: {', '.join(RNN_TYPES)}")

    @property
    def action_size(self) -> int:
        return int(self.head.weight.shape[0])

    def io(self) -> dict:
        """The exported file's inputs and outputs: name -> shape ("batch" is the dynamic size)."""
        inputs = {"obs": ["batch", self.observation_size]}
        outputs = {"actions": ["batch", self.action_size] if self.action_kind == "continuous" else ["batch"]}
        if self.rnn is not None:
            shape = [self.rnn.num_layers, "batch", self.rnn.hidden_size]
            inputs.update({f"{name}_in": shape for name in self.rnn.state_names})
            outputs.update({f"{name}_out": shape for name in self.rnn.state_names})
        return {"inputs": inputs, "outputs": outputs}
