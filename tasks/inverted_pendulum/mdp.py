"""InvertedPendulum-v5 terms (gymnasium): keep a pole on a cart upright; +1 for each step it stays within 0.2 rad."""

POLE_LIMIT = 0.2  # rad


def observations(xp, s):
    """Cart position, pole angle, and their velocities."""
    return xp.concatenate([s.qpos, s.qvel], axis=-1)


def terminated(xp, s):
    return abs(s.qpos[:, 1]) > POLE_LIMIT


def reward(xp, s):
    return {"survive": xp.where(terminated(xp, s), 0.0, 1.0)}
