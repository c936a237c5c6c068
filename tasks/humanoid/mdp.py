"""Humanoid-v5 terms (gymnasium): walk a 17-joint humanoid forward without falling."""

from ..gymnasium_assets import control_cost, forward_velocity, in_open_range

FORWARD_WEIGHT, HEALTHY_REWARD, CTRL_COST_WEIGHT, CONTACT_COST_WEIGHT = 1.25, 5.0, 0.1, 5e-7
CONTACT_COST_MAX = 10.0
HEALTHY_Z = (1.0, 2.0)  # open interval


def tracked(xp, s):
    """x and y of the centre of mass (bodies' inertial frames weighted by their masses)."""
    mass = s.body_mass[..., None]
    return ((mass * s.data.xipos).sum(1) / mass.sum(1))[:, :2]


def _flat(array):
    return array.reshape(array.shape[0], -1)


def observations(xp, s):
    """qpos without x and y, qvel, then per body but the world: com inertia, com velocity; the actuator forces
    on the joints (not the free joint); per body but the world: external forces."""
    d = s.data
    return xp.concatenate(
        [
            s.qpos[:, 2:],
            s.qvel,
            _flat(d.cinert[:, 1:]),
            _flat(d.cvel[:, 1:]),
            d.qfrc_actuator[:, 6:],
            _flat(d.cfrc_ext[:, 1:]),
        ],
        axis=-1,
    )


def healthy(xp, s):
    return in_open_range(s.qpos[:, 2], *HEALTHY_Z)


def terminated(xp, s):
    return ~healthy(xp, s)


def reward(xp, s):
    forces = s.data.cfrc_ext
    return {
        "forward": FORWARD_WEIGHT * forward_velocity(s, tracked(xp, s)[:, 0]),
        "survive": xp.where(healthy(xp, s), HEALTHY_REWARD, 0.0),
        "ctrl": control_cost(xp, s, CTRL_COST_WEIGHT),
        "contact": -xp.clip(CONTACT_COST_WEIGHT * (forces * forces).sum((-2, -1)), -float("inf"), CONTACT_COST_MAX),
    }
