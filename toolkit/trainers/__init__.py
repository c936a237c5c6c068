"""Trainers that drive agents on a vectorized env (skrl's names)."""

from .base import TrainStats
from .sequential import SequentialTrainer, SequentialTrainerCfg

__all__ = ["SequentialTrainer", "SequentialTrainerCfg", "TrainStats"]
