"""Walker2d-v5 terms (gymnasium): walk forward on two legs without falling."""

from ..gymnasium_assets import control_cost, forward_velocity, in_open_range

FORWARD_WEIGHT, HEALTHY_REWARD, CTRL_COST_WEIGHT = 1.0, 1.0, 1e-3


def tracked(xp, s):
    return s.qpos[:, :1]


def observations(xp, s):
    """qpos without x, and qvel clipped to +-10."""
    return xp.concatenate([s.qpos[:, 1:], xp.clip(s.qvel, -10.0, 10.0)], axis=-1)


def healthy(xp, s):
    return in_open_range(s.qpos[:, 1], 0.8, 2.0) & in_open_range(s.qpos[:, 2], -1.0, 1.0)


def terminated(xp, s):
    return ~healthy(xp, s)


def reward(xp, s):
    return {
        "forward": FORWARD_WEIGHT * forward_velocity(s, s.qpos[:, 0]),
        "survive": xp.where(healthy(xp, s), HEALTHY_REWARD, 0.0),
        "ctrl": control_cost(xp, s, CTRL_COST_WEIGHT),
    }
