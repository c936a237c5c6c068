"""An mp4 of a MuJoCo model's states, rendered offscreen with mujoco.Renderer (MUJOCO_GL=egl or osmesa).

Shared by launch/play.py (world 0 of a VecEnv) and launch/sim2sim.py (one C MuJoCo world); it imports neither
torch, JAX nor Warp, so sim2sim stays free of them.
"""

from __future__ import annotations

import mujoco


class VideoRecorder:
    """Renders the given qpos (and qvel) on its own MjData of `model`, one frame per capture, and writes the
    frames to `path` at `fps` frames per second."""

    def __init__(self, model, path: str, width: int, height: int, camera: str | None, fps: float):
        self.model, self.path, self.frames = model, path, []
        self.data = mujoco.MjData(model)
        self.renderer = mujoco.Renderer(model, height, width)
        self.camera = camera if camera is not None else (0 if model.ncam else -1)
        self.fps = max(int(round(fps)), 1)

    def capture(self, qpos, qvel=None) -> None:
        self.data.qpos[:] = qpos
        if qvel is not None:
            self.data.qvel[:] = qvel
        mujoco.mj_forward(self.model, self.data)
        self.renderer.update_scene(self.data, camera=self.camera)
        self.frames.append(self.renderer.render())

    def write(self) -> str:
        import imageio.v2 as imageio

        with imageio.get_writer(
            self.path, fps=self.fps, codec="libx264", macro_block_size=1, ffmpeg_log_level="error"
        ) as writer:
            for frame in self.frames:
                writer.append_data(frame)
        self.renderer.close()
        return self.path
