"""Policy export: a trained agent's deterministic policy, observation normaliser included, as an ONNX file (every
agent: torch, JAX, Warp) and a TorchScript file (torch agents), with its metadata inside the ONNX file and beside it
as JSON.

    paths = toolkit.export.export_policy(agent, "runs/cartpole/<run>/exported", metadata={"task": ...})
    paths = agent.export("exported/")           # the same, from the agent

The ONNX graph is written from a framework-neutral description (PolicyGraph) with ONNX's standard operators, for the
torch, the JAX and the Warp agents alike (each agent describes itself: `agent.policy_graph()`, built in its
framework's package, toolkit/<framework>/export.py; nothing here imports a framework), so every framework's files of
one task have the same inputs, outputs and metadata. Inputs: `obs` (batch, obs_dim) float32, raw observations;
recurrent policies also `h_in` (and `c_in` for an LSTM) of shape (num_layers, batch, hidden). Outputs: `actions`
(batch, action_dim), the Gaussian's mean (or the most likely discrete action), and `h_out` (`c_out`), the states to
feed back at the next step (zeros at an episode's start).
"""

from __future__ import annotations

import json
import os
import time

from ..checkpoint import atomic_write_bytes
from ..registry import entry_of
from .policy_graph import ExportError, PolicyGraph

FORMATS = ("onnx", "torchscript")
METADATA_FORMAT = "simtrain.policy/1"
FILE_NAMES = {"onnx": "policy.onnx", "torchscript": "policy.pt", "json": "policy.json"}


def agent_framework(agent) -> str:
    """The framework of a registered agent (toolkit.registry), else of the toolkit package that defines it."""
    entry = entry_of(agent)
    if entry is not None:
        return entry.framework
    module = type(agent).__module__
    if module.startswith("toolkit.torch"):
        return "torch"
    if module.startswith("toolkit.jax"):
        return "jax"
    if module.startswith("toolkit.warp"):
        return "warp"
    raise ExportError(
        f"agent: a {type(agent).__name__} ({module}) cannot be exported; expected a toolkit.torch, toolkit.jax "
        "or toolkit.warp agent"
    )


def checked_formats(formats, framework: str | None) -> list[str]:
    """The formats to write (None: every one `framework` has), or a one-line ExportError."""
    chosen = list(formats) if formats else (["onnx", "torchscript"] if framework == "torch" else ["onnx"])
    for name in chosen:
        if name not in FORMATS:
            raise ExportError(f"--format: {name!r} is not allowed; choose from {', '.join(FORMATS)}")
    if "torchscript" in chosen and framework not in (None, "torch"):
        raise ExportError(f"--format: torchscript is for torch agents; this run's agent is {framework} (export onnx)")
    return chosen


def policy_graph(agent) -> PolicyGraph:
    """The agent's deterministic policy as a PolicyGraph: its own `policy_graph()`."""
    agent_framework(agent)  # an ExportError for what is no agent of ours
    return agent.policy_graph()


def simtrain_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("simtrain")
    except PackageNotFoundError:
        return "unknown"


def policy_metadata(graph: PolicyGraph) -> dict:
    """What the exported file itself is: its inputs and outputs, the recurrent state, the normaliser's statistics."""
    norm = graph.normalizer
    return {
        "format": METADATA_FORMAT,
        "simtrain_version": simtrain_version(),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "framework": graph.info.get("framework"),
        "agent": graph.info.get("agent"),
        "io": graph.io(),
        "recurrent": None
        if graph.rnn is None
        else {
            "type": graph.rnn.type,
            "num_layers": graph.rnn.num_layers,
            "hidden_size": graph.rnn.hidden_size,
            "states": graph.rnn.state_names,
            "reset": "feed zeros at the first step of an episode; afterwards feed back the previous step's <state>_out",
        },
        "preprocessor": None
        if norm is None
        else {
            "type": "RunningStandardScaler",
            "baked_in": True,
            "mean": norm.mean.tolist(),
            "std": norm.std.tolist(),
            "clip": norm.clip,
            "count": norm.count,
            "epsilon": norm.epsilon,
            "formula": "clip((obs - mean) / std, -clip, clip), std = sqrt(variance + epsilon)",
        },
        "action_output": {
            "kind": graph.action_kind,
            "size": graph.action_size,
            "is": "the policy's mean" if graph.action_kind == "continuous" else "the most likely action index",
        },
    }


def export_policy(
    agent, directory: str, *, formats: tuple[str, ...] | list[str] | None = None, metadata: dict | None = None
) -> dict[str, str]:
    """Write `directory`/policy.onnx (+ policy.pt for torch agents) and policy.json. `formats`: None for every
    format the agent's framework has, or a subset of FORMATS. `metadata` (e.g. the task's, see
    envs.task_metadata) is merged over the agent's own. Returns {format: path}."""
    chosen = checked_formats(formats, agent_framework(agent))
    graph = policy_graph(agent)
    full = {**policy_metadata(graph), **(metadata or {}), "files": {name: FILE_NAMES[name] for name in chosen}}
    os.makedirs(directory, exist_ok=True)
    paths = {}
    if "onnx" in chosen:
        from .onnx_writer import write

        paths["onnx"] = write(graph, os.path.join(directory, FILE_NAMES["onnx"]), full)
    if "torchscript" in chosen:
        paths["torchscript"] = agent.write_torchscript(graph, os.path.join(directory, FILE_NAMES["torchscript"]))
    paths["json"] = os.path.join(directory, FILE_NAMES["json"])
    atomic_write_bytes(paths["json"], (json.dumps(full, indent=2) + "\n").encode())
    return paths


__all__ = [
    "FORMATS",
    "ExportError",
    "PolicyGraph",
    "checked_formats",
    "export_policy",
    "policy_graph",
    "policy_metadata",
]
