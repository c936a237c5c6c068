"""Dataclass configurations, validated at the edge: unknown keys and wrong types are one-line errors that name
the key, the value and what is allowed."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration key, value or type that is not allowed."""


def _matches(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any or annotation is typing.Callable or origin is typing.Callable:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is type or annotation is type:
        return isinstance(value, type)
    if origin is not None:
        return isinstance(value, origin)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def _describe(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "")
    return getattr(annotation, "__name__", text) if typing.get_origin(annotation) is None else text


def validate(obj: Any, section: str) -> None:
    """Check every field of the dataclass `obj` against its annotation."""
    hints = typing.get_type_hints(type(obj))
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if dataclasses.is_dataclass(value):
            validate(value, f"{section}.{field.name}")
        elif not _matches(value, hints[field.name]):
            raise ConfigError(
                f"{section}.{field.name}: {value!r} is not allowed; expected {_describe(hints[field.name])}"
            )


def from_dict(cls: type[T], data: dict | T | None, section: str) -> T:
    """Build the dataclass `cls` from a mapping, refusing unknown keys; nested dataclass fields take mappings."""
    if data is None:
        data = {}
    if isinstance(data, cls):
        validate(data, section)
        return data
    if not isinstance(data, dict):
        raise ConfigError(
            f"{section}: {type(data).__name__} is not allowed; expected a mapping of {cls.__name__} fields"
        )
    fields = {field.name: field for field in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"{section}.{key}: unknown key; allowed: {', '.join(fields)}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and not isinstance(value, hint):
            value = from_dict(hint, value, f"{section}.{key}")
        kwargs[key] = value
    obj = cls(**kwargs)
    validate(obj, section)
    return obj


def check(condition: bool, section: str, name: str, value: Any, allowed: str) -> None:
    """Raise ConfigError unless condition holds: for ranges that types cannot say."""
    if not condition:
        raise ConfigError(f"{section}.{name}: {value!r} is not allowed; {allowed}")
