"""Hopper-v5 terms (gymnasium): hop forward on one leg without falling."""

from ..gymnasium_assets import control_cost, forward_velocity, in_open_range

FORWARD_WEIGHT, HEALTHY_REWARD, CTRL_COST_WEIGHT = 1.0, 1.0, 1e-3


def tracked(xp, s):
    """x position of the torso (what the forward reward differentiates)."""
    return s.qpos[:, :1]


def observations(xp, s):
    """qpos without x, and qvel clipped to +-10."""
    return xp.concatenate([s.qpos[:, 1:], xp.clip(s.qvel, -10.0, 10.0)], axis=-1)


def healthy(xp, s):
    state = xp.concatenate([s.qpos[:, 2:], s.qvel], axis=-1)
    return (
        in_open_range(state, -100.0, 100.0).all(-1)
        & in_open_range(s.qpos[:, 1], 0.7, float("inf"))
        & in_open_range(s.qpos[:, 2], -0.2, 0.2)
    )


def terminated(xp, s):
    return ~healthy(xp, s)


def reward(xp, s):
    return {
        "forward": FORWARD_WEIGHT * forward_velocity(s, s.qpos[:, 0]),
        "survive": xp.where(healthy(xp, s), HEALTHY_REWARD, 0.0),
        "ctrl": control_cost(xp, s, CTRL_COST_WEIGHT),
    }
