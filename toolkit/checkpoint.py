"""Atomic checkpoint files: a crash while writing never leaves a truncated file under the final name, and no file
holding a NaN or inf is ever written."""

from __future__ import annotations

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
