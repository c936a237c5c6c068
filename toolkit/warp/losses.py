"""The Gaussian policy's sampling, log-probability and entropy, and PPO's clipped losses with their gradients, as Warp
kernels. The gradients are written out (see nn.py for why); tests hold them to torch autograd's."""

from __future__ import annotations

import math

import warp as wp

wp.set_module_options({"enable_backward": False})  # gradients are written out, never taped

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@wp.func
def log_std_at(params: wp.array(dtype=float), off: int, a: int, clip: int, lo: float, hi: float) -> float:
    value = params[off + a]
    if clip != 0:
        value = wp.clamp(value, lo, hi)
    return value


@wp.func
def log_std_passes(params: wp.array(dtype=float), off: int, a: int, clip: int, lo: float, hi: float) -> float:
    """1 where the clamp of the log std lets the gradient through (torch's clamp: bounds included), else 0."""
    value = params[off + a]
    if clip != 0 and (value < lo or value > hi):
        return 0.0
    return 1.0


@wp.func
def row_log_prob(
    i: int,
    mean: wp.array2d(dtype=float),
    params: wp.array(dtype=float),
    ls_off: int,
    clip: int,
    lo: float,
    hi: float,
    reduce_mean: int,
    actions: wp.array2d(dtype=float),
) -> float:
    """Row i's log-probability of its actions under the diagonal Gaussian (summed, or averaged with reduce_mean)."""
    total = float(0.0)
    n = mean.shape[1]
    for a in range(n):
        ls = log_std_at(params, ls_off, a, clip, lo, hi)
        z = (actions[i, a] - mean[i, a]) * wp.exp(-ls)
        total += -0.5 * z * z - ls - wp.static(LOG_SQRT_2PI)
    if reduce_mean != 0:
        total = total / float(n)
    return total


@wp.kernel
def next_seed(base: int, draws: wp.array(dtype=wp.int64), seed: wp.array(dtype=wp.int32)):
    """The seed of the next draw, (base + draws) mod (2^31 - 1) after counting it: on the device, so that acting
    needs no host value that changes per call (a captured graph replays it)."""
    draws[0] = draws[0] + wp.int64(1)
    seed[0] = wp.int32((wp.int64(base) + draws[0]) % wp.int64(2147483647))


@wp.kernel
def gaussian_sample(
    mean: wp.array2d(dtype=float),
    params: wp.array(dtype=float),
    ls_off: int,
    clip: int,
    lo: float,
    hi: float,
    reduce_mean: int,
    seed: wp.array(dtype=wp.int32),
    stochastic: int,
    actions: wp.array2d(dtype=float),
    log_prob: wp.array(dtype=float),
):
    i = wp.tid()
    state = wp.rand_init(seed[0], i)
    total = float(0.0)
    n = mean.shape[1]
    for a in range(n):
        ls = log_std_at(params, ls_off, a, clip, lo, hi)
        noise = float(0.0)
        if stochastic != 0:
            noise = wp.randn(state)
        actions[i, a] = mean[i, a] + wp.exp(ls) * noise
        total += -0.5 * noise * noise - ls - wp.static(LOG_SQRT_2PI)
    if reduce_mean != 0:
        total = total / float(n)
    log_prob[i] = total


@wp.kernel
def gaussian_log_prob(
    mean: wp.array2d(dtype=float),
    params: wp.array(dtype=float),
    ls_off: int,
    clip: int,
    lo: float,
    hi: float,
    reduce_mean: int,
    actions: wp.array2d(dtype=float),
    log_prob: wp.array(dtype=float),
):
    i = wp.tid()
    log_prob[i] = row_log_prob(i, mean, params, ls_off, clip, lo, hi, reduce_mean, actions)


@wp.kernel
def uniform_actions(
    low: wp.array(dtype=float),
    high: wp.array(dtype=float),
    seed: wp.array(dtype=wp.int32),
    actions: wp.array2d(dtype=float),
):
    i, a = wp.tid()
    state = wp.rand_init(seed[0], i * actions.shape[1] + a)
    actions[i, a] = low[a] + (high[a] - low[a]) * wp.randf(state)


@wp.kernel
def entropy_term(
    params: wp.array(dtype=float),
    ls_off: int,
    n: int,
    clip: int,
    lo: float,
    hi: float,
    scale: float,
    sums: wp.array(dtype=float),
    grad: wp.array(dtype=float),
):
    """The entropy loss -scale * entropy (a diagonal Gaussian's entropy does not depend on the state) into sums[2],
    and its gradient into the log std's."""
    entropy = float(0.0)
    for a in range(n):
        entropy += 0.5 + wp.static(LOG_SQRT_2PI) + log_std_at(params, ls_off, a, clip, lo, hi)
        grad[ls_off + a] += -scale * log_std_passes(params, ls_off, a, clip, lo, hi)
    sums[2] = sums[2] - scale * entropy


@wp.kernel
def policy_loss(
    mean: wp.array2d(dtype=float),
    params: wp.array(dtype=float),
    ls_off: int,
    clip: int,
    lo: float,
    hi: float,
    reduce_mean: int,
    actions: wp.array2d(dtype=float),
    old_log_prob: wp.array(dtype=float),
    advantages: wp.array(dtype=float),
    ratio_clip: float,
    inv_n: float,
    sums: wp.array(dtype=float),
    d_mean: wp.array2d(dtype=float),
    grad: wp.array(dtype=float),
):
    """PPO's clipped surrogate -mean(min(A r, A clip(r))) into sums[0], the approximate KL mean((r - 1) - log r)
    into sums[3]; the gradient at the mean into d_mean and at the log std into grad."""
    i = wp.tid()
    n = mean.shape[1]
    per_action = float(1.0)
    if reduce_mean != 0:
        per_action = 1.0 / float(n)
    log_prob = row_log_prob(i, mean, params, ls_off, clip, lo, hi, reduce_mean, actions)
    log_ratio = log_prob - old_log_prob[i]
    ratio = wp.exp(log_ratio)
    adv = advantages[i]
    surrogate = adv * ratio
    clipped = adv * wp.clamp(ratio, 1.0 - ratio_clip, 1.0 + ratio_clip)
    inside = float(0.0)
    if ratio >= 1.0 - ratio_clip and ratio <= 1.0 + ratio_clip:
        inside = 1.0
    # torch's minimum: the smaller side's gradient, half of each on a tie
    g = float(0.0)
    if surrogate < clipped:
        g = adv * ratio
    elif clipped < surrogate:
        g = adv * ratio * inside
    else:
        g = 0.5 * adv * ratio * (1.0 + inside)
    wp.atomic_add(sums, 0, -wp.min(surrogate, clipped) * inv_n)
    wp.atomic_add(sums, 3, ((ratio - 1.0) - log_ratio) * inv_n)
    d_log_prob = -g * inv_n * per_action
    for a in range(n):
        ls = log_std_at(params, ls_off, a, clip, lo, hi)
        inv_std = wp.exp(-ls)
        z = (actions[i, a] - mean[i, a]) * inv_std
        d_mean[i, a] = d_log_prob * z * inv_std
        wp.atomic_add(grad, ls_off + a, d_log_prob * (z * z - 1.0) * log_std_passes(params, ls_off, a, clip, lo, hi))


@wp.kernel
def value_loss(
    predicted: wp.array2d(dtype=float),
    old_values: wp.array(dtype=float),
    returns: wp.array(dtype=float),
    value_clip: float,
    scale: float,
    inv_n: float,
    sums: wp.array(dtype=float),
    d_value: wp.array2d(dtype=float),
):
    """scale * mean((R - V)^2), V clipped to old +- value_clip when value_clip > 0, into sums[1]; its gradient
    at the prediction into d_value."""
    i = wp.tid()
    value = predicted[i, 0]
    passes = float(1.0)
    if value_clip > 0.0:
        delta = value - old_values[i]
        if delta < -value_clip or delta > value_clip:
            passes = 0.0
        value = old_values[i] + wp.clamp(delta, -value_clip, value_clip)
    error = value - returns[i]
    wp.atomic_add(sums, 1, scale * error * error * inv_n)
    d_value[i, 0] = 2.0 * scale * error * inv_n * passes
