"""Reacher-v5 terms (gymnasium): bring a two-link arm's fingertip to a goal placed at random in a disk."""

import math

from ..gymnasium_assets import control_cost, never_terminated

DISTANCE_WEIGHT, CTRL_COST_WEIGHT = 1.0, 1.0
FINGERTIP, TARGET = 3, 4  # body indices
GOAL_RADIUS = 0.2


def _to_target(s):
    """Fingertip minus target, body frame positions (gymnasium's get_body_com reads xpos)."""
    return s.data.xpos[:, FINGERTIP] - s.data.xpos[:, TARGET]


def observations(xp, s):
    """cos and sin of the two arm angles, the goal's x and y, the arm's joint velocities, fingertip - goal in x, y."""
    angles = s.qpos[:, :2]
    return xp.concatenate([xp.cos(angles), xp.sin(angles), s.qpos[:, 2:], s.qvel[:, :2], _to_target(s)[:, :2]], axis=-1)


terminated = never_terminated


def reward(xp, s):
    offset = _to_target(s)
    return {
        "distance": -DISTANCE_WEIGHT * xp.sqrt((offset * offset).sum(-1)),
        "ctrl": control_cost(xp, s, CTRL_COST_WEIGHT),
    }


def place_goal(xp, qpos, qvel, uniform):
    """The goal (the last two qpos, slide joints of the target) uniform in the disk of radius 0.2, which is what
    gymnasium's rejection sampling from the square [-0.2, 0.2]^2 draws; the goal does not move (qvel 0)."""
    radius, angle = GOAL_RADIUS * xp.sqrt(uniform[:, 0]), 2 * math.pi * uniform[:, 1]
    goal = xp.stack([radius * xp.cos(angle), radius * xp.sin(angle)], axis=-1)
    return (
        xp.concatenate([qpos[:, :-2], goal], axis=-1),
        xp.concatenate([qvel[:, :-2], xp.zeros_like(qvel[:, -2:])], axis=-1),
    )
