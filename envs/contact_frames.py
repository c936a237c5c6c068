"""MuJoCo's plane-capsule contact frame, on MuJoCo Warp and MJX.

C MuJoCo (what gymnasium steps) takes a plane-capsule contact's first tangent along the capsule's axis projected
on the plane, however steep the capsule (mjc_PlaneCapsule, then mju_makeFrame). mujoco_warp 4.0 and MJX 3.17 use
that tangent only while the projection is at least half the axis' length and fall back to a fixed world axis for
capsules within 30 degrees of the plane's normal. With a pyramidal friction cone (the default) the friction
directions are physics, not convention: on ant, a leg touching down steeply then gets different contact forces
(measured: joint accelerations off by up to 50 in half of a random 100-step trajectory). These wrap each engine's
collision function to rewrite those frames as C MuJoCo does, after the engine's own collision detection, so
every caller of it (forward, the RK4 stages) gets them. Applied once, on first use of an engine.
"""

from __future__ import annotations

import mujoco

PLANE, CAPSULE = int(mujoco.mjtGeom.mjGEOM_PLANE), int(mujoco.mjtGeom.mjGEOM_CAPSULE)
_installed: set[str] = set()


def install_warp() -> None:
    """Wrap mujoco_warp's collision driver (called by fwd_position, hence by every forward and RK4 stage)."""
    if "warp" in _installed:
        return
    import warp as wp
    from mujoco_warp._src import collision_driver

    @wp.kernel
    def plane_capsule_frames(
        geom_type: wp.array(dtype=int),
        geom_xmat: wp.array2d(dtype=wp.mat33),
        nacon: wp.array(dtype=int),
        contact_geom: wp.array(dtype=wp.vec2i),
        contact_worldid: wp.array(dtype=int),
        contact_frame: wp.array(dtype=wp.mat33),
    ):
        cid = wp.tid()
        if cid >= nacon[0]:
            return
        geoms = contact_geom[cid]
        if geom_type[geoms[0]] != PLANE or geom_type[geoms[1]] != CAPSULE:
            return
        frame = contact_frame[cid]
        n = wp.vec3(frame[0, 0], frame[0, 1], frame[0, 2])
        rot = geom_xmat[contact_worldid[cid], geoms[1]]
        axis = wp.vec3(rot[0, 2], rot[1, 2], rot[2, 2])
        b = axis - n * wp.dot(n, axis)
        if wp.length(b) < 1.0e-6:  # capsule along the normal: C MuJoCo's fallback of a zero vector
            b = wp.vec3(1.0, 0.0, 0.0) - n * n[0]
        b = wp.normalize(b)
        c = wp.cross(n, b)
        contact_frame[cid] = wp.mat33(n[0], n[1], n[2], b[0], b[1], b[2], c[0], c[1], c[2])

    engine_collision = collision_driver.collision

    def collision(m, d, *args, **kwargs):
        engine_collision(m, d, *args, **kwargs)
        wp.launch(
            plane_capsule_frames,
            dim=d.naconmax,
            inputs=[m.geom_type, d.geom_xmat, d.nacon, d.contact.geom, d.contact.worldid],
            outputs=[d.contact.frame],
        )

    collision_driver.collision = collision
    _installed.add("warp")


def install_mjx() -> None:
    """Wrap MJX's collision driver (called by mjx.forward, hence by every step and RK4 stage)."""
    if "mjx" in _installed:
        return
    import jax.numpy as jnp
    from mujoco.mjx._src import collision_driver

    engine_collision = collision_driver.collision

    def collision(m, d):
        d = engine_collision(m, d)
        contact = d._impl.contact
        if contact.geom.shape[0] == 0:
            return d
        types = jnp.asarray(m.geom_type)[contact.geom]
        plane_capsule = (types[:, 0] == PLANE) & (types[:, 1] == CAPSULE)
        n = contact.frame[:, 0]
        axis = d.geom_xmat[contact.geom[:, 1], :, 2]
        b = axis - n * jnp.sum(n * axis, axis=-1, keepdims=True)
        steep = jnp.linalg.norm(b, axis=-1, keepdims=True) < 1e-6
        b = jnp.where(steep, jnp.array([1.0, 0.0, 0.0]) - n * n[:, :1], b)
        b = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
        frame = jnp.stack([n, b, jnp.cross(n, b)], axis=1)
        frame = jnp.where(plane_capsule[:, None, None], frame, contact.frame)
        return d.tree_replace({"_impl.contact": contact.replace(frame=frame)})

    collision_driver.collision = collision
    _installed.add("mjx")
