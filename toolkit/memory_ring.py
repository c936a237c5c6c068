"""The step index of a rollout memory: a ring of `memory_size` slots, the bookkeeping every framework's
RandomMemory shares (the tensors are the framework's own)."""

from __future__ import annotations


class MemoryRing:
    def __init__(self, memory_size: int, num_envs: int):
        if memory_size < 1:
            raise ValueError(f"memory_size: {memory_size} is not allowed; must be >= 1")
        self.memory_size, self.num_envs = memory_size, num_envs
        self.memory_index = 0
        self.filled = False

    def advance(self) -> None:
        """Move to the next slot; past the last one, back to the first, the memory now full."""
        self.memory_index += 1
        if self.memory_index >= self.memory_size:
            self.memory_index = 0
            self.filled = True

    def reset(self) -> None:
        self.memory_index = 0
        self.filled = False

    def __len__(self) -> int:
        return self.memory_size if self.filled else self.memory_index
