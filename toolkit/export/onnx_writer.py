"""PolicyGraph -> an ONNX model: raw observations in, the deterministic action out, the observation normaliser
and (for recurrent policies) the hidden state as explicit inputs and outputs.

The model's input and output expressions (concatenate([...]), slices, + - * /, activations) are the plan's own
`Expr`s, evaluated by Expr.compile on `_Value`s that emit ONNX nodes instead of computing: the same tree and the same
evaluator the torch and JAX models use.

The graph uses ONNX's standard operators only (Gemm, the RNN/GRU/LSTM operators, elementwise activations), at
opset 17 and IR version 8, so that any onnxruntime from 1.13 on, and most other ONNX runtimes, run it.
"""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..model_grammar import ACTIVATIONS as EXPRESSION_FUNCTIONS
from .policy_graph import Dense, ExportError, PolicyGraph, Recurrent

OPSET = 17
IR_VERSION = 8
# torch's gate blocks, in the order ONNX's operators expect them
_GATE_ORDER = {
    "RNN": [0],
    "GRU": [1, 0, 2],
    "LSTM": [0, 3, 1, 2],
}  # GRU: (r,z,n) -> (z,r,h); LSTM: (i,f,g,o) -> (i,o,f,c)


class _Builder:
    def __init__(self):
        self.nodes, self.initializers, self.count = [], [], 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value, hint: str, dtype=np.float32) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, outputs: int | list[str] = 1, **attrs):
        names = outputs if isinstance(outputs, list) else [self.name(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=self.name(f"{op_type}_node"), **attrs))
        return names[0] if len(names) == 1 else names


def _activation(b: _Builder, x: str, name: str) -> str:
    if name == "identity":
        return x
    simple = {
        "relu": ("Relu", {}),
        "elu": ("Elu", {"alpha": 1.0}),
        "tanh": ("Tanh", {}),
        "sigmoid": ("Sigmoid", {}),
        "leaky_relu": ("LeakyRelu", {"alpha": 0.01}),
        "selu": ("Selu", {}),
        "softplus": ("Softplus", {}),
        "softsign": ("Softsign", {}),
        "softmax": ("Softmax", {"axis": -1}),
    }
    if name in simple:
        op_type, attrs = simple[name]
        return b.op(op_type, [x], **attrs)
    if name == "silu":
        return b.op("Mul", [x, b.op("Sigmoid", [x])])
    half_x = b.op("Mul", [x, b.const(0.5, "half")])
    if name == "gelu":  # torch's default: exact, with the error function
        inner = b.op("Erf", [b.op("Div", [x, b.const(math.sqrt(2.0), "sqrt2")])])
    else:  # gelu_tanh, JAX's default: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = b.op("Mul", [b.op("Mul", [x, x]), x])
        poly = b.op("Add", [x, b.op("Mul", [cube, b.const(0.044715, "c")])])
        inner = b.op("Tanh", [b.op("Mul", [poly, b.const(math.sqrt(2.0 / math.pi), "k")])])
    return b.op("Mul", [half_x, b.op("Add", [inner, b.const(1.0, "one")])])


def _dense(b: _Builder, x: str, layer: Dense, hint: str) -> str:
    y = b.op("Gemm", [x, b.const(layer.weight, f"{hint}_weight"), b.const(layer.bias, f"{hint}_bias")], transB=1)
    return _activation(b, y, layer.activation)


_INT64_MAX = np.iinfo(np.int64).max


class _Value:
    """A tensor of the graph being written, of known rank: arithmetic, indexing and calls on it add nodes, so that
    an Expr compiled over _Values writes the expression into the graph."""

    def __init__(self, b: _Builder, name: str, rank: int = 2):
        self.b, self.name, self.rank = b, name, rank

    def _binary(self, op_type: str, other, reverse: bool = False) -> "_Value":
        if isinstance(other, _Value):
            operand, rank = other.name, max(self.rank, other.rank)
        else:
            operand, rank = self.b.const(float(other), "scalar"), self.rank
        inputs = [operand, self.name] if reverse else [self.name, operand]
        return _Value(self.b, self.b.op(op_type, inputs), rank)

    def __add__(self, other):
        return self._binary("Add", other)

    def __radd__(self, other):
        return self._binary("Add", other, True)

    def __sub__(self, other):
        return self._binary("Sub", other)

    def __rsub__(self, other):
        return self._binary("Sub", other, True)

    def __mul__(self, other):
        return self._binary("Mul", other)

    def __rmul__(self, other):
        return self._binary("Mul", other, True)

    def __truediv__(self, other):
        return self._binary("Div", other)

    def __rtruediv__(self, other):
        return self._binary("Div", other, True)

    def __neg__(self):
        return _Value(self.b, self.b.op("Neg", [self.name]), self.rank)

    def __getitem__(self, key) -> "_Value":
        """numpy's basic indexing (ints, slices, one `...`): the slices in one Slice node, then a Gather per int."""
        key = list(key) if isinstance(key, tuple) else [key]
        if Ellipsis in key:
            at = key.index(Ellipsis)
            key[at : at + 1] = [slice(None)] * (self.rank - len(key) + 1)
        key += [slice(None)] * (self.rank - len(key))
        starts, ends, axes, steps = [], [], [], []
        for axis, part in enumerate(key):
            if isinstance(part, slice) and part != slice(None):
                starts.append(0 if part.start is None else part.start)  # steps are positive (model_grammar)
                ends.append(_INT64_MAX if part.stop is None else part.stop)
                axes.append(axis)
                steps.append(1 if part.step is None else part.step)
        name = self.name
        if axes:
            name = self.b.op(
                "Slice",
                [
                    name,
                    *(
                        self.b.const(values, label, np.int64)
                        for values, label in ((starts, "starts"), (ends, "ends"), (axes, "axes"), (steps, "steps"))
                    ),
                ],
            )
        integers = [(axis, part) for axis, part in enumerate(key) if not isinstance(part, slice)]
        for axis, index in reversed(integers):
            name = self.b.op("Gather", [name, self.b.const(index, "index", np.int64)], axis=axis)
        return _Value(self.b, name, self.rank - len(integers))


def _expression(b: _Builder, expr, env: dict[str, _Value], gelu: str) -> _Value:
    """An input or output Expr (toolkit.model_grammar) over `env`, written into the graph."""
    functions = {
        name: (
            lambda value, name=name: _Value(
                b, _activation(b, value.name, gelu if name == "gelu" else name or "identity"), value.rank
            )
        )
        for name in EXPRESSION_FUNCTIONS
    }
    concatenate = lambda values: _Value(b, b.op("Concat", [value.name for value in values], axis=-1), values[0].rank)  # noqa: E731
    result = expr.compile(functions, concatenate)(env)
    if not isinstance(result, _Value):
        raise ExportError(f"expression: {expr.source!r} cannot be exported; it does not depend on the network's inputs")
    return result


def _gates(weight: np.ndarray, order: list[int], hidden: int) -> np.ndarray:
    return np.concatenate([weight[index * hidden : (index + 1) * hidden] for index in order], axis=0)


def _recurrent(b: _Builder, x: str, rnn: Recurrent) -> tuple[str, dict[str, str]]:
    """x (batch, inputs) -> (features (batch, hidden), {state name: (num_layers, batch, hidden) output})."""
    order, hidden = _GATE_ORDER[rnn.type], rnn.hidden_size
    sequence = b.op("Unsqueeze", [x, b.const([0], "axis0", np.int64)])  # one time step: (1, batch, inputs)
    finals: dict[str, list[str]] = {name: [] for name in rnn.state_names}
    # each layer's initial state, (1, batch, hidden): one Split per state input (onnxruntime 1.20's optimizer fuses
    # several Slices of one input into a Split under a fixed node name, which breaks with two such inputs)
    initials = {
        name: [f"{name}_in"] if rnn.num_layers == 1 else b.op("Split", [f"{name}_in"], outputs=rnn.num_layers, axis=0)
        for name in rnn.state_names
    }
    for index, layer in enumerate(rnn.layers):
        weights = [
            b.const(_gates(w, order, hidden)[None], f"rnn{index}_{label}")
            for w, label in ((layer.weight_ih, "W"), (layer.weight_hh, "R"))
        ]
        bias = b.const(
            np.concatenate([_gates(layer.bias_ih, order, hidden), _gates(layer.bias_hh, order, hidden)])[None],
            f"rnn{index}_B",
        )
        initial = [initials[name][index] for name in rnn.state_names]
        attrs = {"hidden_size": hidden}
        if rnn.type == "GRU":
            attrs["linear_before_reset"] = 1  # torch's GRU applies the reset gate after the hidden projection
        outputs = b.op(rnn.type, [sequence, *weights, bias, "", *initial], outputs=1 + len(rnn.state_names), **attrs)
        for name, final in zip(rnn.state_names, outputs[1:]):
            finals[name].append(final)
        sequence = outputs[1]  # Y_h (1, batch, hidden): the next layer's one-step input
    state_outputs = {}
    for name, layers in finals.items():
        state_outputs[name] = (
            b.op("Concat", layers, outputs=[f"{name}_out"], axis=0)
            if len(layers) > 1
            else b.op("Identity", layers, outputs=[f"{name}_out"])
        )
    features = b.op("Squeeze", [sequence, b.const([0], "axis0", np.int64)])
    return features, state_outputs


def _value_info(name: str, shape: list, elem_type=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem_type, [dim if isinstance(dim, int) else "batch" for dim in shape])


def build_model(graph: PolicyGraph, metadata: dict | None = None) -> onnx.ModelProto:
    """The ONNX model of `graph`, with `metadata` as metadata_props (each top-level key, its value as JSON)."""
    b = _Builder()
    x = "obs"
    if graph.normalizer is not None:
        norm = graph.normalizer
        x = b.op("Sub", [x, b.const(norm.mean, "obs_mean")])
        x = b.op("Div", [x, b.const(norm.std, "obs_std")])
        x = b.op("Clip", [x, b.const(-norm.clip, "clip_low"), b.const(norm.clip, "clip_high")])
    if graph.rnn is not None:
        x, _ = _recurrent(b, x, graph.rnn)
    # the blocks, as the models call them (STATES are the observations: README, "Bring your skrl YAML")
    env = {"OBSERVATIONS": _Value(b, x), "STATES": _Value(b, x)}
    for block in graph.blocks:
        x = _expression(b, block.input, env, graph.gelu).name
        for index, layer in enumerate(block.layers):
            x = _dense(b, x, layer, f"{block.name}{index}")
        env[block.name] = _Value(b, x)
    x = _dense(b, x, graph.head, "head")
    if graph.output is not None:
        x = _expression(b, graph.output, {"ACTIONS": _Value(b, x)}, graph.gelu).name
    if graph.mean_bounds is not None:
        low, high = graph.mean_bounds
        x = b.op("Min", [b.op("Max", [x, b.const(low, "mean_low")]), b.const(high, "mean_high")])
    if graph.action_kind == "discrete":
        b.op("ArgMax", [x], outputs=["actions"], axis=-1, keepdims=0)
    else:
        b.op("Identity", [x], outputs=["actions"])
    io = graph.io()
    inputs = [_value_info(name, shape) for name, shape in io["inputs"].items()]
    outputs = [
        _value_info(
            name,
            shape,
            TensorProto.FLOAT if name != "actions" or graph.action_kind == "continuous" else TensorProto.INT64,
        )
        for name, shape in io["outputs"].items()
    ]
    onnx_graph = helper.make_graph(b.nodes, "simtrain_policy", inputs, outputs, b.initializers)
    model = helper.make_model(onnx_graph, producer_name="simtrain", opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.checker.check_model(model)
    return model


def write(graph: PolicyGraph, path: str, metadata: dict | None = None) -> str:
    from ..checkpoint import atomic_write_bytes

    atomic_write_bytes(path, build_model(graph, metadata).SerializeToString())
    return path
