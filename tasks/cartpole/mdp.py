"""Cart-pole MDP terms, shared by both engines (xp is torch or jax.numpy)."""

CART_LIMIT = 2.4  # m
POLE_LIMIT = 0.2  # rad


def observations(xp, qpos, qvel):
    """Cart position, pole angle, cart velocity, pole angular velocity."""
    return xp.concatenate([qpos, qvel], axis=-1)


def _upright(qpos):
    return (abs(qpos[:, 0]) <= CART_LIMIT) & (abs(qpos[:, 1]) <= POLE_LIMIT)


def reward(xp, qpos, qvel):
    """+1 for every step that ends with the pole up and the cart on the rail."""
    return xp.where(_upright(qpos), 1.0, 0.0)


def terminated(xp, qpos, qvel):
    return ~_upright(qpos)
