"""A rough-terrain task made from a flat velocity task: its tables plus the height scan, the terrain and its
curriculum. Nothing of the flat task is copied: its tables are extended and its TaskSpec replaced field by field."""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np

from envs import TaskSpec

from ..locomotion import terms
from ..mdp_tables import ObservationGroup, ObsTerm, RewardTable, TerminationTable
from .config import TerrainConfig
from .curriculum import TerrainCurriculum, base_height_above_terrain, fallen_on_terrain
from .scan import HeightScan, height_scan

SCAN_NOISE = 0.1  # m, uniform, as Isaac Lab's rough tasks
# flat-ground rewards a rough task drops: a level base is wrong on a slope or a stair (Isaac Lab's rough tasks weigh
# flat_orientation 0)
FLAT_ONLY_REWARDS = ("flat_orientation",)


def unbounded_box(size: int) -> gym.spaces.Box:
    """An observation group's space: `size` float32 values, unbounded."""
    return gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)


def rough_rewards(flat: RewardTable) -> RewardTable:
    """A flat task's reward table without the terms that only hold on flat ground."""
    terms = {name: term for name, term in flat.terms.items() if name not in FLAT_ONLY_REWARDS}
    return dataclasses.replace(flat, terms=terms)  # its other settings (only_positive) kept


@dataclasses.dataclass(frozen=True)
class RoughTables:
    """The rough task's tables, from the flat task's `mdp` module (its POLICY, CRITIC, TERMINATIONS, and EVENTS unless
    `events` is given: a configuration's commands, pushes and resets)."""

    policy: ObservationGroup
    critic: ObservationGroup
    terminations: TerminationTable
    events: object  # the flat task's Locomotion, its step uniforms after the scan's noise
    curriculum: TerrainCurriculum

    @classmethod
    def of(cls, flat_mdp, terrain: TerrainConfig, scan: HeightScan, events=None) -> "RoughTables":
        scan_term = ObsTerm(
            "height_scan",
            partial(height_scan, scan=scan, terrain=terrain),
            scan.num_rays,
            noise=SCAN_NOISE,
            clip=scan.clip,
        )
        policy = ObservationGroup((*flat_mdp.POLICY.terms, scan_term))
        policy_names = {term.name for term in flat_mdp.POLICY.terms}
        privileged = [
            dataclasses.replace(term, term=partial(base_height_above_terrain, terrain=terrain))
            if term.name == "base_height"
            else term
            for term in flat_mdp.CRITIC.terms
            if term.name not in policy_names
        ]
        critic = ObservationGroup((*policy.terms, *privileged), noise=False)
        flat_fallen = flat_mdp.TERMINATIONS.terms["fallen"]
        terminations = TerminationTable(
            {
                **flat_mdp.TERMINATIONS.terms,
                "fallen": partial(fallen_on_terrain, terrain=terrain, **flat_fallen.keywords),
            }
        )
        events = dataclasses.replace(flat_mdp.EVENTS if events is None else events, uniform_offset=policy.uniform_count)
        curriculum = TerrainCurriculum(terrain, uniform_offset=events.reset_uniforms)
        return cls(policy, critic, terminations, events, curriculum)

    def advance(self, xp, s):
        state, kicked_qvel = self.events.advance(xp, s)
        return self.curriculum.advance(xp, s, state), kicked_qvel


def rough_task(
    flat: TaskSpec,
    flat_mdp,
    name: str,
    terrain: TerrainConfig,
    scan: HeightScan,
    model_spec,
    render_model_spec,
    agent_cfg: Path,
    nconmax: int,
    njmax: int,
    events=None,
) -> TaskSpec:
    """The flat task on `terrain`, its policy and critic reading `scan`; MuJoCo Warp's contact and constraint
    buffers sized for the height field (every colliding geom is a broadphase candidate against it, and a geom can
    touch it at several points). `events`: the flat task's (a Locomotion) as configured (None: flat_mdp.EVENTS)."""
    tables = RoughTables.of(flat_mdp, terrain, scan, events)
    check_platform(terrain, tables.events.reset.position, task=name)
    return dataclasses.replace(
        flat,
        name=name,
        model_spec=model_spec,
        render_model_spec=render_model_spec,
        observations=tables.policy,
        single_observation_space=unbounded_box(tables.policy.size),
        states=tables.critic,
        single_state_space=unbounded_box(tables.critic.size),
        terminated=tables.terminations,
        task_state={**tables.events.task_state, **tables.curriculum.task_state},
        finish_reset=tables.events.finish_reset,
        reset_state=tables.events.reset_state,
        reset_uniforms=tables.events.reset_uniforms + TerrainCurriculum.UNIFORMS,
        reset_from_previous=tables.curriculum.reset,
        advance=tables.advance,
        step_uniforms=tables.policy.uniform_count + tables.events.step_uniforms,
        metrics=tables.curriculum.metrics,
        metadata={**flat.metadata, "observation_layout": tables.policy.layout(), "height_scan": scan_metadata(scan)},
        agent_cfg=agent_cfg,
        nconmax=nconmax,
        njmax=njmax,
    )


def check_platform(terrain: TerrainConfig, reset_position: float, task: str | None = None) -> None:
    """One line unless a world spawned anywhere the reset places it (+-`reset_position` m around the patch's centre)
    stands on the patch's flat platform."""
    if reset_position + 0.5 > terrain.platform / 2 + 1e-9:
        raise ValueError(
            f"terrain.platform: {terrain.platform!r} is not allowed{f' for {task!r}' if task else ''}; the reset's "
            f"+-{reset_position} m (reset.position) plus the robot's 0.5 m must fit in half of it"
        )


def _zeros(xp, s, size: int):
    """(num_envs, size) zeros."""
    return s.qpos[:, :1] * 0.0 + terms._constant(xp, s.qpos, (0.0,) * size)


def without_height_scan(task: TaskSpec) -> dict:
    """TaskSpec overrides that replace a rough task's height scan by zeros of the same size in every group (for
    measuring what the scan costs: `bench.py --no-height-scan`)."""

    def replaced(group):
        return dataclasses.replace(
            group,
            terms=tuple(
                dataclasses.replace(term, term=partial(_zeros, size=term.size), noise=0.0)
                if term.name == "height_scan"
                else term
                for term in group.terms
            ),
        )

    if not any(term.name == "height_scan" for term in getattr(task.observations, "terms", ())):
        raise ValueError(f"--no-height-scan: task {task.name!r} has no height scan; choose a rough task")
    return {"observations": replaced(task.observations), "states": replaced(task.states)}


def terrain_config(task: TaskSpec) -> TerrainConfig:
    """The terrain configuration a rough task was made with; one line for a task without a terrain."""
    curriculum = getattr(task.reset_from_previous, "__self__", None)
    if not isinstance(curriculum, TerrainCurriculum):
        raise ValueError(f"task: {task.name!r} has no terrain; choose a rough task (go1-rough, g1-rough)")
    return curriculum.config


def scan_metadata(scan: HeightScan) -> dict:
    """What an exported policy's user needs to compute the scan: its grid (base yaw frame) and offset."""
    return {
        "size": list(scan.size),
        "resolution": scan.resolution,
        "shape": list(scan.shape),
        "offset": scan.offset,
        "clip": scan.clip,
        "order": "x-major: x from back to front, y from right to left, in the base's yaw frame",
    }
