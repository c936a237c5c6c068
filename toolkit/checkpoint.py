"""Atomic checkpoint files: a crash while writing never leaves a truncated file under the final name."""

from __future__ import annotations

import os
import tempfile


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded: truncated, foreign, or of another task or shape."""


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
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
