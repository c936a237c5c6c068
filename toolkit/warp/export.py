"""A Warp PPO agent -> PolicyGraph (for ONNX; toolkit.export writes it, the agent's `policy_graph` calls this).
A Warp model is one flat float32 array of dense layers (toolkit.warp.nn: W (outputs, inputs) row-major, then b),
each read out at its offset; the output expression folded into the mean
layer (`scale * f(ACTIONS) + shift`) is written back out as an expression over ACTIONS."""

from __future__ import annotations

import numpy as np

from ..export.policy_graph import TRUNK_INPUT, Block, Dense, Normalizer, PolicyGraph
from ..model_grammar import ACTIVATIONS, parse_expression
from . import nn

_ACTIVATION_NAMES = {code: name or "identity" for name, code in reversed(nn.ACTIVATION_CODES.items())}


def _dense(layer: nn.Dense, params: np.ndarray, activation: int) -> Dense:
    weight = params[layer.w_off : layer.b_off].reshape(layer.n_out, layer.n_in)
    return Dense(weight.copy(), params[layer.b_off : layer.b_off + layer.n_out].copy(), _ACTIVATION_NAMES[activation])


def _output(layer: nn.Dense):
    """The mean layer's folded output expression, or None where it is the layer's result itself."""
    if layer.act == 0 and layer.scale == 1.0 and layer.shift == 0.0:
        return None
    base = "ACTIONS" if layer.act == 0 else f"{_ACTIVATION_NAMES[layer.act]}(ACTIONS)"
    return parse_expression(f"{layer.scale!r} * {base} + {layer.shift!r}", "output", ACTIVATIONS)


def _normalizer(agent) -> Normalizer | None:
    scaler = agent._observation_preprocessor
    if scaler is None:
        return None
    state = scaler.state_dict()
    return Normalizer.of_statistics(
        state["running_mean"], state["running_variance"], state["current_count"], scaler.epsilon, scaler.clip_threshold
    )


def policy_graph(agent) -> PolicyGraph:
    model = agent.policy
    params = model.params.numpy().astype(np.float32)
    layers = [_dense(layer, params, layer.act) for layer in model.trunk]
    head = _dense(model.mean_layer, params, 0)  # its activation and affine are the output expression
    # Warp's gelu is the exact (erf) one, as torch's
    return PolicyGraph(
        observation_size=model.observation_size,
        normalizer=_normalizer(agent),
        rnn=None,
        blocks=[Block("net", TRUNK_INPUT, layers)],
        head=head,
        action_kind="continuous",
        output=_output(model.mean_layer),
        gelu="gelu",
        info={"framework": "warp", "agent": type(agent).__name__},
    )
