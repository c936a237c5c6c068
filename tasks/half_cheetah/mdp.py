"""HalfCheetah-v5 terms (gymnasium): run forward; no termination, only the time limit."""

from ..gymnasium_assets import control_cost, forward_velocity, never_terminated

FORWARD_WEIGHT, CTRL_COST_WEIGHT = 1.0, 0.1


def tracked(xp, s):
    return s.qpos[:, :1]


def observations(xp, s):
    """qpos without x, and qvel."""
    return xp.concatenate([s.qpos[:, 1:], s.qvel], axis=-1)


terminated = never_terminated


def reward(xp, s):
    return {
        "forward": FORWARD_WEIGHT * forward_velocity(s, s.qpos[:, 0]),
        "ctrl": control_cost(xp, s, CTRL_COST_WEIGHT),
    }
