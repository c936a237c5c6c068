"""How far a legged robot's lowest floor-touching point lies below its base, for a joint pose: the lift a reset
needs so that no collision geom starts inside the floor.

Forward kinematics of the joint tree with the base upright at the origin (a reset turns the base about z only,
which moves no point up or down), written once against the array API (numpy, torch, jax.numpy), so the reset
event runs it on every engine and inside the compiled MJX reset. The constants come from the compiled model, read
once per robot (`for_model_spec`). Hinge joints only (every legged robot here); a mesh geom is bounded by its
bounding sphere.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import mujoco
import numpy as np

_SPHERE, _CAPSULE, _ELLIPSOID, _CYLINDER, _BOX = (
    int(mujoco.mjtGeom.mjGEOM_SPHERE),
    int(mujoco.mjtGeom.mjGEOM_CAPSULE),
    int(mujoco.mjtGeom.mjGEOM_ELLIPSOID),
    int(mujoco.mjtGeom.mjGEOM_CYLINDER),
    int(mujoco.mjtGeom.mjGEOM_BOX),
)


def _quat_to_mat(quat) -> np.ndarray:
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, np.asarray(quat, np.float64))
    return mat.reshape(3, 3)


def _floor_geoms(model, floor: int) -> list[int]:
    """Geoms that can collide with the floor: by contype/conaffinity, or by an explicit contact pair."""
    paired = {int(g) for p in range(model.npair) for g in (model.pair_geom1[p], model.pair_geom2[p])}
    touching = []
    for geom in range(model.ngeom):
        if geom == floor or model.geom_bodyid[geom] == 0:
            continue
        by_type = (model.geom_contype[geom] & model.geom_conaffinity[floor]) or (
            model.geom_conaffinity[geom] & model.geom_contype[floor]
        )
        by_pair = geom in paired and any(
            {int(model.pair_geom1[p]), int(model.pair_geom2[p])} == {geom, floor} for p in range(model.npair)
        )
        if by_type or by_pair:
            touching.append(geom)
    return touching


@dataclass(frozen=True)
class FloorClearance:
    """The joint tree below the base (bodies in tree order, each with at most one hinge) and the geoms that can
    touch the floor, as numpy constants."""

    parent: tuple[int, ...]  # per body, its parent's index in this tree (-1: the base)
    body_pos: np.ndarray  # (bodies, 3) in the parent's frame
    body_mat: np.ndarray  # (bodies, 3, 3)
    joint: tuple[int, ...]  # per body, its hinge's index among the actuated joints' qpos (-1: welded)
    joint_pos: np.ndarray  # (bodies, 3) the hinge's anchor in the body frame
    joint_axis: np.ndarray  # (bodies, 3)
    joint_ref: np.ndarray  # (bodies,) the hinge's qpos0: MuJoCo turns a hinge by qpos - qpos0
    geom_body: tuple[int, ...]  # per geom, its body's index in this tree (-1: the base)
    geom_type: tuple[int, ...]
    geom_pos: np.ndarray  # (geoms, 3) in the body frame
    geom_mat: np.ndarray  # (geoms, 3, 3)
    geom_size: np.ndarray  # (geoms, 3)
    geom_rbound: np.ndarray  # (geoms,)

    @classmethod
    def from_model(cls, model, base_body: int = 1, joint_qpos_start: int = 7, floor: str = "floor"):
        floor_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, floor)
        if floor_id < 0:
            raise ValueError(f"floor: {floor!r} is not a geom of the model")
        index = {base_body: -1}
        parent, joint, joint_pos, joint_axis, joint_ref, bodies = [], [], [], [], [], []
        for body in range(base_body + 1, model.nbody):  # MuJoCo numbers bodies parents first
            if model.body_parentid[body] not in index:
                continue  # not below the base
            index[body] = len(bodies)
            bodies.append(body)
            parent.append(index[model.body_parentid[body]])
            count, first = model.body_jntnum[body], model.body_jntadr[body]
            if count > 1 or (count == 1 and model.jnt_type[first] != mujoco.mjtJoint.mjJNT_HINGE):
                raise ValueError(f"body {model.body(body).name!r}: only one hinge joint per body is supported")
            joint.append(int(model.jnt_qposadr[first]) - joint_qpos_start if count else -1)
            joint_pos.append(model.jnt_pos[first] if count else np.zeros(3))
            joint_axis.append(model.jnt_axis[first] if count else np.zeros(3))
            joint_ref.append(model.qpos0[model.jnt_qposadr[first]] if count else 0.0)
        geoms = [geom for geom in _floor_geoms(model, floor_id) if model.geom_bodyid[geom] in index]
        return cls(
            parent=tuple(parent),
            body_pos=np.array([model.body_pos[b] for b in bodies]).reshape(-1, 3),
            body_mat=np.array([_quat_to_mat(model.body_quat[b]) for b in bodies]).reshape(-1, 3, 3),
            joint=tuple(joint),
            joint_pos=np.array(joint_pos).reshape(-1, 3),
            joint_axis=np.array(joint_axis).reshape(-1, 3),
            joint_ref=np.array(joint_ref),
            geom_body=tuple(index[int(model.geom_bodyid[g])] for g in geoms),
            geom_type=tuple(int(model.geom_type[g]) for g in geoms),
            geom_pos=np.array([model.geom_pos[g] for g in geoms]).reshape(-1, 3),
            geom_mat=np.array([_quat_to_mat(model.geom_quat[g]) for g in geoms]).reshape(-1, 3, 3),
            geom_size=np.array([model.geom_size[g] for g in geoms]).reshape(-1, 3),
            geom_rbound=np.array([model.geom_rbound[g] for g in geoms]),
        )

    @classmethod
    @functools.cache
    def for_model_spec(cls, model_spec, **kwargs) -> FloorClearance:
        """The clearance of the model a task builds (compiled once per process and builder)."""
        return cls.from_model(model_spec().compile(), **kwargs)

    def lowest_point(self, xp, joints):
        """(num_envs,) m: the height of the lowest point of the floor-touching geoms relative to the base's origin,
        base upright, for joint positions `joints` (num_envs, actuated joints) in qpos order."""

        def const(values):
            if xp.__name__ == "torch":
                return xp.tensor(np.asarray(values), dtype=joints.dtype, device=joints.device)
            return xp.asarray(np.asarray(values), dtype=joints.dtype)

        zero = joints[:, 0] * 0.0
        identity = zero[:, None, None] + const(np.eye(3))
        origin = zero[:, None] + const(np.zeros(3))
        rotation, position = [], []
        for k, up in enumerate(self.parent):
            parent_rot = identity if up < 0 else rotation[up]
            parent_pos = origin if up < 0 else position[up]
            rot = xp.einsum("nij,jk->nik", parent_rot, const(self.body_mat[k]))
            pos = parent_pos + xp.einsum("nij,j->ni", parent_rot, const(self.body_pos[k]))
            if self.joint[k] >= 0:  # a hinge about its axis through its anchor (Rodrigues)
                axis = self.joint_axis[k]
                cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
                angle = (joints[:, self.joint[k]] - float(self.joint_ref[k]))[:, None, None]
                hinge = const(np.eye(3)) + xp.sin(angle) * const(cross) + (1.0 - xp.cos(angle)) * const(cross @ cross)
                anchor = const(self.joint_pos[k])
                turned = xp.einsum("nij,nj->ni", hinge, anchor + zero[:, None])
                pos = pos + xp.einsum("nij,nj->ni", rot, anchor - turned)
                rot = xp.einsum("nij,njk->nik", rot, hinge)
            rotation.append(rot)
            position.append(pos)
        lows = []
        for g, body in enumerate(self.geom_body):
            body_rot = identity if body < 0 else rotation[body]
            body_pos = origin if body < 0 else position[body]
            centre = body_pos[:, 2] + xp.einsum("nj,j->n", body_rot[:, 2, :], const(self.geom_pos[g]))
            up = xp.einsum("nj,jk->nk", body_rot[:, 2, :], const(self.geom_mat[g]))  # world z in the geom's axes
            size, kind = self.geom_size[g], self.geom_type[g]
            if kind == _SPHERE:
                reach = zero + size[0]
            elif kind == _CAPSULE:
                reach = xp.abs(up[:, 2]) * size[1] + size[0]
            elif kind == _CYLINDER:
                reach = xp.abs(up[:, 2]) * size[1] + size[0] * xp.sqrt(xp.clip(1.0 - up[:, 2] * up[:, 2], 0.0, 1.0))
            elif kind == _BOX:
                reach = (xp.abs(up) * const(size)).sum(-1)
            elif kind == _ELLIPSOID:
                reach = xp.sqrt(((up * const(size)) ** 2).sum(-1))
            else:  # a mesh (or another shape): its bounding sphere
                reach = zero + self.geom_rbound[g]
            lows.append(centre - reach)
        return xp.amin(xp.stack(lows, axis=-1), -1)

    def lift(self, xp, joints, base_height: float, clearance: float = 0.0):
        """(num_envs,) m, >= 0: how much higher than `base_height` the base must be for the lowest floor-touching
        point to be at least `clearance` above a flat floor at height 0."""
        return xp.clip(clearance - base_height - self.lowest_point(xp, joints), 0.0, None)
