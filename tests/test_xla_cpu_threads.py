"""XLA's CPU pool and jaxlib's batched LAPACK kernels: `import envs` keeps MJX's programs from deadlocking."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from envs import xla_cpu_threads

REPOSITORY = Path(__file__).resolve().parents[1]

# Eight independent batched Cholesky factorizations in one program (as MJX's step has, batched over its worlds):
# XLA runs them side by side, and jaxlib 0.10.0-0.11.0 blocks a pool thread per call until its chunks are done.
# With XLA's default pool (one thread per core) it did not return within 40 s on a 2-core machine like CI's
# (4 runs of 4); with `import envs` first it takes seconds.
CONCURRENT_CHOLESKYS = """
import envs
import jax, jax.numpy as jnp, numpy as np
a = np.random.default_rng(0).normal(size=(8, 256, 35, 35)).astype(np.float32)
spd = a @ a.transpose(0, 1, 3, 2) + 35 * np.eye(35, dtype=np.float32)
program = jax.jit(lambda m: sum(jnp.linalg.cholesky(m[i]).sum() for i in range(8)))
for _ in range(200):
    jax.block_until_ready(program(spd))
print("returned")
"""


@pytest.mark.parametrize(
    ("version", "splits"),
    [
        ((0, 9, 2), False),
        ((0, 10, 0), True),
        ((0, 10, 2), True),
        ((0, 11, 0), True),
        ((0, 11, 1), False),
        (None, False),
    ],
)
def test_which_jaxlib_releases_split_lapack_batches(version, splits):
    assert xla_cpu_threads.splits_lapack_batches(version) is splits


def test_a_pool_size_the_user_chose_is_kept(monkeypatch):
    monkeypatch.setattr(xla_cpu_threads, "jaxlib_version", lambda: (0, 10, 2))
    monkeypatch.setenv("NPROC", "4")
    xla_cpu_threads.install()
    assert os.environ["NPROC"] == "4"
    monkeypatch.delenv("NPROC")
    xla_cpu_threads.install()
    assert os.environ["NPROC"] == "1"


def test_concurrent_batched_lapack_calls_return_after_import_envs():
    environment = {name: value for name, value in os.environ.items() if name != "NPROC"}  # as a fresh shell has it
    try:
        done = subprocess.run(
            [sys.executable, "-c", CONCURRENT_CHOLESKYS],
            cwd=REPOSITORY,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("concurrent batched Cholesky factorizations did not return in 120 s: XLA's CPU pool deadlocked")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "returned" in done.stdout
