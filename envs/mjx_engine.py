"""MJX engine: `num_envs` worlds of one MJCF stepped by `jit(vmap(mjx.step))`.

The step is a pure function of an `MjxState` (`functional_step`), so a trainer can also run it inside
`lax.scan`; the object API around it keeps the state and returns jax arrays.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import SingleDeviceSharding
from mujoco import mjx

from . import contact_frames
from . import randomization as dr
from .convert import jax_device, on_device
from .finite_check import DEFAULT_MAX_FRACTION, FiniteCheck, finite_or_zero, report
from .mdp_step import evaluate_step, fill_history, push_history, reward_terms
from .task import HISTORY, MODEL_FIELDS, MdpState, TaskSpec, load_model
from .vec_env import VecEnv


class MjxState(NamedTuple):
    data: Any  # batched mjx.Data
    episode_return: jax.Array
    episode_length: jax.Array
    nonfinite_counts: jax.Array  # (num_envs, sources + 1) world-steps since the last check_finite() (FiniteCheck)
    key: jax.Array
    before: jax.Array  # the task's tracked quantity at the start of the coming step ((num_envs, 0) without one)
    model_fields: dict  # per-world model fields of domain randomization ({} when off)
    task_state: dict = {}  # the task's per-world state by name ({} for tasks without one)
    action: jax.Array | None = None  # the last clipped action (num_envs, action_dim)


class _DataFields:
    """A batched mjx.Data's fields by MuJoCo name, public or implementation-held (cinert, cfrc_ext)."""

    def __init__(self, data):
        self._data = data

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        data = self.__dict__["_data"]
        try:
            return getattr(data, name)
        except AttributeError:
            return getattr(data._impl, name)


class MjxVecEnv(VecEnv):
    framework = "jax"
    finite_check = True  # False: no NaN/inf check (only to measure its cost; set before the first reset)

    def __init__(self, task: TaskSpec, num_envs: int, device: str | None = None, seed: int = 0):
        contact_frames.install_mjx()  # C MuJoCo's plane-capsule friction directions
        self.task = task
        self.num_envs = num_envs
        self._jax_device = jax_device(device)
        self.device = "cpu" if self._jax_device.platform == "cpu" else f"cuda:{self._jax_device.id}"
        self.single_observation_space = task.observation_space  # with the observation history, where there is one
        self.single_action_space = task.single_action_space
        self.single_state_space = task.single_state_space
        self.max_episode_steps = task.max_episode_steps
        self.mj_model = load_model(task)
        self.dt = float(self.mj_model.opt.timestep) * task.frame_skip
        # MJX's JAX implementation allocates a slot for every possible contact, so its buffers cannot overflow
        self._model = mjx.put_model(self.mj_model, device=self._jax_device)
        self._default_data = mjx.make_data(self._model, device=self._jax_device)
        self._dr_ranges = dr.enabled(task.randomization)
        self._dr_counts = dr.factor_shapes(self.mj_model, task.randomization)
        self._dr_nominal = {
            name: jnp.asarray(value) for name, value in dr.nominal_fields(self.mj_model, task.randomization).items()
        }
        self._action_low = jnp.asarray(task.single_action_space.low)
        self._action_high = jnp.asarray(task.single_action_space.high)
        joints = task.joint_actions
        self._ctrl_offset = None if joints is None else jnp.asarray(joints.default_pose, jnp.float32)
        self._ctrl_scale = None if joints is None else jnp.asarray(joints.scale, jnp.float32)
        self._seed = seed
        # one placement: every array these programs take or make is committed to the env's device. jit compiles a
        # program per placement of its inputs (committed or not), minutes each for a legged robot's step; pinned
        # shardings make a stray uncommitted input a transfer, and the arrays handed in below are committed anyway
        # (the agents' too), so each program compiles once per world count
        pinned = {"in_shardings": SingleDeviceSharding(self._jax_device)}
        pinned["out_shardings"] = pinned["in_shardings"]
        self._reset_fn = jax.jit(self.functional_reset, **pinned)
        self._step_fn = jax.jit(self.functional_step, donate_argnums=0, **pinned)
        self._refresh_fn = jax.jit(self._refresh, **pinned)
        self._state: MjxState | None = None
        self._finite = FiniteCheck(task)

    # ---- pure functions (jit / scan friendly) ----
    def _reset_data(self, key: jax.Array, previous: dict | None = None):
        """A batch of freshly reset worlds: defaults plus reset noise (`previous`: the task state each world's
        episode ended with; None at the first reset)."""
        task = self.task
        scale = task.reset_noise_scale
        vel_scale = task.velocity_noise_scale
        key_pos, key_vel = jax.random.split(key)
        d = self._default_data
        qpos = d.qpos + jax.random.uniform(key_pos, (self.num_envs, d.qpos.shape[0]), minval=-scale, maxval=scale)
        if task.qvel_noise == "normal":
            qvel = d.qvel + vel_scale * jax.random.normal(key_vel, (self.num_envs, d.qvel.shape[0]))
        else:
            qvel = d.qvel + jax.random.uniform(
                key_vel, (self.num_envs, d.qvel.shape[0]), minval=-vel_scale, maxval=vel_scale
            )
        uniform = jax.random.uniform(jax.random.fold_in(key, 1), (self.num_envs, task.reset_uniforms))
        if task.finish_reset is not None:
            qpos, qvel = task.finish_reset(jnp, qpos, qvel, uniform)
        fresh = task.reset_state(jnp, uniform) if task.reset_state is not None else {}
        if task.reset_from_previous is not None:
            previous = self._reset_task_state({}) if previous is None else previous
            qpos, qvel, fresh = task.reset_from_previous(jnp, qpos, qvel, fresh, previous, uniform)
        batched = jax.tree.map(lambda x: jnp.broadcast_to(x, (self.num_envs, *x.shape)), d)
        return batched.replace(qpos=qpos, qvel=qvel), self._reset_task_state(fresh)

    def _reset_task_state(self, fresh: dict) -> dict:
        return {
            name: fresh[name] if name in fresh else jnp.zeros((self.num_envs, *shape))
            for name, shape in self.task.engine_task_state.items()
        }

    def _random_model_fields(self, key: jax.Array) -> dict:
        """Per-world model fields with freshly drawn randomization factors ({} when randomization is off)."""
        factors = {}
        for name, (low, high) in self._dr_ranges.items():
            key, key_name = jax.random.split(key)
            factors[name] = jax.random.uniform(
                key_name, (self.num_envs, self._dr_counts[name]), minval=low, maxval=high
            )
        return dr.scaled_fields(jnp, self._dr_nominal, factors)

    def _vmapped(self, function, model_fields: dict, data):
        """function(model, data) over the worlds, each with its own randomized model fields."""
        if not model_fields:
            return jax.vmap(function, in_axes=(None, 0))(self._model, data)
        return jax.vmap(lambda fields, d: function(self._model.replace(**fields), d))(model_fields, data)

    def _mdp_state(self, data, before, model_fields, task_state=None, action=None, uniform=None) -> MdpState:
        body_mass = model_fields.get(
            "body_mass", jnp.broadcast_to(self._model.body_mass, (self.num_envs, self.mj_model.nbody))
        )
        task_state = {} if task_state is None else task_state
        if action is None:
            action = jnp.zeros((self.num_envs, *self.task.single_action_space.shape))
        if uniform is None:
            uniform = jnp.zeros((self.num_envs, self.task.step_uniforms))
        return MdpState(
            data.qpos,
            data.qvel,
            data.ctrl,
            before,
            _DataFields(data),
            body_mass,
            self.dt,
            action,
            task_state,
            task_state,
            uniform,
            {
                name: model_fields.get(
                    name,
                    jnp.broadcast_to(getattr(self._model, name), (self.num_envs, *getattr(self._model, name).shape)),
                )
                for name in MODEL_FIELDS
            },
        )

    def _refresh(self, data, model_fields, done=None, before=None):
        """Derived state of worlds whose qpos/qvel were just set (done; None: all): Data fields (a forward on
        every world, which the next step recomputes anyway) and the tracked quantity."""
        if self.task.forward_on_reset:
            # MJX's forward writes normalized free-joint quaternions back into qpos; C MuJoCo and MuJoCo Warp keep
            # qpos as set (the physics is the same), and so do we, so that observations of reset states agree
            data = self._vmapped(mjx.forward, model_fields, data).replace(qpos=data.qpos)
        if self.task.tracked is None:
            return data, jnp.zeros((self.num_envs, 0))
        fresh = self.task.tracked(jnp, self._mdp_state(data, None, model_fields))
        return data, fresh if done is None else jnp.where(done[:, None], fresh, before)

    def _observations(self, data, before=None, model_fields=None, task_state=None, uniform=None) -> jax.Array:
        """The observations of the worlds as they are (after a reset); a term that is not finite there gives zeros."""
        obs = self.task.observations(
            jnp, self._mdp_state(data, before, model_fields or {}, task_state, uniform=uniform)
        )
        return finite_or_zero(jnp, obs) if self.finite_check else obs

    def _critic_states(self, data, before=None, model_fields=None, task_state=None):
        """The critic's privileged observations (None for tasks without them)."""
        if self.task.states is None:
            return None
        states = self.task.states(jnp, self._mdp_state(data, before, model_fields or {}, task_state))
        return finite_or_zero(jnp, states) if self.finite_check else states

    def _nonfinite_sources(self, mdp_state: MdpState) -> int:
        """How many columns the non-finite counts have: the sources (named on the first call, from the terms the
        task computes on `mdp_state`) and their sum."""
        if not self.finite_check:
            return 0
        if self._finite.names is None:
            obs = self.task.observations(jnp, mdp_state)
            states = self.task.states(jnp, mdp_state) if self.task.states is not None else None
            self._finite.sources(
                jnp, mdp_state.qpos, mdp_state.qvel, obs, states, reward_terms(jnp, self.task, mdp_state)
            )
        return len(self._finite.names) + 1

    def _step_uniform(self, key: jax.Array) -> jax.Array:
        return jax.random.uniform(key, (self.num_envs, self.task.step_uniforms))

    def functional_reset(self, key: jax.Array) -> tuple[MjxState, Any]:
        """(state, observations), or (state, (observations, states)) for a task with a critic group."""
        key, key_reset, key_model = jax.random.split(key, 3)
        key_uniform = jax.random.fold_in(key_model, 1)
        data, task_state = self._reset_data(key_reset)
        model_fields = self._random_model_fields(key_model)
        data, before = self._refresh(data, model_fields)
        zeros = jnp.zeros(self.num_envs)
        action = jnp.zeros((self.num_envs, *self.task.single_action_space.shape))
        uniform = self._step_uniform(key_uniform)
        obs = self._observations(data, before, model_fields, task_state, uniform)
        sources = self._nonfinite_sources(self._mdp_state(data, before, model_fields, task_state, action, uniform))
        if HISTORY in task_state:  # every world's history starts full of its first observation
            obs, history = fill_history(jnp, task_state[HISTORY], obs)
            task_state = {**task_state, HISTORY: history}
        state = MjxState(
            data,
            zeros,
            zeros.astype(jnp.int32),
            jnp.zeros((self.num_envs, sources), jnp.int32),
            key,
            before,
            model_fields,
            task_state,
            action,
        )
        if self.task.states is None:
            return state, obs
        return state, (obs, self._critic_states(data, before, model_fields, task_state))

    def functional_step(self, state: MjxState, actions: jax.Array):
        action = jnp.clip(actions, self._action_low, self._action_high)
        ctrl = action if self._ctrl_scale is None else self._ctrl_offset + self._ctrl_scale * action
        data = state.data.replace(ctrl=ctrl)
        model_fields = state.model_fields

        def physics(_, d):
            return self._vmapped(mjx.step, model_fields, d)

        data = jax.lax.fori_loop(0, self.task.frame_skip, physics, data)
        if self.task.post_constraint:
            data = self._vmapped(mjx.rne_postconstraint, model_fields, data)
        key, key_reset, key_model = jax.random.split(state.key, 3)
        key_uniform = jax.random.fold_in(key_model, 1)  # (the model's factors come from key_model's splits)
        uniform = self._step_uniform(key_uniform)
        mdp_state = self._mdp_state(data, state.before, model_fields, state.task_state, action, uniform)
        task_state = state.task_state
        if self.task.advance is not None:
            task_state, kicked_qvel = self.task.advance(jnp, mdp_state)
            task_state = {**state.task_state, **task_state}
            mdp_state = mdp_state._replace(task=task_state)
        check = self._finite if self.finite_check else None
        r = evaluate_step(jnp, self.task, mdp_state, state.episode_return, state.episode_length, check)
        before = self.task.tracked(jnp, mdp_state) if self.task.tracked is not None else state.before
        if self.task.advance is not None and kicked_qvel is not None:  # a push acts from the next step on
            data = data.replace(qvel=kicked_qvel)
        final_obs = r.obs
        if HISTORY in task_state:  # this step's observations enter each world's history
            final_obs, history = push_history(jnp, task_state[HISTORY], r.obs)
            task_state = {**task_state, HISTORY: history}
        final_task_state = {name: value for name, value in task_state.items() if name != HISTORY}
        fresh, fresh_task_state = self._reset_data(key_reset, task_state)

        def select(reset_value, value):
            mask = r.done.reshape(r.done.shape + (1,) * (value.ndim - 1))
            return jnp.where(mask, reset_value, value)

        data = jax.tree.map(select, fresh, data)
        if model_fields:
            model_fields = jax.tree.map(select, self._random_model_fields(key_model), model_fields)
        task_state = jax.tree.map(select, fresh_task_state, task_state)
        data, before = self._refresh(data, model_fields, r.done, before)
        obs = self._observations(data, before, model_fields, task_state, uniform)
        if HISTORY in task_state:  # a reset world's history starts full of its first observation
            _, filled = fill_history(jnp, history, obs)
            task_state = {**task_state, HISTORY: jnp.where(r.done[:, None, None], filled, history)}
            obs = task_state[HISTORY].reshape(self.num_envs, -1)
        else:
            obs = jnp.where(r.done[:, None], obs, r.obs)
        info = {
            "final_obs": final_obs,
            "episode": {"r": r.episode_return, "l": r.episode_length},
            "_episode": r.done,
            "log": r.log,
        }
        if r.states is not None:
            info["final_states"] = r.states
            info["states"] = jnp.where(
                r.done[:, None], self._critic_states(data, before, model_fields, task_state), r.states
            )
        if final_task_state:
            info["final_task_state"] = final_task_state
        new_state = MjxState(
            data,
            jnp.where(r.done, 0.0, r.episode_return),
            jnp.where(r.done, 0, r.episode_length),
            state.nonfinite_counts if check is None else state.nonfinite_counts + r.nonfinite_sources,
            key,
            before,
            model_fields,
            task_state,
            action,
        )
        return new_state, (obs, r.reward, r.terminated, r.truncated, info)

    # ---- VecEnv ----
    def reset(self, seed: int | None = None):
        key = self._on_device(jax.random.key(self._seed if seed is None else seed))
        self._state, obs = self._reset_fn(key)
        if self.task.states is None:
            return obs, {}
        obs, states = obs
        return obs, {"states": states}

    def step(self, actions):
        self.check_actions_shape(actions.shape)
        if self._state is None:
            self.reset()
        self._state, out = self._step_fn(self._state, self._on_device(jnp.asarray(actions)))
        return out

    def _on_device(self, tree):
        return on_device(tree, self._jax_device)

    def critic_states(self) -> jax.Array | None:
        """The states beside the observations that load_state_dict() or set_state() returned."""
        if self._state is None:
            self.reset()
        state = self._state
        return self._critic_states(state.data, state.before, state.model_fields, state.task_state)

    @property
    def state(self) -> MjxState:
        """The worlds' state, for code that steps them itself with `functional_step` (the compiled training loop)."""
        if self._state is None:
            self.reset()
        return self._state

    @state.setter
    def state(self, state: MjxState) -> None:
        self._state = self._on_device(state)

    def check_finite(self, max_fraction: float = DEFAULT_MAX_FRACTION) -> dict:
        """Raise SimulationError when more than `max_fraction` of the worlds went NaN or inf since the last check;
        returns the counts (finite_check.report) and clears them. The counts live in the state, so the compiled
        training loop keeps them too."""
        if self._state is None or self._finite.names is None:
            return report(self.task.name, (), np.zeros((self.num_envs, 1), np.int32), max_fraction)
        counts = np.asarray(self._state.nonfinite_counts)
        if counts.any():
            self._state = self._state._replace(nonfinite_counts=jnp.zeros_like(self._state.nonfinite_counts))
        return report(self.task.name, self._finite.names, counts, max_fraction)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything a resumed run needs to continue these worlds exactly where they were."""
        if self._state is None:
            self.reset()
        state = self._state
        return {
            "qpos": np.asarray(state.data.qpos),
            "qvel": np.asarray(state.data.qvel),
            "act": np.asarray(state.data.act),
            "qacc_warmstart": np.asarray(state.data.qacc_warmstart),
            "time": np.asarray(state.data.time),
            "episode_return": np.asarray(state.episode_return),
            "episode_length": np.asarray(state.episode_length),
            "key": np.asarray(jax.random.key_data(state.key)),
            **{f"model.{field}": np.asarray(value) for field, value in state.model_fields.items()},
            **{f"task.{name}": np.asarray(value) for name, value in state.task_state.items()},
            "task.action": np.asarray(state.action),
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> jax.Array:
        """Restore worlds saved by state_dict() (same task and world count); returns their observations."""
        if self._state is None:
            self.reset()
        data = self._state.data.replace(
            **{
                name: jnp.asarray(state[name], jnp.float32).reshape(getattr(self._state.data, name).shape)
                for name in ("qpos", "qvel", "act", "qacc_warmstart", "time")
            }
        )
        model_fields = {
            field: jnp.asarray(state[f"model.{field}"]) if f"model.{field}" in state else value
            for field, value in self._state.model_fields.items()
        }  # the worlds' randomized fields
        data, model_fields = self._on_device((data, model_fields))
        data, before = self._refresh_fn(data, model_fields)
        task_state, action = self._given_task_state(
            {name[len("task.") :]: value for name, value in state.items() if name.startswith("task.")}
        )
        self._state = self._on_device(
            MjxState(
                data,
                jnp.asarray(state["episode_return"], jnp.float32),
                jnp.asarray(state["episode_length"], jnp.int32),
                jnp.zeros_like(self._state.nonfinite_counts),
                jax.random.wrap_key_data(jnp.asarray(state["key"])),
                before,
                model_fields,
                task_state,
                action,
            )
        )
        if HISTORY in task_state:  # the observations the saved worlds last returned, with their history
            return task_state[HISTORY].reshape(self.num_envs, -1)
        return self._observations(data, before, model_fields, task_state)

    def _given_task_state(self, given: dict) -> tuple[dict, jax.Array]:
        """The task state and last action with the arrays given by name replacing the current ones."""
        current = self._state
        task_state = {
            name: jnp.asarray(given[name], jnp.float32).reshape(value.shape) if name in given else value
            for name, value in current.task_state.items()
        }
        action = (
            jnp.asarray(given["action"], jnp.float32).reshape(current.action.shape)
            if "action" in given
            else current.action
        )
        return self._on_device((task_state, action))

    def set_state(self, qpos: np.ndarray, qvel: np.ndarray, task_state: dict | None = None) -> jax.Array:
        """Put every world in the given state (and task state by name); returns the observations of that state, as
        after a reset to it (external forces zero, derived fields recomputed)."""
        if self._state is None:
            self.reset()
        data = self._state.data.replace(qpos=jnp.asarray(qpos, jnp.float32), qvel=jnp.asarray(qvel, jnp.float32))
        data = self._on_device(data.replace(_impl=data._impl.replace(cfrc_ext=jnp.zeros_like(data._impl.cfrc_ext))))
        model_fields = self._state.model_fields
        data, before = self._refresh_fn(data, model_fields)
        given = task_state
        task_state, action = self._given_task_state(given or {})
        self._state = self._state._replace(data=data, before=before, task_state=task_state, action=action)
        obs = self._observations(data, before, model_fields, task_state)
        if HISTORY in task_state and HISTORY not in (given or {}):  # as after a reset: the history full of them
            obs, history = fill_history(jnp, task_state[HISTORY], obs)
            self._state = self._state._replace(task_state={**task_state, HISTORY: history})
        elif HISTORY in task_state:
            obs = task_state[HISTORY].reshape(self.num_envs, -1)
        return obs
