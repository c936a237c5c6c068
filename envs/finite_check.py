"""Which part of a step went non-finite, per world: the physics state, an observation term or a reward term.

NaN and inf never reach the agent: the engines end and reset a world whose state, observations or reward are not
finite, hand out zeros in their place, and count the world-steps per source on the device (an (N, sources) counter
that adds this step's flags: no host synchronisation). `check_finite()` reads the counts once per update and reports
them; more than `max_fraction` of the worlds blown up since the last check stops the run with one line naming the
task, the source and the fraction.

Exploding physics can stay finite for a few steps while its values reach 1e14 and its quadratic rewards 1e26, which
the agent's running statistics square into inf: a physics value beyond the task's `max_physics_value` (default 1e10,
C MuJoCo's mjMAXVAL) counts as blown up too.

Sources are named `state/qpos`, `state/qvel` (the physics), `obs/<term>` and `critic/<term>` (columns of the policy's
and the critic's observation groups, by the group's layout; `obs` / `critic` for a task whose group is one function)
and `reward/<term>`. A world whose physics state is not finite is blamed on the physics alone: its terms only read it.
"""

from __future__ import annotations

import numpy as np

from .vec_env import DEFAULT_MAX_FRACTION, SimulationError

__all__ = ["DEFAULT_MAX_FRACTION", "FiniteCheck", "finite_or_zero", "report"]
PHYSICS = ("state/qpos", "state/qvel")


def _group_columns(group, prefix: str, width: int) -> list[tuple[str, int]]:
    """[(source name, number of columns)] of an observation group: its terms by its layout() where it has one."""
    layout = getattr(group, "layout", None)
    if callable(layout):
        return [(f"{prefix}/{term['name']}", int(term["size"])) for term in layout()]
    return [(prefix, width)]


class FiniteCheck:
    """The sources of one task and the column -> source map that turns a step's values into per-source flags.

    Built on the first step an engine evaluates (reward term names are known once the reward is computed); the map
    is uploaded once per device, never per step."""

    def __init__(self, task):
        self.task = task
        self.names: tuple[str, ...] | None = None
        self._columns = None  # (values, sources) 0/1 map, numpy
        self._limits = None  # (values,) the largest |value| each column may take: the physics' bound, else inf
        self._uploaded = {}  # device -> the map and the limits on it (torch)

    def _build(self, qpos, qvel, obs, states, reward_names) -> None:
        columns = [(PHYSICS[0], qpos.shape[-1]), (PHYSICS[1], qvel.shape[-1])]
        columns += _group_columns(self.task.observations, "obs", obs.shape[-1])
        if states is not None:
            columns += _group_columns(self.task.states, "critic", states.shape[-1])
        columns += [(f"reward/{name}", 1) for name in reward_names]
        names = [name for name, _ in columns]
        if len(set(names)) != len(names):  # two terms of one name: number them, so each is told apart
            names = [f"{name}#{index}" if names.count(name) > 1 else name for index, name in enumerate(names)]
        sizes = [size for _, size in columns]
        expected = qpos.shape[-1] + qvel.shape[-1] + obs.shape[-1] + (0 if states is None else states.shape[-1])
        if sum(sizes) != expected + len(reward_names):  # a layout that does not describe its group: one source
            raise ValueError(
                f"task {self.task.name!r}: its observation layout covers {sum(sizes) - len(reward_names)} values, "
                f"not the {expected} its terms return; the layout must list every term with its size"
            )
        matrix = np.zeros((sum(sizes), len(sizes)), np.float32)
        row = 0
        for index, size in enumerate(sizes):
            matrix[row : row + size, index] = 1.0
            row += size
        limits = np.full(sum(sizes), np.inf, np.float32)
        limits[: qpos.shape[-1] + qvel.shape[-1]] = self.task.max_physics_value
        self.names, self._columns, self._limits = tuple(names), matrix, limits

    def _map(self, xp, like):
        """(the column -> source map, the columns' limits) as arrays of `like`'s kind and device."""
        if xp.__name__ == "torch":
            device = str(like.device)
            if device not in self._uploaded:
                self._uploaded[device] = tuple(
                    xp.as_tensor(array, device=like.device) for array in (self._columns, self._limits)
                )
            return self._uploaded[device]
        return xp.asarray(self._columns), xp.asarray(self._limits)  # constants of the jitted step

    def sources(self, xp, qpos, qvel, obs, states, reward_terms: dict):
        """(N, sources + 1) bool: which source made each world non-finite this step (physics first), and in the
        last column whether any did. A physics value beyond the task's max_physics_value counts as non-finite."""
        if self.names is None:
            self._build(qpos, qvel, obs, states, list(reward_terms))
        parts = [qpos, qvel, obs] + ([] if states is None else [states])
        parts.append(xp.stack(list(reward_terms.values()), axis=-1))
        values = xp.concatenate(parts, axis=-1)
        columns, limits = self._map(xp, values)
        within = xp.isfinite(values) & (xp.abs(values) <= limits)
        bad = (xp.where(within, 0.0, 1.0) @ columns) > 0
        physics = bad[:, 0] | bad[:, 1]
        return xp.concatenate([bad[:, :2], bad[:, 2:] & ~physics[:, None], bad.any(-1)[:, None]], axis=-1)


def finite_or_zero(xp, values):
    """`values` with every NaN and inf replaced by zero (what a world that was just reset shows the agent where a
    term cannot be evaluated on its fresh state)."""
    return xp.where(xp.isfinite(values), values, 0.0)


def report(task_name: str, names: tuple[str, ...], counts: np.ndarray, max_fraction: float) -> dict:
    """The metrics of the (N, sources + 1) world-step counts since the last check (the last column: any source):
    `nonfinite/worlds` (world-steps reset for a non-finite value), `nonfinite/fraction` (the fraction of worlds that
    blew up at least once) and `nonfinite/<source>` (world-steps it made non-finite, for sources that did). Raises
    SimulationError when the fraction is above `max_fraction`."""
    num_envs = counts.shape[0]
    blown = counts[:, -1] > 0
    fraction = float(blown.mean()) if num_envs else 0.0
    per_source = counts.sum(0)
    metrics = {"nonfinite/worlds": int(per_source[-1]), "nonfinite/fraction": fraction}
    metrics.update({f"nonfinite/{name}": int(count) for name, count in zip(names, per_source[:-1]) if count})
    if fraction > max_fraction:
        worst = names[int((counts[:, :-1] > 0).sum(0).argmax())]
        raise SimulationError(
            f"simulation: {fraction:.0%} of the worlds of task {task_name!r} ({int(blown.sum())} of {num_envs}) went "
            f"NaN or inf in one update, most from {worst}, above trainer.max_nonfinite_fraction {max_fraction:g}; "
            "lower the timestep, the action scale or the gains, or fix that term"
        )
    return metrics
