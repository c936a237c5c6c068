"""The Runner YAML's keys as command-line flags for tyro: `--agent.learning_rate 1e-3`, `--models.policy.hiddens
[64,64]`, `--agent.experiment.checkpoint_interval 320`, `--trainer.compiled True`.

Every key of the configuration's schema (PPO_CFG, ExperimentCfg, ModelsSpec, MemorySpec, the trainer's config, and
skrl's older agent keys) becomes one flag whose value is YAML text (`[64,64]`, `1e-3`, `{epsilon: 1e-5}`, `""` for
null); the configuration's own validation then checks it against the key's type, so a wrong value is the same one
line as in a YAML file. A section key takes a whole mapping too (`--agent.experiment '{write_interval: 8}'`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Annotated, Any

import tyro
import yaml

from .model_spec import ModelsSpec
from .ppo_cfg import PPO_CFG
from .runner_cfg import LEGACY_AGENT_KEYS, MemorySpec
from .trainers.base import TrainerCfg

SCHEMA = {"agent": PPO_CFG, "models": ModelsSpec, "memory": MemorySpec, "trainer": TrainerCfg}
_YAML_NAMES = {"kind": "class"}  # dataclass field -> its key in the YAML
_EXTRA_KEYS = {"agent": ("class", *LEGACY_AGENT_KEYS), "trainer": ("class",)}
Overrides = dict[tuple[str, ...], Any]  # (section, key, ...) -> value


def _nested_dataclass(hint: Any) -> type | None:
    """The dataclass of a field's type, also behind `X | None`."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next((arg for arg in typing.get_args(hint) if arg is not type(None)), None)
    return hint if dataclasses.is_dataclass(hint) else None


def _keys(cls: type) -> dict[str, type | None]:
    """A dataclass's YAML keys -> the dataclass of a nested section (None for a value)."""
    hints = typing.get_type_hints(cls)
    return {_YAML_NAMES.get(f.name, f.name): _nested_dataclass(hints[f.name]) for f in dataclasses.fields(cls)}


def flag_paths() -> list[tuple[str, ...]]:
    """Every overridable key as a path: (section, key, ...), sections themselves included."""
    paths = []

    def visit(prefix: tuple[str, ...], cls: type) -> None:
        for key, nested in _keys(cls).items():
            paths.append((*prefix, key))
            if nested is not None:
                visit((*prefix, key), nested)

    for section, cls in SCHEMA.items():
        paths.extend((section, key) for key in _EXTRA_KEYS.get(section, ()))
        visit((section,), cls)
    return list(dict.fromkeys(paths))  # PPO_CFG keeps some older keys too


def _field_name(path: tuple[str, ...]) -> str:
    return "override__" + "__".join(path)


def with_override_flags(args_class: type) -> type:
    """A subclass of the launch script's dataclass with one `--section.key` flag (YAML text, default: unset) per
    overridable key, for tyro."""
    fields = [
        (
            _field_name(path),
            Annotated[
                str | None,
                tyro.conf.arg(name=".".join(path), metavar="YAML", help="(default: the agent configuration's)"),
            ],
            dataclasses.field(default=None),
        )
        for path in flag_paths()
    ]
    return dataclasses.make_dataclass(args_class.__name__, fields, bases=(args_class,))


def split_overrides(parsed: Any, args_class: type) -> tuple[Any, Overrides]:
    """tyro's result -> (the launch arguments as `args_class`, the overrides that were given, values parsed as YAML)."""
    overrides = {
        path: parse_value(getattr(parsed, _field_name(path)))
        for path in flag_paths()
        if getattr(parsed, _field_name(path)) is not None
    }
    names = [f.name for f in dataclasses.fields(args_class)]
    return args_class(**{name: getattr(parsed, name) for name in names}), overrides


def parse_value(text: str) -> Any:
    """A flag's YAML text -> its value ("" is null; 1e-3 is a float, which YAML 1.1 reads as a string)."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(text)
        except ValueError:
            return value
    return value


def unknown_flag(flag: str) -> str:
    """The one-line error for a flag tyro did not know: an unknown key of a section names the allowed keys."""
    path = tuple(flag.partition("=")[0].lstrip("-").replace("-", "_").split("."))
    if not flag.startswith("--") or path[0] not in SCHEMA or len(path) < 2:
        return (
            f"{flag}: unknown flag; see --help, or override a configuration key as --<{'|'.join(SCHEMA)}>.<key> <value>"
        )
    section, cls = path[0], SCHEMA[path[0]]
    for depth, key in enumerate(path[1:]):
        keys = _keys(cls)
        if key not in keys and not (depth == 0 and key in _EXTRA_KEYS.get(section, ())):
            return f"{section}.{key}: unknown key; allowed: {', '.join(keys)}"
        if keys.get(key) is None:
            return f"{flag}: {section}.{key} is not a section; give its whole value, e.g. --{section}.{key} '{{...}}'"
        section, cls = f"{section}.{key}", keys[key]
    return f"{flag}: unknown flag; see --help"


def apply_overrides(cfg: dict, overrides: Overrides) -> None:
    """Set each override's key in the Runner YAML's mapping `cfg` (sections made as needed)."""
    for path, value in overrides.items():
        node = cfg
        for key in path[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"--{'.'.join(path)}: {key} is not a section of the configuration")
        node[path[-1]] = value
