"""What an engine needs to know about a task: its MJCF model, its MDP terms and its engine settings.

MDP terms are written once against the array API shared by torch and jax.numpy (`xp` is the module), so the
Warp engine evaluates them in torch on zero-copy views of the simulator state and the MJX engine evaluates
them in jax.numpy inside its jitted step. A term is `(xp, state) -> array` where `state` is an `MdpState`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple

import gymnasium as gym
import numpy as np


class MdpState(NamedTuple):
    """What a term sees of a batch of worlds after a step (or a reset).

    `data` holds every batched field of MuJoCo's Data by its MuJoCo name (`xpos`, `xipos`, `cinert`, `cvel`,
    `cfrc_ext`, `qfrc_actuator`, `qfrc_constraint`, `site_xpos`, ...), shaped (num_envs, *MuJoCo's shape). As
    in C MuJoCo after mj_step, the position-dependent fields are those of the last substep's start, and
    `cfrc_ext` is filled only for tasks with `post_constraint=True`."""

    qpos: Any  # (num_envs, nq)
    qvel: Any  # (num_envs, nv)
    ctrl: Any  # (num_envs, nu): the action that reached the simulator (clipped to the action space)
    before: Any  # (num_envs, k): the task's `tracked` quantity at the start of the step; None without one
    data: Any  # the engine's batched Data fields, by name
    body_mass: Any  # (num_envs, nbody): the worlds' body masses (they differ with mass randomization)
    dt: float  # seconds per env step: timestep * frame_skip
    action: Any = None  # (num_envs, action_dim): the agent's action clipped to the action space
    task: dict = {}  # per-world task state after this step's advance (command, last action, air time, ...)
    task_before: dict = {}  # the task state at the start of the step
    uniform: Any = None  # (num_envs, step_uniforms): numbers uniform in [0, 1) the engine drew for this step
    # per-world model fields a term may read, by name: geom_friction (num_envs, ngeom, 3) and pair_friction
    # (num_envs, npair, 5); they differ per world with friction randomization
    model: dict = {}


# (xp, MdpState) -> batched array; a reward term may instead return {term name: weighted (num_envs,) array}
Term = Callable[[Any, MdpState], Any]


RANDOMIZATIONS = ("mass", "friction", "pair_friction", "actuator_gain")
MODEL_FIELDS = ("geom_friction", "pair_friction")  # the per-world model fields terms see (MdpState.model)


@dataclass(frozen=True)
class Randomization:
    """Per-world domain randomization, drawn again for each world at each of its resets: every named model
    quantity is multiplied by a factor uniform in [low, high]. None leaves it as the MJCF has it."""

    mass: tuple[float, float] | None = None  # body masses and inertias (a density change)
    friction: tuple[float, float] | None = None  # geoms' sliding friction
    pair_friction: tuple[float, float] | None = None  # explicit contact pairs' sliding friction (both directions)
    actuator_gain: tuple[float, float] | None = None  # actuators' gain (force per unit of control)

    def __post_init__(self):
        for name in RANDOMIZATIONS:
            value = getattr(self, name)
            if value is None:
                continue
            if len(value) != 2 or not 0 < value[0] <= value[1]:
                raise ValueError(
                    f"randomization.{name}: {value!r} is not allowed; must be (low, high) with 0 < low <= high"
                )

    @property
    def enabled(self) -> bool:
        return any(getattr(self, name) is not None for name in RANDOMIZATIONS)

    @classmethod
    def from_dict(cls, given: dict) -> "Randomization":
        """From {name: [low, high] or None} (YAML, a launch file), naming an unknown randomization in the error."""
        allowed = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(given) - set(allowed))
        if unknown:
            raise ValueError(f"randomization: {unknown[0]!r} is not a randomization; allowed: {', '.join(allowed)}")
        return cls(**{name: None if value is None else tuple(value) for name, value in given.items()})

    def as_dict(self) -> dict:
        """{name: [low, high] or None}, plain enough for YAML."""
        return {
            field.name: None if getattr(self, field.name) is None else list(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }


RESET_NOISE_KINDS = ("uniform", "normal")
HISTORY = "obs_history"  # the task-state entry of the observation history: (num_envs, observation_history, obs_dim)


@dataclass(frozen=True)
class JointPositionActions:
    """Actions as joint-position targets around a default pose: ctrl = default_pose + scale * action, sent to
    the model's position actuators (one per joint, in actuator order), whose gains are the PD gains. Also the
    layout an exported policy needs (joint order, default pose, gains, scale)."""

    joint_names: tuple[str, ...]  # actuator order
    default_pose: tuple[float, ...]  # rad, per joint
    scale: tuple[float, ...]  # rad per unit of action, per joint
    stiffness: tuple[float, ...]  # kp (N m / rad), as the task sets it in the model
    damping: tuple[float, ...]  # kd (N m s / rad)

    def __post_init__(self):
        count = len(self.joint_names)
        for name in ("default_pose", "scale", "stiffness", "damping"):
            if len(getattr(self, name)) != count:
                raise ValueError(
                    f"joint_actions.{name}: {len(getattr(self, name))} values is not allowed; "
                    f"must be one per joint ({count})"
                )

    def as_dict(self) -> dict:
        return {
            name: list(getattr(self, name)) for name in ("joint_names", "default_pose", "scale", "stiffness", "damping")
        }


@dataclass(frozen=True)
class TaskSpec:
    name: str
    mjcf: Path | None  # the task's MJCF file; None where model_spec builds the model
    observations: Term  # -> (num_envs, obs_dim)
    reward: Term  # -> (num_envs,), or a dict of named weighted terms that add up to the reward
    terminated: Term  # -> (num_envs,) bool
    single_observation_space: gym.spaces.Box
    single_action_space: gym.spaces.Box
    max_episode_steps: int
    reset_noise_scale: float  # qpos starts at qpos0 plus uniform(-scale, scale); qvel at 0 plus noise of qvel_noise
    qvel_noise: str = "uniform"  # "uniform": uniform(-scale, scale); "normal": scale * standard normal
    qvel_noise_scale: float | None = None  # qvel's noise scale where it differs from qpos' (None: reset_noise_scale)
    # what a task's reset does beyond the noise, e.g. place a goal: (xp, qpos, qvel, uniform) -> (qpos, qvel), for
    # the resetting worlds, with `reset_uniforms` numbers uniform in [0, 1) per world drawn by the engine
    finish_reset: Callable[[Any, Any, Any, Any], tuple[Any, Any]] | None = None
    reset_uniforms: int = 0
    frame_skip: int = 1
    tracked: Term | None = None  # a quantity whose start-of-step value terms read as state.before (e.g. x position)
    forward_on_reset: bool = False  # recompute derived Data fields of reset worlds (as mj_forward in set_state)
    post_constraint: bool = False  # compute cfrc_ext after each step (gymnasium's mj_rnePostConstraint)
    edit_model: Callable[[Any], None] | None = None  # changes to the compiled MjModel both engines need
    nconmax: int | None = None  # Warp: contacts per world to allocate (None: mujoco_warp's guess)
    njmax: int | None = None  # Warp: constraint rows per world to allocate (None: mujoco_warp's guess)
    randomization: Randomization = Randomization()
    solved_return: float | None = None  # mean episode return at which the task counts as solved
    agent_cfg: Path | None = None  # default agent configuration (Runner YAML)
    default_num_envs: int = 1024
    # the model as an MjSpec, built and edited at load (robots from MuJoCo Menagerie); replaces mjcf
    model_spec: Callable[[], Any] | None = None
    render_model_spec: Callable[[], Any] | None = None  # the same model with its visual meshes, for rendering
    joint_actions: JointPositionActions | None = None  # None: actions are the actuators' controls (efforts)
    # per-world task state carried from step to step: {name: shape per world}, reset with the world, checkpointed
    task_state: dict = dataclasses.field(default_factory=dict)
    # (xp, uniform (num_envs, reset_uniforms)) -> {name: array} of task state for freshly reset worlds (zeros without)
    reset_state: Callable[[Any, Any], dict] | None = None
    # a reset that depends on how the world's episode ended (a terrain curriculum): (xp, qpos, qvel, fresh task state,
    # the task state the episode ended with, uniform) -> (qpos, qvel, fresh task state), run after finish_reset and
    # reset_state on the same `reset_uniforms` numbers; at a world's first reset the task state it ended with is zeros
    reset_from_previous: Callable[..., tuple[Any, Any, dict]] | None = None
    # (xp, MdpState) -> {name: device scalar} logged each step beside the reward terms (e.g. "terrain/level")
    metrics: Callable[[Any, MdpState], dict] | None = None
    # (xp, MdpState) -> ({name: array} task state after the step, qvel to set or None): commands, timers, air
    # time, pushes; it sees `step_uniforms` numbers per world in state.uniform
    advance: Callable[[Any, MdpState], tuple[dict, Any]] | None = None
    step_uniforms: int = 0
    # what an exported policy's metadata takes from the task beyond what envs.task_metadata derives, merged over it
    # key by key: commands, robot, action or observation fields; "observation_layout" is observation.terms
    metadata: dict = dataclasses.field(default_factory=dict)
    # the critic's privileged observation group (asymmetric actor-critic, skrl's `states`): a term -> (num_envs,
    # state_dim), noise-free, evaluated beside the observations; None: the env has no state space (states are None)
    states: Term | None = None
    single_state_space: gym.spaces.Box | None = None
    # the policy's observations of the last `observation_history` steps, oldest first, flattened (1: this step's
    # only). Kept in the task state as "obs_history" (reset, checkpointed, carried through the compiled MJX loop);
    # a world's history is filled with its first observation when it resets
    observation_history: int = 1
    # a world whose |qpos| or |qvel| exceeds this has blown up (reset and counted as state/qpos, state/qvel, like NaN):
    # exploding physics can stay finite long enough to hand the agent rewards of 1e26 and overflow its statistics.
    # C MuJoCo's mj_checkPos / mj_checkVel reset a world beyond mjMAXVAL (1e10); MJX and MuJoCo Warp do not check.
    max_physics_value: float = 1e10

    @property
    def observation_space(self) -> gym.spaces.Box:
        """One world's observations as the env returns them: `observation_history` steps of the task's, oldest first."""
        space = self.single_observation_space
        if self.observation_history == 1:
            return space
        stack = lambda bound: np.tile(np.asarray(bound).reshape(-1), self.observation_history)  # noqa: E731
        return gym.spaces.Box(stack(space.low), stack(space.high), dtype=space.dtype)

    @property
    def engine_task_state(self) -> dict:
        """The task state the engines keep: the task's, plus the observation history where there is one."""
        if self.observation_history == 1:
            return dict(self.task_state)
        size = int(np.prod(self.single_observation_space.shape))
        return {**self.task_state, HISTORY: (self.observation_history, size)}

    @property
    def velocity_noise_scale(self) -> float:
        return self.reset_noise_scale if self.qvel_noise_scale is None else self.qvel_noise_scale

    def __post_init__(self):
        if (
            not isinstance(self.observation_history, int)
            or isinstance(self.observation_history, bool)
            or self.observation_history < 1
        ):
            raise ValueError(
                f"observation_history: {self.observation_history!r} is not allowed; must be an integer >= 1 "
                "(the number of steps of observations the policy sees; 1: no history)"
            )
        if not (isinstance(self.max_physics_value, (int, float)) and self.max_physics_value > 0):
            raise ValueError(
                f"max_physics_value: {self.max_physics_value!r} is not allowed; must be a number > 0 (the |qpos|, "
                "|qvel| beyond which a world counts as blown up; inf: only NaN and inf do)"
            )
        if self.frame_skip < 1:
            raise ValueError(f"frame_skip: {self.frame_skip} is not allowed; must be >= 1")
        if self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps: {self.max_episode_steps} is not allowed; must be >= 1")
        if self.qvel_noise not in RESET_NOISE_KINDS:
            raise ValueError(
                f"qvel_noise: {self.qvel_noise!r} is not allowed; choose one of {', '.join(RESET_NOISE_KINDS)}"
            )
        for name in ("reset_noise_scale", "qvel_noise_scale"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"{name}: {value!r} is not allowed; must be >= 0")
        for name in ("reset_uniforms", "step_uniforms"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: {value!r} is not allowed; must be a non-negative integer")
        if self.mjcf is None and self.model_spec is None:
            raise ValueError(f"mjcf: None is not allowed for task {self.name!r} without a model_spec")
        for name, shape in self.task_state.items():
            if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 1 for n in shape):
                raise ValueError(f"task_state.{name}: {shape!r} is not allowed; must be a tuple of positive sizes")
        for name in ("nconmax", "njmax"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}: {value!r} is not allowed; must be a positive integer or None")
        if (self.states is None) != (self.single_state_space is None):
            raise ValueError(
                f"states: {self.states!r} with single_state_space {self.single_state_space!r} is not allowed; "
                "a critic group needs both (or neither)"
            )
        if not isinstance(self.randomization, Randomization):
            raise ValueError(f"randomization: {self.randomization!r} is not allowed; must be an envs.Randomization")


def load_model(task: TaskSpec, render: bool = False):
    """The task's compiled MjModel, with the task's edits applied (render: the one with visual meshes, where the
    task trains on a model without them)."""
    import mujoco

    if render and task.render_model_spec is not None:
        return task.render_model_spec().compile()
    model = task.model_spec().compile() if task.model_spec is not None else mujoco.MjModel.from_xml_path(str(task.mjcf))
    if task.edit_model is not None:
        task.edit_model(model)
    return model
