"""Generalised advantage estimation over a rollout of shape (steps, num_envs)."""

from __future__ import annotations

import torch


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_values: torch.Tensor,
    discount_factor: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (advantages, returns). `dones[t]` ends the episode after step t (termination, truncation or
    automatic reset): no value and no advantage flows back across it. Time-limit bootstrapping, where wanted,
    is already folded into `rewards`. The loop runs over steps only; every step is one batched op over envs."""
    not_done = (~dones.bool()).to(values.dtype)
    advantages = torch.empty_like(values)
    advantage = torch.zeros_like(last_values)
    next_values = last_values
    for t in range(rewards.shape[0] - 1, -1, -1):
        delta = rewards[t] + discount_factor * not_done[t] * next_values - values[t]
        advantage = delta + discount_factor * gae_lambda * not_done[t] * advantage
        advantages[t] = advantage
        next_values = values[t]
    return advantages, advantages + values
