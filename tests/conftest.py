"""Shared, compiled-once environments: Warp kernels and MJX programs take seconds to build, so tests reuse them."""

import os
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "offline")
# robot models: the offline MuJoCo Menagerie copy next to the repository, where the user has not set one
os.environ.setdefault("MENAGERIE_ROOT", str(Path(__file__).resolve().parents[2] / "shared" / "menagerie"))

import pytest
import torch

import envs
import tasks

PARITY_WORLDS = 4
PARITY_EPISODE_STEPS = 30


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    # one thread per worker when pytest-xdist runs tests side by side (one worker per core), two otherwise
    torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


@pytest.fixture(scope="session")
def small_envs():
    """cartpole on both engines, few worlds and a short time limit (for parity, reset and truncation tests)."""
    return {
        backend: tasks.make("cartpole", backend, num_envs=PARITY_WORLDS, seed=0, max_episode_steps=PARITY_EPISODE_STEPS)
        for backend in envs.BACKENDS
    }
