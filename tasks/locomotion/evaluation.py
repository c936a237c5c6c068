"""What play.py changes in a velocity-command task to evaluate a policy, as task state the engines carry on the
device (the compiled MJX step included): a velocity command held for the whole play, and each world's
velocity-tracking error summed over its episode.

The tracking error is sim2sim.py's: per step, |command_xy - v_xy| (the norm of the planar velocity error, m/s,
base frame) and |command_wz - w_z| (rad/s), for the command in effect during the step and the state it reached;
an episode's error is their mean over its steps.
"""

from __future__ import annotations

import dataclasses

from envs import TaskSpec

from . import terms

TRACKING_ERROR = "tracking_error_sum"  # (2,) per world: the episode's summed linear (m/s) and yaw-rate (rad/s) errors
NEVER_S = 1e9  # a resampling timer that never runs out


def takes_commands(task: TaskSpec) -> bool:
    """Whether the task keeps a velocity command in its task state (VelocityCommands)."""
    return "command" in task.task_state


def _filled(xp, like, values):
    """(num_envs, len(values)) on `like`'s device and dtype."""
    zero = (like.sum(-1) * 0.0)[:, None]
    if xp.__name__ == "torch":
        return zero + xp.tensor(values, dtype=zero.dtype, device=zero.device)
    return zero + xp.asarray(values, dtype=zero.dtype)


def hold_command(task: TaskSpec, command) -> TaskSpec:
    """The task with every world's command held at `command` (vx, vy m/s, yaw rate rad/s) from its reset on: the
    command written over what the task's reset and advance give, its resampling timer never running out, and the
    standing and heading modes off (the held yaw rate is the command, not a heading's)."""
    held = {"command": tuple(float(value) for value in command)}
    if "command_timer" in task.task_state:
        held["command_timer"] = (NEVER_S,)
    if "mode" in task.task_state:
        held["mode"] = (0.0,) * task.task_state["mode"][0]
    reset_state, advance = task.reset_state, task.advance

    def held_reset_state(xp, uniform):
        fresh = reset_state(xp, uniform) if reset_state is not None else {}
        return {**fresh, **{name: _filled(xp, uniform, values) for name, values in held.items()}}

    def held_advance(xp, s):
        state, kicked_qvel = advance(xp, s) if advance is not None else ({}, None)
        return {**state, **{name: _filled(xp, s.qpos, values) for name, values in held.items()}}, kicked_qvel

    return dataclasses.replace(task, reset_state=held_reset_state, advance=held_advance)


def with_tracking_error(task: TaskSpec) -> TaskSpec:
    """The task with TRACKING_ERROR in its task state: zero at a world's reset, each step's errors added to it."""
    advance = task.advance

    def tracking_advance(xp, s):
        state, kicked_qvel = advance(xp, s) if advance is not None else ({}, None)
        command = s.task_before["command"]  # the command the policy was given during this step
        planar = command[:, :2] - terms.base_lin_vel(xp, s)[:, :2]
        errors = xp.stack(
            [xp.sqrt((planar * planar).sum(-1)), xp.abs(command[:, 2] - terms.base_ang_vel(xp, s)[:, 2])], axis=-1
        )
        return {**state, TRACKING_ERROR: s.task_before[TRACKING_ERROR] + errors}, kicked_qvel

    return dataclasses.replace(task, task_state={**task.task_state, TRACKING_ERROR: (2,)}, advance=tracking_advance)


def without_pushes(task: TaskSpec) -> TaskSpec:
    """The task with its interval events (pushes) drawn but not acting on the worlds, as sim2sim.py's default."""
    advance = task.advance
    if advance is None:
        return task

    def unpushed_advance(xp, s):
        state, _ = advance(xp, s)
        return state, None

    return dataclasses.replace(task, advance=unpushed_advance)
