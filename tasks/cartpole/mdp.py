"""Cart-pole MDP terms, shared by both engines (xp is torch or jax.numpy; s is an envs.MdpState)."""

CART_LIMIT = 2.4  # m
POLE_LIMIT = 0.2  # rad


def observations(xp, s):
    """Cart position, pole angle, cart velocity, pole angular velocity."""
    return xp.concatenate([s.qpos, s.qvel], axis=-1)


def _upright(qpos):
    return (abs(qpos[:, 0]) <= CART_LIMIT) & (abs(qpos[:, 1]) <= POLE_LIMIT)


def reward(xp, s):
    """+1 for every step that ends with the pole up and the cart on the rail."""
    return {"alive": xp.where(_upright(s.qpos), 1.0, 0.0)}


def terminated(xp, s):
    return ~_upright(s.qpos)
