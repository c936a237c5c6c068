"""Run an exported policy in plain C MuJoCo: `python launch/sim2sim.py --policy RUN/exported/policy.onnx`.

One world on the CPU (`mujoco.MjData`, the task's MJCF), observations from the model in numpy (the task's own
terms, evaluated with numpy as their array module), the policy through onnxruntime. No torch, JAX or Warp is
imported: a policy that behaves here as it did in training is a file that does what the trainer's policy did.
Prints each episode's return and length and how many ended early (terminated: a fall, for a robot), and can
record the first episode to an mp4 with MuJoCo's renderer.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass

import numpy as np
import tyro

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FRAMEWORK_MODULES = ("torch", "jax", "jaxlib", "warp", "mujoco_warp", "mujoco.mjx")


@dataclass
class Sim2SimArgs:
    policy: str
    """an exported policy.onnx (launch/export.py); its metadata names the task"""
    episodes: int = 5
    seed: int = 0
    """seed of the reset noise (numpy's generator)"""
    max_steps: int | None = None
    """cut episodes at this many steps (default: the task's time limit)"""
    video: str | None = None
    """write the first episode to this mp4 file"""
    width: int = 640
    height: int = 480
    camera: str | None = None
    """MJCF camera name (default: the model's first camera, else the free camera)"""


class OnnxPolicy:
    """An exported policy in onnxruntime: raw observations in, actions out, recurrent states carried inside."""

    def __init__(self, path: str):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.metadata = {key: json.loads(value) for key, value in self.session.get_modelmeta().custom_metadata_map.items()}
        self.state_inputs = [item for item in self.session.get_inputs() if item.name != "obs"]
        self.output_names = [item.name for item in self.session.get_outputs()]
        self.states: dict[str, np.ndarray] = {}

    def reset(self, batch: int = 1) -> None:
        """Zero recurrent states: the first step of an episode."""
        self.states = {item.name: np.zeros([batch if isinstance(dim, str) else dim for dim in item.shape], np.float32)
                       for item in self.state_inputs}

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        outputs = dict(zip(self.output_names, self.session.run(None, {"obs": observations.astype(np.float32), **self.states})))
        self.states = {name: outputs[name.replace("_in", "_out")] for name in self.states}
        return outputs["actions"]


def task_of(metadata: dict, path: str):
    import tasks

    name = metadata.get("task")
    if name is None:
        raise ValueError(f"--policy: {path} has no task in its metadata; export it with launch/export.py")
    spec = tasks.spec(name)
    size = int(np.prod(spec.single_observation_space.shape))
    if metadata["observation"]["size"] != size:
        raise ValueError(f"--policy: {path} takes {metadata['observation']['size']} observations; task {name!r} has {size} now")
    return spec


def imported_frameworks() -> list[str]:
    return sorted(name for name in FRAMEWORK_MODULES if name in sys.modules)


def sim2sim(args: Sim2SimArgs) -> dict:
    from envs.mujoco_world import MujocoWorld

    if args.episodes < 1:
        raise ValueError(f"--episodes: {args.episodes} is not allowed; must be positive")
    if args.video and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise ValueError("--video: the imageio-ffmpeg package is not installed; pip install -e '.[video]'")
    if not os.path.isfile(args.policy):
        raise ValueError(f"--policy: {args.policy} does not exist; export a run with launch/export.py --run RUN")
    policy = OnnxPolicy(args.policy)
    task = task_of(policy.metadata, args.policy)
    world = MujocoWorld(task, seed=args.seed)
    max_steps = args.max_steps or task.max_episode_steps
    recorder = _Recorder(world, args) if args.video else None
    returns, lengths, terminated_count = [], [], 0
    for episode in range(args.episodes):
        observation = world.reset()
        policy.reset()
        done = False
        while not done:
            if recorder is not None and episode == 0:
                recorder.capture()
            observation, _, terminated, truncated, _ = world.step(policy(observation)[0])
            done = terminated or truncated or world.episode_length >= max_steps
        terminated_count += int(terminated)
        returns.append(world.episode_return)
        lengths.append(world.episode_length)
    result = {"policy": args.policy, "task": task.name, "episodes": len(returns), "mean_return": float(np.mean(returns)),
              "mean_length": float(np.mean(lengths)), "returns": returns, "lengths": lengths, "terminated": terminated_count,
              "imported_frameworks": imported_frameworks()}
    if recorder is not None:
        result.update(video=recorder.write(), video_frames=len(recorder.frames))
    return result


class _Recorder:
    def __init__(self, world, args: Sim2SimArgs):
        import mujoco

        self.world, self.path, self.frames = world, args.video, []
        self.renderer = mujoco.Renderer(world.model, args.height, args.width)
        self.camera = args.camera if args.camera is not None else (0 if world.model.ncam else -1)
        self.fps = max(int(round(1.0 / world.dt)), 1)

    def capture(self) -> None:
        self.renderer.update_scene(self.world.data, camera=self.camera)
        self.frames.append(self.renderer.render())

    def write(self) -> str:
        import imageio.v2 as imageio

        with imageio.get_writer(self.path, fps=self.fps, codec="libx264", macro_block_size=1, ffmpeg_log_level="error") as writer:
            for frame in self.frames:
                writer.append_data(frame)
        self.renderer.close()
        return self.path


def main() -> None:
    args = tyro.cli(Sim2SimArgs, description=__doc__.split("\n")[0])
    try:
        result = sim2sim(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    for index, (episode_return, length) in enumerate(zip(result["returns"], result["lengths"])):
        print(f"episode {index}: return {episode_return:.1f}, length {length}")
    print(f"{result['episodes']} episodes: mean return {result['mean_return']:.1f}, mean length {result['mean_length']:.1f}, "
          f"{result['terminated']} ended early (terminated)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
