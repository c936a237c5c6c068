"""A run's folder: runs/<task>/<time>_<name>/ with its resolved configuration, metrics and checkpoints."""

from __future__ import annotations

import datetime
import json
import math
import os
import shutil

import yaml

from .checkpoint import atomic_write_bytes

RUN_FILES = ("config.yaml", "launch.yaml")  # what a run writes before it has trained anything


def new_run_dir(root: str, task: str, name: str) -> str:
    """Claim a new, empty run folder and return its path. The claim is one `mkdir`, which fails if the folder exists,
    so two runs started in the same second (or on two hosts sharing the file system) never share a folder."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    path = os.path.join(root, task, f"{stamp}_{name}" if name else stamp)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        suffix, unique = 1, path
        while True:
            try:
                os.mkdir(unique)
                return unique
            except FileExistsError:
                suffix += 1
                unique = f"{path}-{suffix}"
    except OSError as error:
        if isinstance(error, FileExistsError) and not os.path.isdir(os.path.dirname(path)):
            error.strerror = "a file of that name exists"
        raise ValueError(
            f"--runs-dir: {root!r} is not allowed; cannot create a run folder in it ({error.strerror})"
        ) from None


def release_run_dir(path: str) -> bool:
    """Remove a claimed run folder if it holds nothing but what a run writes before training (a run that failed
    early leaves nothing half-made); a folder with metrics or checkpoints is kept. Returns whether it was removed."""
    if not os.path.isdir(path):
        return False
    for folder, _, files in os.walk(path):
        if any(name not in RUN_FILES for name in files):
            return False
    shutil.rmtree(path, ignore_errors=True)
    return True


def cut_metrics(path: str, timestep: int) -> int:
    """Drop the records of a metrics file after `timestep` (a resumed run writes them again from its checkpoint),
    and a last line cut short by a kill; rewritten atomically. Returns how many lines were dropped."""
    if not os.path.isfile(path):
        return 0
    with open(path) as handle:
        lines = handle.read().splitlines()
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and int(record.get("timestep", 0)) <= timestep:
            kept.append(line)
    if len(kept) != len(lines):
        atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode())
    return len(lines) - len(kept)


def write_yaml(path: str, data: dict) -> None:
    atomic_write_bytes(path, yaml.safe_dump(data, sort_keys=False).encode())


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
