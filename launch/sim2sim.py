"""Run an exported policy in plain C MuJoCo: `python launch/sim2sim.py --policy RUN/exported/policy.onnx`.

One world on the CPU (`mujoco.MjData`, the task's model built as the task builds it), the policy through
onnxruntime, no torch, JAX or Warp imported: a policy that behaves here as it did in training is a file that does
what the trainer's policy did. Observations: for a legged robot (joint-position actions), from the exported
metadata alone (envs/policy_observation.py: the layout's terms, the command, the last action), with the actions
turned into joint targets by the metadata's default pose and scale at its control period, and velocity commands
drawn in the metadata's ranges or held with `--command vx vy wz`; for other tasks, the task's own terms in numpy.
Reward and termination are the task's own, in numpy. Prints each episode's return and length, how many ended early
(terminated: a fall, for a robot) and, for a legged robot, its velocity-tracking error; can record the first
episode to an mp4 with MuJoCo's renderer.
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

from launch.episode_report import episode_lines  # noqa: E402

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
    command: tuple[float, float, float] | None = None
    """hold this velocity command (vx, vy m/s in the base frame, yaw rate rad/s); default: drawn as in training"""
    pushes: bool = False
    """apply the task's interval pushes, as in training (off by default: a clean evaluation)"""
    solver_iterations: tuple[int, int] | None = None
    """C MuJoCo's Newton and line-search iterations (default: the task's; e.g. 100 50 for a converged solver)"""


class OnnxPolicy:
    """An exported policy in onnxruntime: raw observations in, actions out, recurrent states carried inside."""

    def __init__(self, path: str):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.metadata = {
            key: json.loads(value) for key, value in self.session.get_modelmeta().custom_metadata_map.items()
        }
        self.state_inputs = [item for item in self.session.get_inputs() if item.name != "obs"]
        self.output_names = [item.name for item in self.session.get_outputs()]
        self.states: dict[str, np.ndarray] = {}

    def reset(self, batch: int = 1) -> None:
        """Zero recurrent states: the first step of an episode."""
        self.states = {
            item.name: np.zeros([batch if isinstance(dim, str) else dim for dim in item.shape], np.float32)
            for item in self.state_inputs
        }

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        outputs = dict(
            zip(self.output_names, self.session.run(None, {"obs": observations.astype(np.float32), **self.states}))
        )
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
        raise ValueError(
            f"--policy: {path} takes {metadata['observation']['size']} observations; task {name!r} has {size} now"
        )
    return spec


def imported_frameworks() -> list[str]:
    return sorted(name for name in FRAMEWORK_MODULES if name in sys.modules)


def _tracking_errors(command: np.ndarray, reading) -> tuple[float, float]:
    """|command_xy - v_xy| (m/s, base frame) and |command_wz - w_z| (rad/s)."""
    from envs.policy_observation import base_lin_vel

    velocity = base_lin_vel(reading)
    return float(np.linalg.norm(command[:2] - velocity[:2])), float(abs(command[2] - reading.base_ang_vel[2]))


class CommandSource:
    """Velocity commands as the metadata's `commands` describe them: each drawn uniform in its range (zero with
    the standing fraction) and drawn again after a time uniform in `resample_s`; or one command held throughout.
    (Training's heading-controlled commands are yaw rates here: a robot's joystick gives yaw rates.)"""

    def __init__(self, commands: dict, rng: np.random.Generator, fixed=None):
        self.spec, self.rng = commands, rng
        self.fixed = None if fixed is None else np.asarray(fixed, np.float64)
        self.command, self.timer = np.zeros(3), 0.0

    def reset(self) -> np.ndarray:
        self.timer = 0.0
        return self.advance(0.0)

    def advance(self, dt: float) -> np.ndarray:
        if self.fixed is not None:
            self.command = self.fixed.copy()
            return self.command
        self.timer -= dt
        if self.timer <= 0.0:
            spec = self.spec
            standing = self.rng.random() < spec.get("standing_fraction", 0.0)
            self.command = (
                np.zeros(3) if standing else np.array([self.rng.uniform(*spec[name]) for name in ("vx", "vy", "wz")])
            )
            self.timer = self.rng.uniform(*spec.get("resample_s", (1e9, 1e9)))
        return self.command


class LeggedController:
    """The metadata's side of a legged robot's control loop: sensors -> observation; action -> joint targets."""

    def __init__(self, metadata: dict, world, args: Sim2SimArgs):
        from envs.policy_observation import MujocoSensors, PolicyObservation

        action = metadata["action"]
        self.low, self.high = np.asarray(action["low"]), np.asarray(action["high"])
        self.offset, self.scale = np.asarray(action["offset"]), np.asarray(action["scale"])
        period = metadata["control"]["period"]
        if abs(period - world.dt) > 1e-9 or len(self.offset) != world.model.nu:
            raise ValueError(
                f"--policy: the file controls {len(self.offset)} joints every {period} s; task {world.task.name!r} "
                f"has {world.model.nu} actuators stepped every {world.dt} s now"
            )
        self.sensors = MujocoSensors(world.model, action["joints"])
        self.observation = PolicyObservation(metadata)
        commands = metadata.get("commands")
        if commands and "command" not in world.task.task_state:
            raise ValueError(
                f"--policy: task {world.task.name!r} has commands in its metadata but no command task state"
            )
        self.commands = (
            CommandSource(commands, np.random.default_rng(args.seed + 1), args.command) if commands else None
        )
        self.last_action = np.zeros(len(self.offset))

    def command(self) -> np.ndarray:
        return np.zeros(3) if self.commands is None else self.commands.command

    def reset(self, world) -> np.ndarray:
        """A new episode: its command (held in the world's task state, which its reward reads), the world's reset."""
        if self.commands is not None:
            world.hold(command=self.commands.reset())
        world.reset()
        self.observation.reset()
        self.last_action = np.zeros(len(self.offset))
        return self.observation(self.sensors.read(world.data), self.command(), self.last_action)

    def step(self, world, action: np.ndarray):
        """Joint targets = offset + scale * clip(action), for one control period; the next observation."""
        self.last_action = np.clip(action, self.low, self.high)
        result = world.step(action, ctrl=self.offset + self.scale * self.last_action)
        reading = self.sensors.read(world.data)
        errors = _tracking_errors(self.command(), reading)
        if self.commands is not None:
            world.hold(command=self.commands.advance(world.dt))
        return self.observation(reading, self.command(), self.last_action), result, errors


def sim2sim(args: Sim2SimArgs) -> dict:
    from envs.mujoco_world import MujocoWorld
    from envs.task import load_model

    if args.episodes < 1:
        raise ValueError(f"--episodes: {args.episodes} is not allowed; must be positive")
    if args.video and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise ValueError("--video: the imageio-ffmpeg package is not installed; pip install -e '.[video]'")
    if not os.path.isfile(args.policy):
        raise ValueError(f"--policy: {args.policy} does not exist; export a run with launch/export.py --run RUN")
    policy = OnnxPolicy(args.policy)
    task = task_of(policy.metadata, args.policy)
    legged = policy.metadata["action"].get("target") == "joint_position"
    if args.command is not None and not policy.metadata.get("commands"):
        raise ValueError(f"--command: {list(args.command)} is not allowed; task {task.name!r} takes no commands")
    if args.solver_iterations is not None and min(args.solver_iterations) < 1:
        raise ValueError(
            f"--solver-iterations: {list(args.solver_iterations)} is not allowed; must be two positive integers"
        )
    world = MujocoWorld(task, seed=args.seed, interval_events=args.pushes)
    if args.solver_iterations is not None:
        world.model.opt.iterations, world.model.opt.ls_iterations = args.solver_iterations
    controller = LeggedController(policy.metadata, world, args) if legged else None
    max_steps = args.max_steps or task.max_episode_steps
    recorder = None
    if args.video:
        from envs.video import VideoRecorder

        recorder = VideoRecorder(
            load_model(task, render=True), args.video, args.width, args.height, args.camera, fps=1.0 / world.dt
        )  # the model with a robot's visual meshes
    returns, lengths, terminated_count, unstable_count, tracking = [], [], 0, 0, []
    for episode in range(args.episodes):
        observation = controller.reset(world) if legged else world.reset()
        policy.reset()
        done, errors = False, []
        while not done:
            if recorder is not None and episode == 0:
                recorder.capture(world.data.qpos, world.data.qvel)
            action = policy(observation)[0]
            if legged:
                observation, (_, _, terminated, truncated, info), error = controller.step(world, action)
                if not info["unstable"]:  # MuJoCo reset the state: no velocity to track
                    errors.append(error)
            else:
                observation, _, terminated, truncated, info = world.step(action)
            done = terminated or truncated or world.episode_length >= max_steps
        terminated_count += int(terminated)
        unstable_count += int(info["unstable"])
        returns.append(world.episode_return)
        lengths.append(world.episode_length)
        tracking.append(np.mean(errors, axis=0).tolist() if errors else None)
    result = {
        "policy": args.policy,
        "task": task.name,
        "episodes": len(returns),
        "mean_return": float(np.mean(returns)),
        "mean_length": float(np.mean(lengths)),
        "returns": returns,
        "lengths": lengths,
        "terminated": terminated_count,
        "unstable": unstable_count,
        "imported_frameworks": imported_frameworks(),
    }
    if legged:  # an episode that blew up at its first step has no tracking error (None)
        tracked = [error for error in tracking if error is not None]
        result.update(
            falls=terminated_count - unstable_count,
            command=None if args.command is None else list(args.command),
            tracking_error_lin=[error and error[0] for error in tracking],
            tracking_error_yaw=[error and error[1] for error in tracking],
            mean_tracking_error_lin=float(np.mean([error[0] for error in tracked])) if tracked else None,
            mean_tracking_error_yaw=float(np.mean([error[1] for error in tracked])) if tracked else None,
        )
    if recorder is not None:
        result.update(video=recorder.write(), video_frames=len(recorder.frames))
    return result


def main() -> None:
    args = tyro.cli(Sim2SimArgs, description=__doc__.split("\n")[0])
    try:
        result = sim2sim(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    lines = episode_lines(result)
    if result["unstable"]:
        lines[-1] += (
            f", {result['unstable']} ended by an unstable simulation (MuJoCo reset it; try --solver-iterations 100 50)"
        )
    print("\n".join(lines))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
