"""JAX's persistent compilation cache for the launch scripts (--jax-cache-dir): XLA compiles an MJX step for
minutes on a CPU (a legged robot's) and tens of seconds on a GPU; kept on disk, the next process that compiles the
same program (a rerun, `train.py --resume`, `play.py`, bench's next row at that world count) loads it instead."""

from __future__ import annotations

import os

# JAX's own variable names the folder where it is set, as in Brax and MuJoCo Playground
DEFAULT_DIR = os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.join("~", ".cache", "simtrain", "jax")
HELP = (
    "folder of JAX's persistent compilation cache, where compiled MJX and JAX-agent programs are kept across "
    "processes ($JAX_COMPILATION_CACHE_DIR, else ~/.cache/simtrain/jax); None turns it off"
)


def _checked(folder: str | None) -> str | None:
    """The folder, absolute, made if missing (None: the cache off); a ValueError in one line when it cannot be
    written."""
    if folder is None or folder.lower() == "none":
        return None
    path = os.path.abspath(os.path.expanduser(folder))
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise ValueError(f"--jax-cache-dir: {folder!r} is not allowed; {error.strerror.lower()} (None turns it off)")
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"--jax-cache-dir: {folder!r} is not allowed; it cannot be written here (None turns it off)")
    return path


def use(folder: str | None) -> None:
    """Compile through the cache in `folder`, or with no persistent cache at all (None), for everything this process
    compiles from now on; a folder that cannot be written is a ValueError in one line (called before any world is
    built)."""
    import jax

    folder = _checked(folder)
    if folder is None:
        jax.config.update("jax_enable_compilation_cache", False)
        return
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", folder)
