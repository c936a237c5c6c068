"""Rollout memory: preallocated tensors of shape (memory_size, num_envs, ...) on the env's device."""

from __future__ import annotations

import torch

from ..memory_ring import MemoryRing


class RandomMemory(MemoryRing):
    """skrl's RandomMemory as PPO uses it: a ring of `memory_size` steps for `num_envs` worlds, written in place
    (no allocation in the step loop)."""

    def __init__(self, memory_size: int, num_envs: int = 1, device: str | torch.device | None = None):
        super().__init__(memory_size, num_envs)
        self.device = torch.device(device or "cpu")
        self.tensors: dict[str, torch.Tensor] = {}

    def create_tensor(self, name: str, size: tuple[int, ...] | int, dtype: torch.dtype = torch.float32) -> None:
        size = (size,) if isinstance(size, int) else tuple(size)
        self.tensors[name] = torch.zeros((self.memory_size, self.num_envs, *size), dtype=dtype, device=self.device)

    def get_tensor_by_name(self, name: str) -> torch.Tensor:
        return self.tensors[name]

    def add_samples(self, **samples: torch.Tensor) -> None:
        """Write one step of every named tensor at the current index."""
        for name, value in samples.items():
            self.tensors[name][self.memory_index].copy_(value.reshape(self.tensors[name].shape[1:]))
        self.advance()
