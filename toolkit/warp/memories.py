"""Rollout memory: preallocated Warp arrays of shape (memory_size, num_envs, ...) on the env's device."""

from __future__ import annotations

import warp as wp

from ..memory_ring import MemoryRing
from .interop import warp_device


class RandomMemory(MemoryRing):
    """skrl's RandomMemory as PPO uses it: a ring of `memory_size` steps for `num_envs` worlds, written in place."""

    def __init__(self, memory_size: int, num_envs: int = 1, device=None):
        super().__init__(memory_size, num_envs)
        self.device = warp_device(device)
        self.tensors: dict[str, wp.array] = {}

    def create_tensor(self, name: str, size: tuple[int, ...] | int, dtype=float) -> None:
        size = (size,) if isinstance(size, int) else tuple(size)
        self.tensors[name] = wp.zeros((self.memory_size, self.num_envs, *size), dtype=dtype, device=self.device)

    def get_tensor_by_name(self, name: str) -> wp.array:
        return self.tensors[name]

    def row(self, name: str) -> wp.array:
        """The current step's slot of a tensor (a view: kernels write into it)."""
        return self.tensors[name][self.memory_index]

    def add_samples(self, **samples: wp.array) -> None:
        """Copy one step of the named arrays (contiguous, of the slot's element count) into the current slot, then
        advance."""
        for name, value in samples.items():
            wp.copy(self.row(name), value.reshape(self.row(name).shape))
        self.advance()
