"""A task as tables of terms: observation groups, weighted rewards, named terminations.

Each table turns into the plain terms a TaskSpec takes (`observations`, `reward`, `terminated`), so a task
written as tables is the same mechanism as one written as three functions. Terms are `(xp, state) -> array`
for torch and jax.numpy alike; observation noise comes from the uniform numbers the engine drew for the step
(`state.uniform`), never from a framework's own generator, so both engines and the compiled MJX loop run it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

Term = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class ObsTerm:
    """One observation term of a group: `term(xp, s)` -> (num_envs, size), then + uniform(-noise, noise),
    times `scale`, clipped to +-clip (None: not clipped)."""

    name: str
    term: Term
    size: int
    noise: float = 0.0
    scale: float = 1.0
    clip: float | None = None

    def __post_init__(self):
        if self.size < 1:
            raise ValueError(f"observation {self.name!r}: size {self.size} is not allowed; must be >= 1")
        if self.noise < 0:
            raise ValueError(f"observation {self.name!r}: noise {self.noise} is not allowed; must be >= 0")


@dataclass(frozen=True)
class ObservationGroup:
    """Observation terms concatenated in order; noise reads `size` columns of state.uniform each, from
    `uniform_offset` on (the task declares its step uniforms to cover them)."""

    terms: tuple[ObsTerm, ...]
    uniform_offset: int = 0
    noise: bool = True  # False: every term noise-free (the critic's group, parity tests)

    @property
    def size(self) -> int:
        return sum(term.size for term in self.terms)

    @property
    def uniform_count(self) -> int:
        """Uniform numbers per world per step this group's noise reads."""
        return sum(term.size for term in self.terms if term.noise > 0) if self.noise else 0

    def without_noise(self) -> "ObservationGroup":
        return replace(self, noise=False)

    def layout(self) -> list[dict]:
        """[{name, start, size, scale, clip, noise}] in observation order (for exported policies: a policy's
        input is term * scale, clipped to +-clip where clip is not None; noise is training's, not the robot's)."""
        out, start = [], 0
        for term in self.terms:
            out.append(
                {
                    "name": term.name,
                    "start": start,
                    "size": term.size,
                    "scale": term.scale,
                    "clip": term.clip,
                    "noise": term.noise if self.noise else 0.0,
                }
            )
            start += term.size
        return out

    def __call__(self, xp, s):
        parts, column = [], self.uniform_offset
        for term in self.terms:
            value = term.term(xp, s)
            if self.noise and term.noise > 0:
                value = value + (2.0 * s.uniform[:, column : column + term.size] - 1.0) * term.noise
                column += term.size
            if term.scale != 1.0:
                value = value * term.scale
            if term.clip is not None:
                value = xp.clip(value, -term.clip, term.clip)
            parts.append(value)
        return xp.concatenate(parts, axis=-1)


CLIPPED_BELOW_ZERO = "clipped_below_zero"  # the term that lifts a negative total to 0 (RewardTable.only_positive)


@dataclass(frozen=True)
class RewardTable:
    """{name: (term, weight)}: each term's weight * term * dt (the control step), as Isaac Lab and mjlab scale
    them, so that weights do not depend on the control rate. Logged per term by the engines.

    `only_positive`: a step's total is clipped at 0 (legged_gym's `only_positive_rewards`): where the penalties
    outweigh the task terms, staying alive costs return and ending the episode (falling) pays, so a policy that
    has not learned the task yet learns to fall instead. The clip is one more term, `clipped_below_zero` (what it
    added), so the logged terms still add up to the reward."""

    terms: dict
    only_positive: bool = False

    def __call__(self, xp, s):
        weighted = {name: (weight * s.dt) * term(xp, s) for name, (term, weight) in self.terms.items()}
        if self.only_positive:
            weighted[CLIPPED_BELOW_ZERO] = xp.clip(-sum(weighted.values()), 0.0, None)
        return weighted

    def weights(self) -> dict:
        return {name: weight for name, (_, weight) in self.terms.items()}


@dataclass(frozen=True)
class TerminationTable:
    """{name: term -> (num_envs,) bool}: an episode ends (terminated, not a time-out) where any term is True;
    the engines log the fraction of worlds each term ended. The time-out is the task's max_episode_steps."""

    terms: dict

    def __call__(self, xp, s):
        return {name: term(xp, s) for name, term in self.terms.items()}
