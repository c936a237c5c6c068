"""Trainers that drive agents on a vectorized env (skrl's names)."""

from .base import TrainStats
from .sequential import SequentialTrainer, SequentialTrainerCfg

_PARALLEL = ("ParallelTrainer", "ParallelTrainerCfg", "WorkerError")


def __getattr__(name: str):
    # ParallelTrainer needs torch.multiprocessing: imported on first use, so JAX-only programs never load torch
    if name in _PARALLEL:
        from . import parallel

        return getattr(parallel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ParallelTrainer",
    "ParallelTrainerCfg",
    "SequentialTrainer",
    "SequentialTrainerCfg",
    "TrainStats",
    "WorkerError",
]
