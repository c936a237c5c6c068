"""A run's folder: runs/<task>/<time>_<name>/ with its resolved configuration, metrics and checkpoints."""

from __future__ import annotations

import datetime
import json
import math
import os

import yaml


def new_run_dir(root: str, task: str, name: str) -> str:
    """A run folder's path that no run has taken yet; nothing is created until the run starts."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    path = os.path.join(root, task, f"{stamp}_{name}" if name else stamp)
    suffix, unique = 1, path
    while os.path.exists(unique):  # two runs started in the same second
        suffix += 1
        unique = f"{path}-{suffix}"
    return unique


def write_yaml(path: str, data: dict) -> None:
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)


def _plain(value):
    """JSON-safe: NaN and inf become null (strict JSON parsers reject them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class JsonlMetrics:
    """A metrics logger for trainers: one JSON object a report, appended and flushed at once."""

    def __init__(self, path: str):
        self.path = path
        self._file = open(path, "a", buffering=1)

    def __call__(self, metrics: dict) -> None:
        self._file.write(json.dumps(_plain(metrics)) + "\n")

    def close(self) -> None:
        self._file.close()
