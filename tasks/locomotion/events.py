"""Velocity commands, pushes and resets of a locomotion task, as the per-world task state the engines carry.

`Locomotion` puts them together into what a TaskSpec takes: the task-state shapes, `finish_reset` (base pose
and velocity, joints around the default pose), `reset_state`, `advance` (the step's command timers and
resampling, heading control, foot contact and air time, pushes) and the counts of uniform numbers they read.
Everything random comes from the uniforms the engine draws, so both engines and the compiled MJX loop run it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from . import terms
from .clearance import FloorClearance
from .layout import LeggedLayout


def _check_range(name: str, value) -> None:
    if len(value) != 2 or not value[0] <= value[1]:
        raise ValueError(f"{name}: {tuple(value)!r} is not allowed; must be (low, high) with low <= high")


def _between(low, high, uniform):
    return low + (high - low) * uniform


@dataclass(frozen=True)
class VelocityCommands:
    """Base-velocity commands (vx, vy in the base frame, m/s; yaw rate, rad/s), drawn per world from these
    ranges and drawn again after a time uniform in `resample_s`. A `standing_fraction` of draws commands
    zero; a `heading_fraction` commands a heading instead of a yaw rate, turned into a yaw rate each step by
    `heading_stiffness` * heading error (clipped to the yaw-rate range)."""

    vx: tuple[float, float] = (-1.0, 1.0)
    vy: tuple[float, float] = (-0.5, 0.5)
    wz: tuple[float, float] = (-1.0, 1.0)
    resample_s: tuple[float, float] = (5.0, 10.0)
    standing_fraction: float = 0.1
    heading_fraction: float = 0.25
    heading_stiffness: float = 0.5

    UNIFORMS = 7  # vx, vy, wz, heading target, standing?, heading?, next resampling time

    def __post_init__(self):
        for name in ("vx", "vy", "wz", "resample_s"):
            _check_range(f"commands.{name}", getattr(self, name))
        if self.resample_s[0] <= 0:
            raise ValueError(f"commands.resample_s: {self.resample_s!r} is not allowed; times must be > 0")
        for name in ("standing_fraction", "heading_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"commands.{name}: {getattr(self, name)!r} is not allowed; must be in [0, 1]")

    def metadata(self) -> dict:
        """The command layout and ranges, as an exported policy's metadata carries them."""
        return {
            "names": ["vx", "vy", "wz"],
            "units": ["m/s", "m/s", "rad/s"],
            "frame": "base: vx forward, vy left, wz the yaw rate",
            "vx": list(self.vx),
            "vy": list(self.vy),
            "wz": list(self.wz),
            "resample_s": list(self.resample_s),
            "standing_fraction": self.standing_fraction,
            "heading_fraction": self.heading_fraction,
            "heading_stiffness": self.heading_stiffness,
        }

    def draw(self, xp, u):
        """{command, heading, mode, command_timer} from 7 uniform columns. mode: (standing, heading) as 0/1."""
        standing = (u[:, 4] < self.standing_fraction) * 1.0
        heading_mode = (u[:, 5] < self.heading_fraction) * (1.0 - standing)
        command = xp.stack(
            [_between(*self.vx, u[:, 0]), _between(*self.vy, u[:, 1]), _between(*self.wz, u[:, 2])], axis=-1
        )
        return {
            "command": command * (1.0 - standing)[:, None],
            "heading": _between(-math.pi, math.pi, u[:, 3:4]),
            "mode": xp.stack([standing, heading_mode], axis=-1),
            "command_timer": _between(*self.resample_s, u[:, 6:7]),
        }

    def step(self, xp, s, before: dict, u) -> dict:
        """The commands after one step: timers count down, expired ones draw again, heading worlds steer."""
        timer = before["command_timer"] - s.dt
        expired = timer[:, 0] <= 0.0
        drawn = self.draw(xp, u)
        out = {name: xp.where(expired[:, None], drawn[name], before[name]) for name in drawn}
        heading_error = terms.wrap_angle(xp, out["heading"][:, 0] - terms.yaw(xp, terms.base_quat(s)))
        steer = xp.clip(self.heading_stiffness * heading_error, self.wz[0], self.wz[1])
        heading_mode = out["mode"][:, 1] > 0.5
        wz = xp.where(heading_mode, steer, out["command"][:, 2])
        out["command"] = xp.concatenate([out["command"][:, :2], wz[:, None]], axis=-1)
        out["command_timer"] = xp.where(expired[:, None], drawn["command_timer"], timer)
        return out


@dataclass(frozen=True)
class Pushes:
    """Interval event: every `interval_s` (uniform) seconds, a world's base gets a horizontal velocity kick
    uniform in +-velocity (m/s) per axis."""

    interval_s: tuple[float, float] = (1.0, 3.0)
    velocity: float = 0.5

    UNIFORMS = 3  # kick x, kick y, next interval

    def __post_init__(self):
        _check_range("pushes.interval_s", self.interval_s)
        if self.interval_s[0] <= 0 or self.velocity < 0:
            raise ValueError(
                f"pushes: interval_s {self.interval_s!r} / velocity {self.velocity!r} is not allowed; "
                "intervals must be > 0 and the velocity >= 0"
            )


@dataclass(frozen=True)
class ResetRanges:
    """Reset event: the base at the default height (lifted where the joint pose would put a collision geom into
    the floor: `Locomotion.base_lift`), x, y uniform in +-position (m), yaw uniform in +-yaw (rad); joints at the
    default pose plus uniform +-joint (rad); base linear and angular velocity uniform in +-velocity (m/s, rad/s)."""

    position: float = 0.5
    yaw: float = math.pi
    joint: float = 0.1
    velocity: float = 0.2


@dataclass(frozen=True)
class Locomotion:
    """The task state and events of one velocity-command locomotion task (pushes None: off)."""

    layout: LeggedLayout
    commands: VelocityCommands = field(default_factory=VelocityCommands)
    pushes: Pushes | None = field(default_factory=Pushes)
    reset: ResetRanges = field(default_factory=ResetRanges)
    uniform_offset: int = 0  # where this task's step uniforms start (observation noise takes the others)
    model_spec: Callable | None = None  # the robot's model builder: resets lift the base clear of the floor (None: off)

    # ---- declarations for the TaskSpec ----
    @property
    def task_state(self) -> dict:
        joints, feet = self.layout.num_joints, self.layout.num_feet
        return {
            "command": (3,),
            "heading": (1,),
            "mode": (2,),
            "command_timer": (1,),
            "last_action": (joints,),
            "contact": (feet,),
            "first_contact": (feet,),
            "air_time": (feet,),
            "last_air_time": (feet,),
            "push_timer": (1,),
        }

    @property
    def step_uniforms(self) -> int:
        return VelocityCommands.UNIFORMS + Pushes.UNIFORMS

    @property
    def reset_uniforms(self) -> int:
        return 3 + self.layout.num_joints + 6 + VelocityCommands.UNIFORMS + 1

    # ---- reset ----
    def base_lift(self, xp, joints):
        """(num_envs,) m, >= 0: how far above `layout.base_height` the upright base must start for no collision geom
        to be inside a flat floor in this joint pose (joints: (num_envs, actuated joints), qpos order). Joint noise
        around the default pose reaches centimetres into the floor otherwise, from which a solver at few
        iterations (C MuJoCo at training's 4) can blow up."""
        if self.model_spec is None:
            return joints[:, 0] * 0.0
        clearance = FloorClearance.for_model_spec(
            self.model_spec, base_body=self.layout.base_body, joint_qpos_start=self.layout.joint_qpos_start
        )
        return clearance.lift(xp, joints, self.layout.base_height)

    def finish_reset(self, xp, qpos, qvel, u):
        layout, ranges = self.layout, self.reset
        n_joints = layout.num_joints
        joints = terms._constant(xp, qpos, layout.default_pose) + _between(
            -ranges.joint, ranges.joint, u[:, 3 : 3 + n_joints]
        )
        yaw = _between(-ranges.yaw, ranges.yaw, u[:, 2])
        zero = yaw * 0.0
        base = xp.stack(
            [
                _between(-ranges.position, ranges.position, u[:, 0]),
                _between(-ranges.position, ranges.position, u[:, 1]),
                zero + layout.base_height + self.base_lift(xp, joints),
                xp.cos(yaw / 2),
                zero,
                zero,
                xp.sin(yaw / 2),
            ],
            axis=-1,
        )
        velocity = _between(-ranges.velocity, ranges.velocity, u[:, 3 + n_joints : 9 + n_joints])
        qpos = xp.concatenate([base, joints, qpos[:, 7 + n_joints :]], axis=-1)
        qvel = xp.concatenate([velocity, qvel[:, 6:] * 0.0], axis=-1)
        return qpos, qvel

    def reset_state(self, xp, u) -> dict:
        start = 9 + self.layout.num_joints
        state = self.commands.draw(xp, u[:, start : start + VelocityCommands.UNIFORMS])
        state["contact"] = xp.ones_like(u[:, : self.layout.num_feet])  # standing on all feet
        if self.pushes is not None:
            column = start + VelocityCommands.UNIFORMS  # the last of this event's reset uniforms
            state["push_timer"] = _between(*self.pushes.interval_s, u[:, column : column + 1])
        return state

    # ---- one step ----
    def advance(self, xp, s):
        before, u = s.task_before, s.uniform[:, self.uniform_offset :]
        state = dict(before)
        state.update(self.commands.step(xp, s, before, u[:, : VelocityCommands.UNIFORMS]))
        state["last_action"] = s.action
        contact = terms.foot_contact(xp, s, self.layout) * 1.0
        air_time = before["air_time"] + s.dt
        first_contact = contact * (1.0 - before["contact"])
        state.update(
            contact=contact,
            first_contact=first_contact,
            air_time=air_time * (1.0 - contact),
            last_air_time=xp.where(first_contact > 0, air_time, before["last_air_time"]),
        )
        kicked_qvel = None
        if self.pushes is not None:
            p = u[:, VelocityCommands.UNIFORMS :]
            timer = before["push_timer"] - s.dt
            push = (timer <= 0.0) * 1.0
            kick = _between(-self.pushes.velocity, self.pushes.velocity, p[:, :2]) * push
            kicked_qvel = xp.concatenate([s.qvel[:, :2] + kick, s.qvel[:, 2:]], axis=-1)
            state["push_timer"] = xp.where(push > 0, _between(*self.pushes.interval_s, p[:, 2:3]), timer)
        return state, kicked_qvel
