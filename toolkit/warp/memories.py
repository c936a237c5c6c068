"""Rollout memory: preallocated Warp arrays of shape (memory_size, num_envs, ...) on the env's device."""

from __future__ import annotations

import warp as wp

from .interop import warp_device


class RandomMemory:
    """skrl's RandomMemory as PPO uses it: a ring of `memory_size` steps for `num_envs` worlds, written in place."""

    def __init__(self, memory_size: int, num_envs: int = 1, device=None):
        if memory_size < 1:
            raise ValueError(f"memory_size: {memory_size} is not allowed; must be >= 1")
        self.memory_size, self.num_envs = memory_size, num_envs
        self.device = warp_device(device)
        self.memory_index = 0
        self.filled = False
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

    def advance(self) -> None:
        self.memory_index += 1
        if self.memory_index >= self.memory_size:
            self.memory_index = 0
            self.filled = True

    def reset(self) -> None:
        self.memory_index = 0
        self.filled = False

    def __len__(self) -> int:
        return self.memory_size if self.filled else self.memory_index
