"""The decisions of a PPO update taken on the device, so that an epoch is one fixed sequence of launches (a captured
graph): the minibatch order, the KL early stop, the non-finite halt, the loss sums and KL-adaptive learning rate.

`control` (int32): [0] the epoch's KL stop, [1] the halt code (0, or 1-4: the policy, value, entropy loss or the
gradient was not finite), [2] whether this minibatch steps, [3] the minibatches that stepped.
`stats` (float64): [0-3] the sums of the policy, value, entropy losses and KL over the stepped minibatches, [4] and
[5] the KL sum and count of the epoch's evaluated minibatches (the scheduler's mean).
"""

from __future__ import annotations

import warp as wp

wp.set_module_options({"enable_backward": False})  # gradients are written out, never taped

HALTS = {1: "policy loss", 2: "value loss", 3: "entropy loss", 4: "gradient"}


@wp.func
def _mix(x: wp.uint32) -> wp.uint32:
    """A 32-bit integer hash (an avalanche mixer)."""
    h = x ^ (x >> wp.uint32(16))
    h = h * wp.uint32(0x7FEB352D)
    h = h ^ (h >> wp.uint32(15))
    h = h * wp.uint32(0x2C1B3C6D)
    return h ^ (h >> wp.uint32(16))


@wp.kernel
def shuffle_order(
    seed: int,
    counter: wp.array(dtype=wp.int64),
    index: int,
    half_bits: int,
    n: int,
    order: wp.array(dtype=wp.int32),
):
    """order[i]: a pseudo-random permutation of [0, n), new for every value of counter[index] (a four-round Feistel
    network on 2 * half_bits bits, cycle-walked into [0, n): a bijection computed per element, with no sort)."""
    i = wp.tid()
    key = _mix(wp.uint32(seed) ^ _mix(wp.uint32(counter[index]) + wp.uint32(0x61C88647)))
    mask = (wp.uint32(1) << wp.uint32(half_bits)) - wp.uint32(1)
    x = wp.uint32(i)
    walking = int(1)
    while walking != 0:
        left = x >> wp.uint32(half_bits)
        right = x & mask
        for r in range(4):
            mixed = _mix(right ^ (key + wp.uint32(r) * wp.uint32(0x632BE5AB))) & mask
            swapped = left ^ mixed
            left = right
            right = swapped
        x = (left << wp.uint32(half_bits)) | right
        if x < wp.uint32(n):
            walking = 0
    order[i] = wp.int32(x)


def half_bits(n: int) -> int:
    """Half the bits of the smallest even-bit power of two >= n (at least 1)."""
    bits = max(1, (max(n, 2) - 1).bit_length())
    return (bits + 1) // 2


@wp.kernel
def advance(counter: wp.array(dtype=wp.int64), index: int):
    counter[index] = counter[index] + wp.int64(1)


@wp.kernel
def begin_epoch(control: wp.array(dtype=wp.int32), stats: wp.array(dtype=wp.float64)):
    control[0] = 0
    stats[4] = wp.float64(0.0)
    stats[5] = wp.float64(0.0)


@wp.func
def _finite(x: float) -> bool:
    return not (wp.isnan(x) or wp.isinf(x))


@wp.kernel
def decide_minibatch(
    losses: wp.array(dtype=float),
    square_sum: wp.array(dtype=float),
    kl_threshold: wp.float64,
    control: wp.array(dtype=wp.int32),
    stats: wp.array(dtype=wp.float64),
):
    """After a minibatch's losses and gradient: stop the epoch on a KL above the threshold (that minibatch takes no
    step), halt the update on a non-finite loss or gradient, else count its losses and let it step."""
    control[2] = 0
    if control[0] != 0 or control[1] != 0:
        return
    kl = losses[3]
    stats[4] = stats[4] + wp.float64(kl)
    stats[5] = stats[5] + wp.float64(1.0)
    if kl_threshold != wp.float64(0.0) and wp.float64(kl) > kl_threshold:  # in float64, as the host compares
        control[0] = 1
        return
    for k in range(3):
        if not _finite(losses[k]):
            control[1] = k + 1
            return
    if not _finite(square_sum[0]):
        control[1] = 4
        return
    for k in range(4):
        stats[k] = stats[k] + wp.float64(losses[k])
    control[3] = control[3] + 1
    control[2] = 1


@wp.kernel
def kl_adaptive_lr(
    stats: wp.array(dtype=wp.float64),
    control: wp.array(dtype=wp.int32),
    kl_threshold: wp.float64,
    kl_factor: wp.float64,
    lr_factor: wp.float64,
    min_lr: wp.float64,
    max_lr: wp.float64,
    lrs: wp.array(dtype=wp.float64),
):
    """KLAdaptiveLR's rule on the epoch's mean KL, for every group's learning rate (float64, as the host keeps it)."""
    group = wp.tid()
    if control[1] != 0 or stats[5] == wp.float64(0.0):
        return
    kl = stats[4] / stats[5]
    lr = lrs[group]
    if kl > kl_threshold * kl_factor:
        lrs[group] = wp.max(lr / lr_factor, min_lr)
    elif kl < kl_threshold / kl_factor:
        lrs[group] = wp.min(lr * lr_factor, max_lr)
