"""A legged robot's policy observation computed from its exported metadata alone, in numpy.

What a program on the robot computes from its sensors, written once here so that sim2sim feeds the exported
policy exactly that: the metadata's `observation.terms` give the order, sizes, scales, clips and history of named
terms, `action.joints` the joint order, `action.offset` the default pose. Each term name has one definition below
(base frame: the floating base's; MuJoCo's free joint holds the base's linear velocity in the world frame and its
angular velocity in the base frame). A test holds this to the training engine's observation for the same state
and task state (command, last action). No torch, JAX or Warp: numpy only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class RobotReading(NamedTuple):
    """What the robot's sensors give each control step (state estimation included)."""

    base_quat: np.ndarray  # (4,) w, x, y, z: the base's orientation in the world
    base_lin_vel_world: np.ndarray  # (3,) m/s, world frame
    base_ang_vel: np.ndarray  # (3,) rad/s, base frame (a gyroscope)
    joint_pos: np.ndarray  # (joints,) rad, in the metadata's joint order
    joint_vel: np.ndarray  # (joints,) rad/s


def rotate_inverse(quat: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """A world-frame vector in the frame of the unit quaternion quat (w, x, y, z)."""
    w, u = quat[0], -np.asarray(quat[1:])
    return vector + 2.0 * np.cross(u, np.cross(u, vector) + w * vector)


def base_lin_vel(reading: RobotReading) -> np.ndarray:
    return rotate_inverse(reading.base_quat, reading.base_lin_vel_world)


# term name -> (reading, command, last action, default pose) -> values; the names the task tables export
TERMS = {
    "base_lin_vel": lambda r, command, last_action, default: base_lin_vel(r),  # m/s, base frame
    "base_ang_vel": lambda r, command, last_action, default: r.base_ang_vel,  # rad/s, base frame
    # the unit gravity direction in the base frame: (0, 0, -1) upright
    "projected_gravity": lambda r, command, last_action, default: rotate_inverse(
        r.base_quat, np.array([0.0, 0.0, -1.0])
    ),
    "command": lambda r, command, last_action, default: command,  # vx, vy (m/s, base frame), yaw rate (rad/s)
    "joint_pos": lambda r, command, last_action, default: r.joint_pos - default,  # rad, from the default pose
    "joint_vel": lambda r, command, last_action, default: r.joint_vel,  # rad/s
    "last_action": lambda r, command, last_action, default: last_action,  # the previous step's clipped action
}


class MujocoSensors:
    """RobotReading from a MuJoCo MjData: the free joint's position and velocity and the named joints', looked up
    by name in the model (so a model whose joints sit elsewhere is read right)."""

    def __init__(self, model, joint_names: list[str]):
        import mujoco

        free = [index for index in range(model.njnt) if int(model.jnt_type[index]) == int(mujoco.mjtJoint.mjJNT_FREE)]
        if len(free) != 1:
            raise ValueError(f"model: {len(free)} free joints is not allowed; a legged robot has one floating base")
        missing = [name for name in joint_names if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name) < 0]
        if missing:
            raise ValueError(f"action.joints: {missing[0]!r} is not a joint of the model")
        ids = [model.joint(name).id for name in joint_names]
        self.base_qpos, self.base_qvel = int(model.jnt_qposadr[free[0]]), int(model.jnt_dofadr[free[0]])
        self.joint_qpos = model.jnt_qposadr[ids].copy()
        self.joint_qvel = model.jnt_dofadr[ids].copy()

    def read(self, data) -> RobotReading:
        qpos, qvel, base, dof = data.qpos, data.qvel, self.base_qpos, self.base_qvel
        return RobotReading(
            qpos[base + 3 : base + 7].copy(),
            qvel[dof : dof + 3].copy(),
            qvel[dof + 3 : dof + 6].copy(),
            qpos[self.joint_qpos].copy(),
            qvel[self.joint_qvel].copy(),
        )


class PolicyObservation:
    """The metadata's observation layout, term by term: value * scale, clipped to +-clip where given. With
    `history_length` H > 1 the policy reads the last H such vectors, oldest first, as the task layer keeps them
    (filled with the episode's first vector at reset)."""

    def __init__(self, metadata: dict):
        observation = metadata["observation"]
        self.terms = observation["terms"]
        unknown = [term["name"] for term in self.terms if term["name"] not in TERMS]
        if unknown:
            raise ValueError(
                f"observation.terms: {unknown[0]!r} is not a term sim2sim computes; known: {', '.join(TERMS)}"
            )
        self.size = int(observation["size"])
        self.history_length = int(observation.get("history_length") or 1)
        total = sum(int(term["size"]) for term in self.terms) * self.history_length
        if total != self.size:
            times = f" x history_length {self.history_length}" if self.history_length > 1 else ""
            raise ValueError(f"observation.terms: sizes add up to {total}{times}, not observation.size {self.size}")
        self.default_pose = np.asarray(metadata["action"]["offset"], np.float64)
        self.frames: list[np.ndarray] = []

    def reset(self) -> None:
        """The first call after this starts the history afresh (an episode's start)."""
        self.frames = []

    def __call__(self, reading: RobotReading, command, last_action) -> np.ndarray:
        """(1, size) float32, the policy's input."""
        parts = []
        command = np.asarray(command, np.float64).reshape(-1)
        last_action = np.asarray(last_action, np.float64).reshape(-1)
        for term in self.terms:
            value = np.asarray(
                TERMS[term["name"]](reading, command, last_action, self.default_pose), np.float64
            ).reshape(-1)
            if value.size != term["size"]:
                raise ValueError(
                    f"observation term {term['name']!r}: {value.size} values, the metadata says {term['size']}"
                )
            value = value * term.get("scale", 1.0)
            if term.get("clip") is not None:
                value = np.clip(value, -term["clip"], term["clip"])
            parts.append(value)
        vector = np.concatenate(parts)
        self.frames = [*(self.frames or [vector] * self.history_length)[1:], vector]
        return np.concatenate(self.frames)[None].astype(np.float32)
