"""Atomic checkpoint files: a crash while writing never leaves a truncated file under the final name, and no file
holding a NaN or inf is ever written."""

from __future__ import annotations

import io
import json
import math
import os
import tempfile

import numpy as np


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded: truncated, foreign, or of another task or shape."""


class NonFiniteError(RuntimeError):
    """An agent's loss, gradient or parameter became NaN or inf; its update (or checkpoint) was stopped."""


def atomic_write_bytes(path: str, payload: bytes) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename it over `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(dir=folder, prefix=".tmp_", suffix=os.path.basename(path))
    try:
        with os.fdopen(handle, "wb") as tmp:
            tmp.write(payload)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_path, path)
    except BaseException as error:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        if isinstance(error, OSError) and error.filename is None:  # say which file could not be written
            raise OSError(error.errno, error.strerror, path) from error
        raise


def atomic_copy(source: str, target: str) -> None:
    """Copy `source` to `target` as atomic_write_bytes writes (temporary file, fsync, rename, cleanup)."""
    with open(source, "rb") as handle:
        atomic_write_bytes(target, handle.read())


def nonfinite_entry(tree, prefix: str = "") -> str | None:
    """The dotted key of the first floating-point array (torch, numpy or JAX) or float in a nested dict / list that
    holds NaN or inf; None when every number is finite."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return prefix if _has_nonfinite(tree) else None
    for key, value in items:
        found = nonfinite_entry(value, f"{prefix}.{key}" if prefix else str(key))
        if found is not None:
            return found
    return None


def _has_nonfinite(value) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if hasattr(value, "is_floating_point"):  # a torch tensor: checked where it lives
        return bool(value.is_floating_point() and not value.isfinite().all())
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        try:
            array = np.asarray(value)
        except TypeError:  # e.g. a JAX key array
            return False
        return bool(np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all())
    return False


# ---- .npz checkpoints (the JAX and Warp agents): arrays by name, `__meta__` as JSON, read without pickle ----
def npz_extra(extra: dict | None) -> dict:
    """A checkpoint's `extra` as arrays named extra/<name> (a mapping's items as extra/<name>/<key>)."""
    arrays = {}
    for name, value in (extra or {}).items():
        if isinstance(value, dict):
            arrays.update({f"extra/{name}/{key}": np.asarray(item) for key, item in value.items()})
        elif value is not None:
            arrays[f"extra/{name}"] = np.asarray(value)
    return arrays


def write_npz(path: str, meta: dict, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.asarray(json.dumps(meta)), **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def read_npz(path: str, format: str, written_by: str) -> tuple[dict, dict]:
    """(meta, arrays) of a checkpoint whose meta names `format`; CheckpointError otherwise."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(str(arrays.pop("__meta__")))
    except Exception as error:
        raise CheckpointError(
            f"checkpoint: {path} cannot be read ({type(error).__name__}); expected a file written by PPO.save"
        ) from None
    if meta.get("format") != format:
        raise CheckpointError(f"checkpoint: {path} is not a simtrain {written_by} checkpoint")
    return meta, arrays


def check_npz_meta(path: str, meta: dict, expected: dict) -> None:
    """Each of `expected`'s keys (observation_shape, action_space, ...) as this agent needs it."""
    for key, mine in expected.items():
        if meta.get(key) != mine:
            raise CheckpointError(
                f"checkpoint: {path} has {key} {meta.get(key)}; this agent needs {mine} (another task?)"
            )


def extra_from_npz(arrays: dict) -> dict:
    """The `extra` that npz_extra wrote, as nested dicts (0-d arrays as Python scalars, the env's state as arrays)."""
    extra: dict = {}
    for name, value in arrays.items():
        if name.startswith("extra/"):
            parts = name.split("/")[1:]
            node = extra
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value.item() if value.ndim == 0 and parts[0] != "env" else value
    return extra
