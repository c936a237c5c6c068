"""One thread in XLA's CPU pool where jaxlib's batched LAPACK kernels deadlock it (MJX on a CPU hung forever).

jaxlib 0.10.0 to 0.11.0 splits a batched LAPACK call (Cholesky, triangular solve, LU, QR, eigh, SVD, ...) into
chunks on XLA's CPU thread pool and blocks its pool thread until they are done. XLA runs independent operations
at the same time; when as many such calls run as the pool has threads, every thread waits for chunks that no free
thread is left to run, and the program never returns (0 % CPU). MJX's step factorizes each world's mass matrix
and solver Hessian this way, batched over the worlds, so its programs hung on a 2-core machine (a pool of 2).
With one thread in the pool every kernel runs its batch inline, and XLA's intra-op parallelism is all that is
given up (no measurable cost on a 2-core CPU: README "Known problem, MJX on a CPU"). jaxlib stopped splitting
LAPACK batches in open-source builds after 0.11.0 ("Don't try to parallelize LAPACK kernels in opensource
builds", 2026-07-21; 0.11.1 was released on 2026-08-17), so 0.11.1 and later are left alone.

XLA sizes its pool from NPROC when its CPU client starts, so `install()` runs when `envs` is imported, before any
JAX array exists; a NPROC the user has set is kept.
"""

from __future__ import annotations

import os
from importlib import metadata

# jaxlib releases that split LAPACK batches over the pool: 0.10.0 (the first) up to 0.11.1 (the first without)
SPLITTING_RELEASES = ((0, 10, 0), (0, 11, 1))


def jaxlib_version() -> tuple[int, ...] | None:
    try:
        release = metadata.version("jaxlib").split("+")[0]
    except metadata.PackageNotFoundError:
        return None
    return tuple(int(part) for part in release.split(".")[:3] if part.isdigit())


def splits_lapack_batches(version: tuple[int, ...] | None) -> bool:
    first, fixed = SPLITTING_RELEASES
    return version is not None and first <= version < fixed


def install() -> None:
    """Size XLA's CPU pool to one thread when the installed jaxlib needs it and the user has not chosen NPROC."""
    if splits_lapack_batches(jaxlib_version()):
        os.environ.setdefault("NPROC", "1")
