"""Ant-v5 terms (gymnasium): walk a four-legged ant forward along x."""

from ..gymnasium_assets import control_cost, forward_velocity

FORWARD_WEIGHT, HEALTHY_REWARD, CTRL_COST_WEIGHT, CONTACT_COST_WEIGHT = 1.0, 1.0, 0.5, 5e-4
HEALTHY_Z = (0.2, 1.0)  # closed interval
TORSO = 1  # body index (gymnasium's main_body)


def tracked(xp, s):
    """x and y of the torso's frame (the body position MuJoCo computed, as gymnasium reads it)."""
    return s.data.xpos[:, TORSO, :2]


def _contact_forces(xp, s):
    return xp.clip(s.data.cfrc_ext, -1.0, 1.0)


def observations(xp, s):
    """qpos without x and y, qvel, and the external forces on every body but the world, clipped to +-1."""
    forces = _contact_forces(xp, s)[:, 1:]
    return xp.concatenate([s.qpos[:, 2:], s.qvel, forces.reshape(forces.shape[0], -1)], axis=-1)


def healthy(xp, s):
    z = s.qpos[:, 2]
    return (z >= HEALTHY_Z[0]) & (z <= HEALTHY_Z[1])


def terminated(xp, s):
    return ~healthy(xp, s)


def reward(xp, s):
    forces = _contact_forces(xp, s)
    return {
        "forward": FORWARD_WEIGHT * forward_velocity(s, s.data.xpos[:, TORSO, 0]),
        "survive": xp.where(healthy(xp, s), HEALTHY_REWARD, 0.0),
        "ctrl": control_cost(xp, s, CTRL_COST_WEIGHT),
        "contact": -CONTACT_COST_WEIGHT * (forces * forces).sum((-2, -1)),
    }
