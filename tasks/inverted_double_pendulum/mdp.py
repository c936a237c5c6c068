"""InvertedDoublePendulum-v5 terms (gymnasium): balance two poles on a cart; the tip must stay above 1 m."""

HEALTHY_REWARD = 10.0


def _tip(s):
    """x and z of the tip of the second pole (the model's first site)."""
    tip = s.data.site_xpos[:, 0]
    return tip[:, 0], tip[:, 2]


def observations(xp, s):
    """Cart x, sin and cos of the two hinge angles, velocities (clipped to +-10), the cart's constraint force."""
    return xp.concatenate(
        [
            s.qpos[:, :1],
            xp.sin(s.qpos[:, 1:]),
            xp.cos(s.qpos[:, 1:]),
            xp.clip(s.qvel, -10.0, 10.0),
            xp.clip(s.data.qfrc_constraint[:, :1], -10.0, 10.0),
        ],
        axis=-1,
    )


def terminated(xp, s):
    return _tip(s)[1] <= 1.0


def reward(xp, s):
    x, y = _tip(s)
    v1, v2 = s.qvel[:, 1], s.qvel[:, 2]
    return {
        "survive": xp.where(terminated(xp, s), 0.0, HEALTHY_REWARD),
        "distance": -(0.01 * x**2 + (y - 2) ** 2),
        "velocity": -(1e-3 * v1**2 + 5e-3 * v2**2),
    }
