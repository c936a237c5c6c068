"""One world of a task in plain C MuJoCo (`mujoco.MjData`, the CPU) with the task's own MDP terms evaluated in numpy.

The terms are written against the array API (`(xp, state) -> array`), so numpy serves as `xp` here as torch and
jax.numpy do in the engines: observations, reward and termination are the same code the training engines run.
This module imports neither torch, JAX nor Warp; it is what launch/sim2sim.py runs an exported policy in.
It follows the engines' step: clip the action to the action space, write it to ctrl, mj_step `frame_skip` times
(mj_rnePostConstraint after, for tasks that read cfrc_ext), evaluate the terms; a reset draws the task's noise
around qpos0 (numpy's generator, so not the engines' numbers) and runs mj_forward.
"""

from __future__ import annotations

import mujoco
import numpy as np

from .task import MdpState, TaskSpec, load_model


class _DataFields:
    """MjData's fields by name with a leading world axis of 1, as the terms index them (views, no copies)."""

    def __init__(self, data):
        self._data = data

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._data, name)[None]


class MujocoWorld:
    def __init__(self, task: TaskSpec, seed: int = 0, model=None):
        self.task = task
        self.model = load_model(task) if model is None else model
        self.data = mujoco.MjData(self.model)
        self.dt = float(self.model.opt.timestep) * task.frame_skip
        self.rng = np.random.default_rng(seed)
        self.low = np.asarray(task.single_action_space.low, np.float64)
        self.high = np.asarray(task.single_action_space.high, np.float64)
        self.before = None
        self.episode_return, self.episode_length = 0.0, 0

    def state(self) -> MdpState:
        d = self.data
        return MdpState(d.qpos[None], d.qvel[None], d.ctrl[None], self.before, _DataFields(d), self.model.body_mass[None], self.dt)

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
        qvel = (self.rng.standard_normal(model.nv) * velocity_scale if task.qvel_noise == "normal"
                else self.rng.uniform(-velocity_scale, velocity_scale, model.nv))
        if task.finish_reset is not None:
            qpos, qvel = task.finish_reset(np, qpos[None], qvel[None], self.rng.random((1, task.reset_uniforms)))
            qpos, qvel = qpos[0], qvel[0]
        data.qpos[:], data.qvel[:] = qpos, qvel
        return self._refresh()

    def set_state(self, qpos, qvel) -> np.ndarray:
        """Put the world in this state (as the engines' set_state: external forces zero, derived fields computed)."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:], self.data.qvel[:] = qpos, qvel
        return self._refresh()

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict]:
        task, model, data = self.task, self.model, self.data
        data.ctrl[:] = np.clip(np.asarray(action, np.float64).reshape(-1), self.low, self.high)
        for _ in range(task.frame_skip):
            mujoco.mj_step(model, data)
        if task.post_constraint:
            mujoco.mj_rnePostConstraint(model, data)
        state = self.state()
        terms = task.reward(np, state)
        terms = terms if isinstance(terms, dict) else {"reward": terms}
        reward = float(sum(np.asarray(term).reshape(-1)[0] for term in terms.values()))
        observation = self.observation()
        finite = bool(np.isfinite(observation).all() and np.isfinite(reward))
        terminated = bool(np.asarray(task.terminated(np, state)).reshape(-1)[0]) or not finite
        self.episode_length += 1
        self.episode_return += reward
        truncated = self.episode_length >= task.max_episode_steps and not terminated
        if task.tracked is not None:
            self.before = np.array(task.tracked(np, state))
        info = {"reward_terms": {name: float(np.asarray(term).reshape(-1)[0]) for name, term in terms.items()}, "finite": finite}
        return observation, reward, terminated, truncated, info
