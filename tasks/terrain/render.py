"""Pictures of a terrain configuration: its height field rendered offscreen from above and in perspective."""

from __future__ import annotations

import mujoco
import numpy as np

from .config import TerrainConfig
from .curriculum import terrain_of
from .model import add_terrain


def _terrain_model(config: TerrainConfig) -> mujoco.MjModel:
    spec = mujoco.MjSpec()
    spec.visual.headlight.ambient = [0.25, 0.25, 0.25]
    spec.visual.headlight.diffuse = [0.35, 0.35, 0.35]
    spec.visual.global_.offwidth, spec.visual.global_.offheight = 4096, 4096
    spec.visual.map.zfar = 500.0
    spec.add_texture(
        name="grid",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        rgb1=[0.55, 0.6, 0.66],
        rgb2=[0.4, 0.45, 0.5],
        width=512,
        height=512,
    )
    # one checker square per patch (a checker texture is two squares across)
    repeat = 1.0 / (2 * config.patch_size)
    material = spec.add_material(name="grid", texrepeat=[repeat, repeat], texuniform=True)
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "grid"
    add_terrain(spec, terrain_of(config))
    spec.geoms[0].material = "grid"
    spec.geoms[0].rgba = [1, 1, 1, 1]
    return spec.compile()


def render_views(config: TerrainConfig, width: int, height: int) -> np.ndarray:
    """(height, 2 * width, 3) uint8: the terrain from straight above, and in perspective from a corner."""
    model = _terrain_model(config)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    terrain = terrain_of(config)
    half_x, half_y = terrain.half_extent
    views = []
    fit = np.tan(np.radians(22.5))  # MuJoCo's free camera: 45 degrees of vertical field of view
    with mujoco.Renderer(model, height, width) as renderer:
        # from above (x, the levels, up the picture; y, the columns, across), then from a corner, nearer
        for azimuth, elevation, distance in ((0.0, -90.0, 1.05), (150.0, -35.0, 0.75)):
            camera = mujoco.MjvCamera()
            camera.lookat[:] = [0.0, 0.0, 0.0]
            camera.azimuth, camera.elevation = azimuth, elevation
            camera.distance = distance * max(half_x, half_y * height / width) / fit
            renderer.update_scene(data, camera=camera)
            views.append(renderer.render())
    return np.concatenate(views, axis=1)


def render_terrain(config: TerrainConfig, path: str, width: int, height: int) -> str:
    import imageio.v2 as imageio

    imageio.imwrite(path, render_views(config, width, height))
    return path
