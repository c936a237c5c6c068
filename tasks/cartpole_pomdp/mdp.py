"""Partially observed cart-pole terms: cartpole's reward and termination, observations without the velocities."""

from ..cartpole.mdp import reward, terminated  # noqa: F401  (the same task, seen through fewer sensors)


def observations(xp, s):
    """Cart position and pole angle only: a policy must infer the velocities from what it saw before."""
    return s.qpos
