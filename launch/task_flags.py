"""The chosen task's typed configuration (tasks/task_config.py) as `--env.*` flags of train.py, play.py and bench.py.

As mjlab's scripts do, the command line is read twice with tyro: first only the flags that name the task (`--task`,
or the run folder of `--resume` / `--run`, whose launch.yaml names it), then everything, with the script's
dataclass whose `env` field defaults to that task's configuration, so that `--help` shows the task's own fields and
defaults and `--env.max-episode-steps 200` is parsed, typed and checked by tyro. Bad values are one line.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import tyro

import tasks
from tasks import TaskConfig
from toolkit.cli import one_line_parse_errors
from toolkit.runner_cfg import load_yaml

LEGACY_PREFIXES = {"--randomization.": "--env.randomization."}  # train.py's older spelling, kept working


def with_legacy_flags(argv: list[str]) -> list[str]:
    """argv with older flag spellings in their current form (`--randomization.mass` is `--env.randomization.mass`)."""
    out = []
    for arg in argv:
        for old, new in LEGACY_PREFIXES.items():
            if arg.startswith(old):
                arg = new + arg[len(old) :]
        out.append(arg)
    return out


def chosen(argv: list[str], names: tuple[str, ...]) -> dict[str, str | None]:
    """The values of the flags `names` (e.g. task, resume) in argv, everything else left for the full parse."""
    fields = [(name, str | None, dataclasses.field(default=None)) for name in names]
    with one_line_parse_errors():
        parsed, _ = tyro.cli(
            dataclasses.make_dataclass("Chosen", fields), args=argv, add_help=False, return_unknown_args=True
        )
    return {name: getattr(parsed, name) for name in names}


def saved_env(launch: dict) -> dict:
    """A run's env configuration as its launch.yaml holds it (runs from before `env:` held only `randomization:`)."""
    if "env" in launch:
        return launch["env"] or {}
    return {"randomization": launch["randomization"]} if launch.get("randomization") is not None else {}


def run_spec(launch: dict):
    """The TaskSpec a run trained on, from its launch.yaml's task and env configuration."""
    return tasks.spec(launch["task"], tasks.config(launch["task"], saved_env(launch)))


def run_env(run_dir: str) -> tuple[str, TaskConfig] | None:
    """(task, env configuration) a run folder was trained with; None where it has no readable launch.yaml (the
    script then says what is wrong with the folder)."""
    path = os.path.join(run_dir, "launch.yaml")
    if not os.path.isfile(path):
        return None
    launch = load_yaml(path)
    if not isinstance(launch, dict) or "task" not in launch:
        return None
    return launch["task"], tasks.config(launch["task"], saved_env(launch))


def cli(args_class: type, default: Any, argv: list[str], description: str, return_unknown_args: bool = False):
    """tyro's parse of argv into `args_class`, starting from `default` (whose `env` is the task's configuration);
    every error one line (a ValueError), `env.`'s nested ones named by their flag path."""
    env = getattr(default, "env", None)
    try:
        with one_line_parse_errors():
            return tyro.cli(
                args_class,
                default=default,
                args=argv,
                description=description,
                return_unknown_args=return_unknown_args,
            )
    except ValueError as error:
        raise ValueError(_named(str(error), env)) from None


def _named(message: str, env: TaskConfig | None) -> str:
    """A nested configuration's own message ("commands.vx: ...") named by its place in the flags ("env.commands.vx")."""
    head = message.split(":", 1)[0].split(".", 1)[0]
    if env is not None and head in {field.name for field in dataclasses.fields(env)}:
        return "env." + message
    return message


def env_flags(config: TaskConfig, base: TaskConfig) -> list[list[str]]:
    """The `--env.*` flags, each with its values, that turn `base` into `config` (to hand a configuration to a child
    process, or to name what a resume refuses)."""
    flags: list[list[str]] = []

    def visit(prefix: str, now: Any, was: Any) -> None:
        if now == was:
            return
        if dataclasses.is_dataclass(now) and dataclasses.is_dataclass(was) and type(now) is type(was):
            for field in dataclasses.fields(now):
                visit(f"{prefix}.{field.name}", getattr(now, field.name), getattr(was, field.name))
            return
        if isinstance(now, dict) and isinstance(was, dict):
            for key in now:
                visit(f"{prefix}.{key}", now[key], was.get(key))
            return
        flag = "--" + prefix.replace("_", "-")
        if isinstance(now, bool):
            head, _, last = flag.rpartition(".")
            flags.append([flag if now else f"{head}.no-{last}"])
        elif isinstance(now, (tuple, list)):
            flags.append([flag, *map(str, _flattened(now))])
        else:
            flags.append([flag, str(now)])

    visit("env", config, base)
    return flags


def _flattened(values) -> list:
    """A tuple's values as tyro reads them from a command line: nested tuples one after another (`--env.terrain.
    proportions flat 0.5 boxes 0.5`)."""
    return [leaf for item in values for leaf in (_flattened(item) if isinstance(item, (tuple, list)) else [item])]


def unknown_env_flag(flag: str, env: TaskConfig | None) -> str | None:
    """The one-line error for an unknown `--env.*` flag: the allowed keys where it is; None for other flags."""
    path = flag.partition("=")[0].lstrip("-").replace("-", "_").split(".")
    if path[0] != "env":
        return None
    if env is None:
        return f"{flag}: unknown flag; --env.* tunes one task's configuration (give one --task, not all)"
    node: Any = env
    for depth, key in enumerate(path[1:], start=1):
        if dataclasses.is_dataclass(node):
            allowed = [field.name for field in dataclasses.fields(node)]
        elif isinstance(node, dict):
            allowed = list(node)
        else:
            return f"{flag}: {'.'.join(path[:depth])} is not a section; see --help"
        if key not in allowed:
            return f"{'.'.join(path[: depth + 1])}: unknown key; allowed: {', '.join(allowed)}"
        node = getattr(node, key) if dataclasses.is_dataclass(node) else node[key]
    return f"{flag}: unknown flag; see --help"
