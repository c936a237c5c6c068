"""Where agents are found by name: one registration per agent class, made by the module that defines it.

A framework package (`toolkit.torch`, `toolkit.jax`, `toolkit.warp`) registers its agents when it is imported;
the Runner's YAML then names an agent by its registered name (`class: PPO`) or by its dotted class path
(`class: mypackage.agents.MyPPO`, whose module registers it on import), as skrl's Runner resolves classes.
Everything that needs to know about an agent class asks this registry: the Runner (how to build it and its models),
the trainer (whether it has a compiled training path) and the cluster (whether its update averages over ranks).

No framework is imported here: the entries hold the classes their own packages hand over.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from .config import ConfigError

# framework -> the package whose import registers its agents and whose `Runner` builds them
FRAMEWORK_PACKAGES = {"torch": "toolkit.torch", "jax": "toolkit.jax", "warp": "toolkit.warp"}
# agent framework -> the framework whose arrays the env hands it: the Warp agent reads the env's torch tensors
# (MuJoCo Warp's own arrays) as Warp views (wp.from_torch), without copies
ENV_FRAMEWORKS = {"warp": "torch"}


@dataclass(frozen=True)
class AgentEntry:
    """How to build one agent class and what the rest of the toolkit may rely on about it.

    name: the YAML's `agent: class:` value (skrl's names: PPO, PPO_RNN).
    framework: the package's framework (torch, jax, ...): a name is unique within one framework.
    agent_class: the class; it takes skrl's keyword arguments (models, memory, observation_space, state_space,
        action_space, device, cfg).
    build_models: (models_spec, env, device) -> the models dict the agent takes, for `env`'s spaces and world count.
    recurrent: its models may carry an `rnn` section (it takes recurrent models).
    averages_over_ranks: its update averages gradients and statistics over the ranks of a distributed run, so it
        may train on several processes.
    compiled: a class with the compiled rollout-and-update loop of these agents (toolkit.jax.compiled.CompiledTraining:
        `unsupported_reason(env, agents, scopes)`, `is_faster(env, agents)`, `(env, agents)` to build), or None.
    """

    name: str
    framework: str
    agent_class: type
    build_models: Callable[[Any, Any, Any], dict]
    recurrent: bool = False
    averages_over_ranks: bool = False
    compiled: type | None = None

    @property
    def class_path(self) -> str:
        return f"{self.agent_class.__module__}.{self.agent_class.__qualname__}"


_ENTRIES: dict[tuple[str, str], AgentEntry] = {}


def register_agent(entry: AgentEntry) -> AgentEntry:
    """Make `entry` findable by its name within its framework and by its class (a second registration of the same
    name replaces the first, so a module may be reloaded)."""
    _ENTRIES[(entry.framework, entry.name)] = entry
    return entry


def agent_names(framework: str) -> list[str]:
    """The registered agent names of one framework (importing its package registers them)."""
    _import_framework(framework)
    return [name for (kind, name) in _ENTRIES if kind == framework]


def find_agent(framework: str, name: str) -> AgentEntry:
    """The entry of a registered name (PPO) or dotted class path (toolkit.torch.ppo.PPO, mypackage.agents.MyPPO) of
    one framework; ConfigError naming the allowed values otherwise."""
    _import_framework(framework)
    if (framework, name) in _ENTRIES:
        return _ENTRIES[(framework, name)]
    if "." in name:
        module_name, _, class_name = name.rpartition(".")
        try:
            agent_class = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            agent_class = None
        entry = entry_of(agent_class) if agent_class is not None else None
        if entry is not None and entry.framework == framework:
            return entry
    raise ConfigError(
        f"agent.class: {name!r} is not allowed; choose one of {', '.join(agent_names(framework))} "
        f"(or the dotted class path of a registered {framework} agent)"
    )


def entry_of(agent_or_class: Any) -> AgentEntry | None:
    """The entry of an agent (or agent class), None when its class was never registered."""
    agent_class = agent_or_class if isinstance(agent_or_class, type) else type(agent_or_class)
    for entry in _ENTRIES.values():
        if entry.agent_class is agent_class:
            return entry
    return None


def env_framework(framework: str) -> str:
    """What envs.wrap_env is given for an agent of `framework`."""
    return ENV_FRAMEWORKS.get(framework, framework)


def runner_class(framework: str) -> type:
    """The framework's Runner (toolkit.torch.Runner, toolkit.jax.Runner, toolkit.warp.Runner), importing only that
    framework."""
    return getattr(_import_framework(framework), "Runner")


def _import_framework(framework: str):
    if framework not in FRAMEWORK_PACKAGES:
        raise ValueError(f"framework: {framework!r} is not allowed; choose one of {', '.join(FRAMEWORK_PACKAGES)}")
    return importlib.import_module(FRAMEWORK_PACKAGES[framework])
