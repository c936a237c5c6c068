"""A JAX PPO or PPO_RNN agent -> PolicyGraph (for ONNX; toolkit.export writes it, the agent's `policy_graph`
calls this). No torch here: the JAX networks are small known
structures (toolkit.jax.models, toolkit.jax.rnn_models) whose parameters map one to one onto ONNX's operators."""

from __future__ import annotations

import jax
import numpy as np

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
from . import models as jax_models
from .models import MLP, BlockNetwork, CategoricalHead, GaussianHead
from .rnn_models import RecurrentActorCritic


def _numpy(array) -> np.ndarray:
    return np.asarray(array, dtype=np.float32)


def _activation_name(function) -> str:
    if function is jax.nn.gelu:  # jax.nn.gelu's default is the tanh approximation
        return "gelu_tanh"
    for name, known in jax_models._ACTIVATIONS.items():
        if function is known:
            return name or "identity"
    raise ExportError(f"activation: {function} cannot be exported")


def _mlp(mlp, params: list) -> list[Dense]:
    return [
        Dense(_numpy(layer["w"]).T, _numpy(layer["b"]), _activation_name(act))
        for layer, act in zip(params, mlp.activations)
    ]


def _blocks(trunk, params) -> list[Block]:
    """The trunk's blocks: a BlockNetwork's (params keyed by block name), with the input expressions of the plan it
    was built from; a plain MLP is the one block fed the observations."""
    if isinstance(trunk, BlockNetwork):
        return [
            Block(block.name, block.input, _mlp(network, params[block.name]))
            for block, (_, _, network) in zip(trunk.plan.blocks, trunk.blocks)
        ]
    if isinstance(trunk, MLP):
        return [Block("net", TRUNK_INPUT, _mlp(trunk, params))]
    raise ExportError(f"model: a {type(trunk).__name__} trunk cannot be exported; expected an MLP or a BlockNetwork")


def _recurrent(layers, params: list) -> Recurrent:
    return Recurrent(
        layers.type,
        layers.hidden,
        [RecurrentLayer(_numpy(p["wi"]).T, _numpy(p["wh"]).T, _numpy(p["bi"]), _numpy(p["bh"])) for p in params],
    )


def _normalizer(agent) -> Normalizer | None:
    scaler = agent._obs_scaler
    if scaler is None:
        return None
    state = agent.preprocessor_states["observation"]
    return Normalizer.of_statistics(
        _numpy(state["mean"]), _numpy(state["variance"]), state["count"], scaler.epsilon, scaler.clip_threshold
    )


def policy_graph(agent) -> PolicyGraph:
    model, params = agent.model, agent.params
    trunk_params = params["policy_trunk"]
    if isinstance(model, RecurrentActorCritic):
        trunk = model.policy_trunk
        rnn = _recurrent(trunk.rnn, trunk_params["rnn"]) if trunk.rnn is not None else None
        blocks = _blocks(trunk.mlp, trunk_params["mlp"])
    else:
        rnn, blocks = None, _blocks(model.policy_trunk, trunk_params)
    head, bounds = model.head, None
    if isinstance(head, GaussianHead):
        mean = params["head"]["mean"]
        out, kind = Dense(_numpy(mean["w"]).T, _numpy(mean["b"])), "continuous"
        if head.mean_bounds is not None:
            bounds = tuple(_numpy(bound) for bound in head.mean_bounds)
    elif isinstance(head, CategoricalHead):
        logits = params["head"]["logits"]
        out, kind = Dense(_numpy(logits["w"]).T, _numpy(logits["b"])), "discrete"
    else:
        raise ExportError(
            f"model: a {type(head).__name__} head cannot be exported; expected GaussianHead or CategoricalHead"
        )
    # jax.nn.gelu, what `gelu` means in the models' expressions, is the tanh approximation
    return PolicyGraph(
        observation_size=int(np.prod(agent.observation_space.shape)),
        normalizer=_normalizer(agent),
        rnn=rnn,
        blocks=blocks,
        head=out,
        action_kind=kind,
        output=head.output,
        mean_bounds=bounds,
        gelu="gelu_tanh",
        info={"framework": "jax", "agent": type(agent).__name__},
    )
