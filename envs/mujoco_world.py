"""One world of a task in plain C MuJoCo (`mujoco.MjData`, the CPU) with the task's own MDP terms evaluated in numpy.

The terms are written against the array API (`(xp, state) -> array`), so numpy serves as `xp` here as torch and
jax.numpy do in the engines: observations, reward and termination are the same code the training engines run.
This module imports neither torch, JAX nor Warp; it is what launch/sim2sim.py runs an exported policy in.
It follows the engines' step: clip the action to the action space, write it to ctrl (a joint-position task's
targets: default pose + scale * action), mj_step `frame_skip` times (mj_rnePostConstraint after, for tasks that
read cfrc_ext), advance the task state (commands, last action, air time, pushes), evaluate the terms; a reset
draws the task's noise and reset event around qpos0 and its fresh task state (numpy's generator, so not the
engines' numbers) and runs mj_forward.
"""

from __future__ import annotations

import mujoco
import numpy as np

from .task import MODEL_FIELDS, MdpState, TaskSpec, load_model


class _DataFields:
    """MjData's fields by name with a leading world axis of 1, as the terms index them (views, no copies)."""

    def __init__(self, data):
        self._data = data

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._data, name)[None]


def _blowups(data) -> int:
    """How often MuJoCo found a non-finite or huge position, velocity or acceleration and reset the data."""
    return sum(
        int(data.warning[kind].number)
        for kind in (
            mujoco.mjtWarning.mjWARN_BADQPOS,
            mujoco.mjtWarning.mjWARN_BADQVEL,
            mujoco.mjtWarning.mjWARN_BADQACC,
        )
    )


class MujocoWorld:
    def __init__(self, task: TaskSpec, seed: int = 0, model=None, interval_events: bool = True):
        """interval_events False: the task's interval events (pushes) draw but do not act on the world."""
        self.task, self.interval_events = task, interval_events
        self.model = load_model(task) if model is None else model
        self.data = mujoco.MjData(self.model)
        self.dt = float(self.model.opt.timestep) * task.frame_skip
        self.rng = np.random.default_rng(seed)
        self.low = np.asarray(task.single_action_space.low, np.float64)
        self.high = np.asarray(task.single_action_space.high, np.float64)
        self.before = None
        self.episode_return, self.episode_length = 0.0, 0
        joints = task.joint_actions
        self.ctrl_offset = None if joints is None else np.asarray(joints.default_pose, np.float64)
        self.ctrl_scale = None if joints is None else np.asarray(joints.scale, np.float64)
        # the task layer, as the engines carry it: per-world task state (a world axis of 1), the last clipped
        # action, this step's uniforms; `held` task state is written over every reset's and step's (see hold)
        self.task_state = self._zero_task_state()
        self.action = np.zeros((1, *task.single_action_space.shape))
        self.uniform = self.rng.random((1, task.step_uniforms))
        self.held: dict = {}

    def hold(self, **task_state) -> None:
        """Task state written over what the task's reset and advance give from now on (e.g. the command a
        deployed robot's operator gives), and over the current task state at once."""
        self.held = task_state
        self.task_state = self._hold(self.task_state)

    def _zero_task_state(self) -> dict:
        return {name: np.zeros((1, *shape)) for name, shape in self.task.task_state.items()}

    def _hold(self, task_state: dict) -> dict:
        return {
            **task_state,
            **{
                name: np.asarray(value, np.float64).reshape(1, *self.task.task_state[name])
                for name, value in self.held.items()
            },
        }

    def state(self) -> MdpState:
        d = self.data
        return MdpState(
            d.qpos[None],
            d.qvel[None],
            d.ctrl[None],
            self.before,
            _DataFields(d),
            self.model.body_mass[None],
            self.dt,
            self.action,
            self.task_state,
            self.task_state,
            self.uniform,
            {name: getattr(self.model, name)[None] for name in MODEL_FIELDS},
        )

    def observation(self) -> np.ndarray:
        """(1, obs_dim) float32, as the engines return it."""
        return np.asarray(self.task.observations(np, self.state()), dtype=np.float32).copy()

    def _refresh(self) -> np.ndarray:
        mujoco.mj_forward(self.model, self.data)
        self.before = None if self.task.tracked is None else np.array(self.task.tracked(np, self.state()))
        self.episode_return, self.episode_length = 0.0, 0
        return self.observation()

    def reset(self) -> np.ndarray:
        task, model, data = self.task, self.model, self.data
        mujoco.mj_resetData(model, data)
        scale, velocity_scale = task.reset_noise_scale, task.velocity_noise_scale
        qpos = model.qpos0 + self.rng.uniform(-scale, scale, model.nq)
        qvel = (
            self.rng.standard_normal(model.nv) * velocity_scale
            if task.qvel_noise == "normal"
            else self.rng.uniform(-velocity_scale, velocity_scale, model.nv)
        )
        uniform = self.rng.random((1, task.reset_uniforms))
        if task.finish_reset is not None:
            qpos, qvel = task.finish_reset(np, qpos[None], qvel[None], uniform)
            qpos, qvel = qpos[0], qvel[0]
        fresh = task.reset_state(np, uniform) if task.reset_state is not None else {}
        if task.reset_from_previous is not None:
            qpos, qvel, fresh = task.reset_from_previous(np, qpos[None], qvel[None], fresh, self.task_state, uniform)
            qpos, qvel = qpos[0], qvel[0]
        self.task_state = self._hold(
            {
                name: np.asarray(fresh.get(name, zero), np.float64).reshape(zero.shape)
                for name, zero in self._zero_task_state().items()
            }
        )
        data.qpos[:], data.qvel[:] = qpos, qvel
        return self._refresh()

    def set_state(self, qpos, qvel, task_state: dict | None = None) -> np.ndarray:
        """Put the world in this state (as the engines' set_state: external forces zero, derived fields computed),
        with task state by name (names not given keep their values; "action": the last clipped action)."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:], self.data.qvel[:] = qpos, qvel
        given = dict(task_state or {})
        if "action" in given:
            self.action = np.asarray(given.pop("action"), np.float64).reshape(self.action.shape)
        self.task_state = {
            name: np.asarray(given[name], np.float64).reshape(value.shape) if name in given else value
            for name, value in self.task_state.items()
        }
        return self._refresh()

    def step(self, action, ctrl=None) -> tuple[np.ndarray, float, bool, bool, dict]:
        """One control step. ctrl: what to write to the actuators instead of the task's own mapping of the action
        (sim2sim writes the targets the exported metadata says); the action still drives the task state."""
        task, model, data = self.task, self.model, self.data
        self.action = np.clip(np.asarray(action, np.float64).reshape(1, -1), self.low, self.high)
        if ctrl is not None:
            data.ctrl[:] = np.asarray(ctrl, np.float64).reshape(-1)
        else:
            data.ctrl[:] = (
                self.action[0] if self.ctrl_scale is None else self.ctrl_offset + self.ctrl_scale * self.action[0]
            )
        # MuJoCo resets the data of a simulation that blew up (and counts it): that is an unstable step, not a state
        blowups = _blowups(data)
        for _ in range(task.frame_skip):
            mujoco.mj_step(model, data)
        if task.post_constraint:
            mujoco.mj_rnePostConstraint(model, data)
        unstable = _blowups(data) > blowups
        self.uniform = self.rng.random((1, task.step_uniforms))
        state = self.state()
        kicked_qvel = None
        if task.advance is not None:
            task_state, kicked_qvel = task.advance(np, state)
            self.task_state = self._hold({name: np.asarray(value, np.float64) for name, value in task_state.items()})
            state = state._replace(task=self.task_state)
        terms = task.reward(np, state)
        terms = terms if isinstance(terms, dict) else {"reward": terms}
        reward = float(sum(np.asarray(term).reshape(-1)[0] for term in terms.values()))
        observation = np.asarray(task.observations(np, state), dtype=np.float32).copy()
        finite = bool(np.isfinite(observation).all() and np.isfinite(reward)) and not unstable
        ends = task.terminated(np, state)
        ends = ends if isinstance(ends, dict) else {"terminated": ends}  # a termination table names its terms
        ends = {name: bool(np.asarray(end).reshape(-1)[0]) for name, end in ends.items()}
        terminated = any(ends.values()) or not finite
        if kicked_qvel is not None and self.interval_events:  # a push acts from the next step on, as in the engines
            data.qvel[:] = np.asarray(kicked_qvel).reshape(-1)
        self.episode_length += 1
        self.episode_return += reward
        truncated = self.episode_length >= task.max_episode_steps and not terminated
        if task.tracked is not None:
            self.before = np.array(task.tracked(np, state))
        info = {
            "reward_terms": {name: float(np.asarray(term).reshape(-1)[0]) for name, term in terms.items()},
            "terminations": ends,
            "finite": finite,
            "unstable": unstable,
        }
        return observation, reward, terminated, truncated, info
