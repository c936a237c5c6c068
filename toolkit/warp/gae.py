"""Generalised advantage estimation and advantage standardisation over a rollout of shape (steps, num_envs)."""

from __future__ import annotations

import warp as wp

wp.set_module_options({"enable_backward": False})  # gradients are written out, never taped


@wp.kernel
def _gae(
    rewards: wp.array2d(dtype=float),
    values: wp.array2d(dtype=float),
    dones: wp.array2d(dtype=wp.uint8),
    last_values: wp.array(dtype=float),
    discount: float,
    lam: float,
    advantages: wp.array2d(dtype=float),
    returns: wp.array2d(dtype=float),
):
    """One thread per world, back to front over the steps: nothing flows back across an episode end."""
    env = wp.tid()
    advantage = float(0.0)
    next_value = last_values[env]
    for back in range(rewards.shape[0]):
        t = rewards.shape[0] - 1 - back
        not_done = 1.0
        if dones[t, env] != wp.uint8(0):
            not_done = 0.0
        delta = rewards[t, env] + discount * not_done * next_value - values[t, env]
        advantage = delta + discount * lam * not_done * advantage
        advantages[t, env] = advantage
        returns[t, env] = advantage + values[t, env]
        next_value = values[t, env]


def compute_gae(
    rewards: wp.array,
    values: wp.array,
    dones: wp.array,
    last_values: wp.array,
    discount_factor: float,
    gae_lambda: float,
    advantages: wp.array,
    returns: wp.array,
) -> None:
    """Write (advantages, returns) of the rollout; `dones[t]` (uint8) ends the episode after step t (termination,
    truncation or automatic reset). Time-limit bootstrapping, where wanted, is already in `rewards`."""
    wp.launch(
        _gae,
        dim=rewards.shape[1],
        inputs=[rewards, values, dones, last_values, float(discount_factor), float(gae_lambda)],
        outputs=[advantages, returns],
        device=rewards.device,
    )


@wp.kernel
def _sums(x: wp.array(dtype=float), sums: wp.array(dtype=wp.float64)):
    i = wp.tid()
    value = wp.float64(x[i])
    wp.atomic_add(sums, 0, value)
    wp.atomic_add(sums, 1, value * value)


@wp.kernel
def _standardize(x: wp.array(dtype=float), sums: wp.array(dtype=wp.float64), epsilon: float):
    i = wp.tid()
    n = wp.float64(x.shape[0])
    mean = sums[0] / n
    var = (sums[1] - n * mean * mean) / wp.max(n - wp.float64(1.0), wp.float64(1.0))
    std = wp.sqrt(wp.max(var, wp.float64(0.0)))
    x[i] = float((wp.float64(x[i]) - mean) / (std + wp.float64(epsilon)))


def standardize(x: wp.array, scratch: wp.array, epsilon: float = 1e-8) -> None:
    """In place: (x - mean) / (std + epsilon), the std unbiased (torch's x.std()); `scratch`: two float64."""
    scratch.zero_()
    wp.launch(_sums, dim=x.shape[0], inputs=[x], outputs=[scratch], device=x.device)
    wp.launch(_standardize, dim=x.shape[0], inputs=[x, scratch, float(epsilon)], device=x.device)
