"""The Runner's YAML (skrl-runner.txt): parsed, translated and validated, independent of the framework.

Files of both skrl vintages load: older key names (`lambda`, `state_preprocessor` for observations when no
`observation_preprocessor` is given: beside one it is skrl 2.x's preprocessor of the env's states,
`clip_predicted_values`, `rewards_shaper_scale`) are translated to PPO_CFG's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from .config import ConfigError, check, from_dict
from .model_spec import NEW_GRAMMAR_KEYS, OLD_GRAMMAR_KEYS, ModelsSpec, parse_models
from .ppo_cfg import PPO_CFG

SECTIONS = ("seed", "models", "memory", "agent", "trainer")
TRAINER_CLASSES = ("SequentialTrainer",)
# skrl's older agent keys, translated to PPO_CFG's (see _translate_agent)
LEGACY_AGENT_KEYS = (
    "lambda",
    "state_preprocessor",
    "state_preprocessor_kwargs",
    "clip_predicted_values",
    "rewards_shaper_scale",
)
_PREPROCESSOR_KEYS = ("observation_preprocessor", "state_preprocessor", "value_preprocessor")


@dataclass(frozen=True)
class RewardScale:
    """The rewards_shaper of `rewards_shaper_scale`: a class rather than a lambda, so that it can be written back."""

    scale: float

    def __call__(self, rewards, timestep: int, timesteps: int):
        return rewards * self.scale


@dataclass
class MemorySpec:
    kind: str = "RandomMemory"
    memory_size: int = -1  # -1: the agent's rollouts


@dataclass
class RunnerCfg:
    seed: int | None = None
    models: ModelsSpec = field(default_factory=ModelsSpec)
    memory: MemorySpec = field(default_factory=MemorySpec)
    agent_class: str = "PPO"
    agent: PPO_CFG = field(default_factory=PPO_CFG)
    trainer_class: str = "SequentialTrainer"
    trainer: dict = field(default_factory=dict)


def load_yaml(path: str) -> dict:
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file: {path} does not exist") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file: {path} is not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file: {path} holds {type(data).__name__}; expected a mapping with sections {', '.join(SECTIONS)}"
        )
    return data


def _pop_class(section: dict, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = section.pop("class", default)
    check(value in allowed, name, "class", value, f"choose one of {', '.join(allowed)}")
    return value


def _translate_agent(agent: dict) -> dict:
    """skrl's older runner keys -> PPO_CFG fields."""
    agent = dict(agent)
    if "lambda" in agent:
        agent["gae_lambda"] = agent.pop("lambda")
    if "state_preprocessor" in agent and "observation_preprocessor" not in agent:
        # older files call the observations "states" (with both keys, state_preprocessor is the critic's states')
        agent["observation_preprocessor"] = agent.pop("state_preprocessor")
        agent["observation_preprocessor_kwargs"] = agent.pop("state_preprocessor_kwargs", None)
    if not agent.pop("clip_predicted_values", True):
        agent["value_clip"] = 0.0
    scale = agent.pop("rewards_shaper_scale", None)
    if scale is not None and scale != 1.0:
        check(isinstance(scale, (int, float)), "agent", "rewards_shaper_scale", scale, "expected a number")
        agent["rewards_shaper"] = RewardScale(float(scale))
    for key in list(agent):
        if key.endswith("_kwargs") and agent[key] is None:
            agent[key] = {}
    if isinstance(agent.get("learning_rate"), list):
        agent["learning_rate"] = tuple(agent["learning_rate"])
    return agent


def parse_runner_cfg(data: dict, resolve_class: Callable[[str, str], Any]) -> RunnerCfg:
    """`resolve_class(key, name)` turns a class name of the agent section (preprocessor, scheduler) into the
    framework's class, and the agent's class ("agent", name) into its toolkit.registry entry, raising ConfigError
    for an unknown name (a Runner's `resolve_class`)."""
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown section; allowed: {', '.join(SECTIONS)}")
    for name in ("models", "agent", "trainer"):
        if not isinstance(data.get(name), dict):
            raise ConfigError(
                f"{name}: section is missing or not a mapping; the runner needs sections models, agent and trainer"
            )
    memory = dict(data.get("memory") or {})
    memory["kind"] = _pop_class(memory, "memory", ("RandomMemory",), "RandomMemory")
    agent = dict(data["agent"])
    agent_class = agent.pop("class", "PPO")
    check(isinstance(agent_class, str), "agent", "class", agent_class, "expected an agent's name or dotted class path")
    agent_entry = resolve_class("agent", agent_class)
    agent = _translate_agent(agent)
    for key in (*_PREPROCESSOR_KEYS, "learning_rate_scheduler"):
        if isinstance(agent.get(key), str):
            agent[key] = resolve_class(key, agent[key]) if agent[key] else None
    trainer = dict(data["trainer"])
    trainer_class = _pop_class(trainer, "trainer", TRAINER_CLASSES, "SequentialTrainer")
    seed = data.get("seed")
    check(seed is None or isinstance(seed, int), "seed", "value", seed, "expected an integer")
    models = parse_models(data["models"])
    for role in ("policy", "value"):
        rnn = getattr(models, role).rnn
        check(
            rnn is None or agent_entry.recurrent,
            "models",
            f"{role}.rnn",
            rnn and dataclasses.asdict(rnn),
            "recurrent models need agent class PPO_RNN (or another recurrent agent)",
        )
    return RunnerCfg(
        seed=seed,
        models=models,
        memory=from_dict(MemorySpec, memory, "memory"),
        agent_class=agent_class,
        agent=from_dict(PPO_CFG, agent, "agent").validate(),
        trainer_class=trainer_class,
        trainer=trainer,
    )


def resolved_yaml(cfg: RunnerCfg) -> dict:
    """Every setting of a parsed configuration, defaults included, in the Runner's YAML format (newer key names):
    what a run really used, and a file the Runner loads again."""
    from .trainers import SequentialTrainerCfg

    def plain(value):
        if isinstance(value, type):
            return value.__name__
        if isinstance(value, tuple):
            return [plain(item) for item in value]
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return value

    agent = {"class": cfg.agent_class}
    for item in dataclasses.fields(cfg.agent):
        value = getattr(cfg.agent, item.name)
        if item.name == "rewards_shaper":
            if isinstance(value, RewardScale):
                agent["rewards_shaper_scale"] = value.scale
            continue
        agent[item.name] = dataclasses.asdict(value) if item.name == "experiment" else plain(value)

    def model(spec) -> dict:
        data = dataclasses.asdict(spec)
        # the grammar the file used, alone: the two may not be mixed
        for key in OLD_GRAMMAR_KEYS if spec.network is not None else NEW_GRAMMAR_KEYS:
            data.pop(key)
        return {"class": data.pop("kind"), **data}

    return {
        "seed": cfg.seed,
        "models": {
            "separate": cfg.models.separate,
            "policy": model(cfg.models.policy),
            "value": model(cfg.models.value),
        },
        "memory": {"class": cfg.memory.kind, "memory_size": cfg.memory.memory_size},
        "agent": agent,
        "trainer": {
            "class": cfg.trainer_class,
            **dataclasses.asdict(from_dict(SequentialTrainerCfg, cfg.trainer, "trainer")),
        },
    }
