"""Several agents on one env: each agent's slice of the worlds (its scope), and arrays cut and joined by scope."""

from __future__ import annotations

from typing import Any

from ..config import check


def split_scopes(num_envs: int, num_agents: int, scopes: list[int] | None) -> list[slice]:
    """World counts per agent (skrl's `scopes`; None: equal shares) -> one slice of the env's worlds per agent."""
    if not scopes:
        base, extra = divmod(num_envs, num_agents)
        scopes = [base + (1 if i < extra else 0) for i in range(num_agents)]
    check(
        len(scopes) == num_agents and sum(scopes) == num_envs and min(scopes) > 0,
        "trainer",
        "scopes",
        scopes,
        f"expected {num_agents} positive world counts that add up to num_envs ({num_envs})",
    )
    bounds, start = [], 0
    for size in scopes:
        bounds.append(slice(start, start + size))
        start += size
    return bounds


def concatenate(framework: str, arrays: list):
    """The agents' arrays (each (worlds_i, ...)) as one (num_envs, ...) array of the env's framework."""
    if len(arrays) == 1:
        return arrays[0]
    if framework == "torch":
        import torch

        return torch.cat(arrays)
    import jax.numpy as jnp

    return jnp.concatenate(arrays)


def slice_tree(tree: Any, scope: slice) -> Any:
    """Slice every batched array of an info dict to one agent's worlds."""
    if isinstance(tree, dict):
        return {key: slice_tree(value, scope) for key, value in tree.items()}
    if hasattr(tree, "shape") and len(tree.shape) > 0:
        return tree[scope]
    return tree
