"""Domain randomization shared by both engines: which model fields a Randomization scales, and how.

Each engine draws the factors with its own random generator (per world, per body / geom / actuator) and
writes the scaled fields into its per-world model copies; this module holds the arithmetic, once.
"""

from __future__ import annotations

import numpy as np

from .task import Randomization

# randomization name -> (model fields it scales, the model count its factors are drawn per)
SCALED_FIELDS = {
    "mass": (("body_mass", "body_inertia"), "nbody"),
    "friction": (("geom_friction",), "ngeom"),
    "pair_friction": (("pair_friction",), "npair"),
    "actuator_gain": (("actuator_gainprm",), "nu"),
}


def enabled(randomization: Randomization) -> dict[str, tuple[float, float]]:
    """{name: (low, high)} of the randomizations that are on."""
    return {name: getattr(randomization, name) for name in SCALED_FIELDS if getattr(randomization, name) is not None}


def batched_field_names(randomization: Randomization) -> list[str]:
    return [field for name in enabled(randomization) for field in SCALED_FIELDS[name][0]]


def factor_shapes(mj_model, randomization: Randomization) -> dict[str, int]:
    """{name: number of factors per world}."""
    return {name: getattr(mj_model, SCALED_FIELDS[name][1]) for name in enabled(randomization)}


def nominal_fields(mj_model, randomization: Randomization) -> dict[str, np.ndarray]:
    """The MJCF's values of every field the randomization scales (unbatched)."""
    return {field: np.array(getattr(mj_model, field), dtype=np.float32) for field in batched_field_names(randomization)}


def scaled_fields(xp, nominal: dict, factors: dict) -> dict:
    """Per-world model fields (num_envs, *field shape) from the nominal fields and the drawn factors
    ({name: (num_envs, count)}). Masses scale with their inertias; friction and gain scale their first column
    (sliding friction; the motor gain), pair friction its first two (a pair's two sliding directions)."""
    out = {}
    for name, factor in factors.items():
        for field in SCALED_FIELDS[name][0]:
            value = nominal[field]
            if field == "body_mass":
                out[field] = value * factor
            elif field == "body_inertia":
                out[field] = value * factor[..., None]
            else:  # the first column(s) scaled, the others kept
                scaled = 2 if field == "pair_friction" else 1
                rest = xp.broadcast_to(value[:, scaled:], (factor.shape[0], *value[:, scaled:].shape))
                out[field] = xp.concatenate([(value[:, :scaled] * factor[..., None]), rest], axis=-1)
    return out
