"""What a program outside simtrain needs to know to run a task's exported policy: the model, the control period,
the observation and action layouts, the actuators, joints and gains. Written into the exported policy's metadata.

Derived from the TaskSpec and the compiled MjModel; a task adds or replaces fields (commands and their ranges,
observation terms, its robot) with its `TaskSpec.metadata` dict, merged over the derived ones (nested dicts key by
key), and its joint-position actions (`TaskSpec.joint_actions`) set the action's target, scale, offset and gains.
"""

from __future__ import annotations

import inspect
import os

import numpy as np

from .task import TaskSpec, load_model

_INTEGRATORS = {0: "Euler", 1: "RK4", 2: "implicit", 3: "implicitfast"}


def _floats(values) -> list:
    return [float(value) for value in np.asarray(values).ravel()]


def _actuators(model) -> dict:
    """Actuator and joint names in action order, gear, and position-actuator gains (kp, kv) where MuJoCo's
    affine bias makes an actuator a PD controller (biasprm = [0, -kp, -kv])."""
    import mujoco

    joints, stiffness, damping = [], [], []
    for index in range(model.nu):
        on_joint = int(model.actuator_trntype[index]) in (
            int(mujoco.mjtTrn.mjTRN_JOINT),
            int(mujoco.mjtTrn.mjTRN_JOINTINPARENT),
        )
        joints.append(model.joint(int(model.actuator_trnid[index, 0])).name if on_joint else None)
        kp, bias = model.actuator_gainprm[index, 0], model.actuator_biasprm[index]
        is_position = (
            int(model.actuator_biastype[index]) == int(mujoco.mjtBias.mjBIAS_AFFINE) and bias[1] == -kp and kp > 0
        )
        stiffness.append(float(kp) if is_position else None)
        damping.append(float(-bias[2]) if is_position else None)
    joint_ids = [int(model.actuator_trnid[index, 0]) for index in range(model.nu) if joints[index] is not None]
    return {
        "actuators": [model.actuator(index).name or f"actuator_{index}" for index in range(model.nu)],
        "joints": joints,
        "gear": _floats(model.actuator_gear[:, 0]),
        "stiffness": stiffness if any(value is not None for value in stiffness) else None,
        "damping": damping if any(value is not None for value in damping) else None,
        "default_joint_pos": _floats(model.qpos0[model.jnt_qposadr[joint_ids]]) if len(joint_ids) == model.nu else None,
    }


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = (
            _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def task_metadata(task: TaskSpec, model=None) -> dict:
    model = load_model(task) if model is None else model
    observation_size = int(np.prod(task.observation_space.shape))  # the policy's input: all its history
    action_space = task.single_action_space
    control_period = float(model.opt.timestep) * task.frame_skip
    actuators = _actuators(model)
    metadata = {
        "task": task.name,
        "model": {
            "mjcf": str(task.mjcf) if task.mjcf else None,
            "file": os.path.basename(str(task.mjcf)) if task.mjcf else None,
            # where the model is built at load (from MuJoCo Menagerie, read under MENAGERIE_ROOT), with its edits
            "builder": f"{task.model_spec.__module__}.{task.model_spec.__qualname__}" if task.model_spec else None,
            "nq": int(model.nq),
            "nv": int(model.nv),
            "nu": int(model.nu),
            "edited_at_load": task.edit_model is not None or task.model_spec is not None,
            "integrator": _INTEGRATORS.get(int(model.opt.integrator), int(model.opt.integrator)),
        },
        "control": {
            "period": control_period,
            "frequency": 1.0 / control_period,
            "frame_skip": task.frame_skip,
            "physics_timestep": float(model.opt.timestep),
        },
        "episode": {"max_steps": task.max_episode_steps, "solved_return": task.solved_return},
        "observation": {
            "size": observation_size,
            "history_length": task.observation_history,
            "scale": None,
            "clip": None,
            "noise": None,
            "terms": [
                {
                    "name": "observations",
                    "size": observation_size,
                    "description": inspect.cleandoc(task.observations.__doc__ or ""),
                }
            ],
        },
        "action": {
            "size": int(np.prod(action_space.shape)),
            "kind": "continuous",
            "target": "ctrl",
            "low": _floats(action_space.low),
            "high": _floats(action_space.high),
            "scale": [1.0] * model.nu,
            "offset": [0.0] * model.nu,
            "to_ctrl": "ctrl = offset + scale * clip(actions, low, high), held for frame_skip physics steps",
            **actuators,
        },
        "commands": None,
    }
    return _merge(metadata, _task_layer(task))


def _task_layer(task: TaskSpec) -> dict:
    """What a task declares: joint-position actions (targets around a default pose, PD gains), then its metadata
    (observation layout, commands, robot, ...) over them."""
    extra = {}
    joints = task.joint_actions
    if joints is not None:
        extra["action"] = {
            "target": "joint_position",
            "joints": list(joints.joint_names),
            "offset": list(joints.default_pose),
            "scale": list(joints.scale),
            "default_joint_pos": list(joints.default_pose),
            "stiffness": list(joints.stiffness),
            "damping": list(joints.damping),
            "to_ctrl": "joint targets = offset + scale * clip(actions, low, high), held for frame_skip physics steps; "
            "torque = stiffness * (target - q) - damping * qdot",
        }
    declared = {key: value for key, value in task.metadata.items() if key != "observation_layout"}
    if "observation_layout" in task.metadata:
        declared = _merge(declared, {"observation": {"terms": task.metadata["observation_layout"]}})
    return _merge(extra, declared)
