"""MuJoCo Warp engine: `num_envs` worlds of one MJCF stepped by mujoco_warp.

The MDP terms run in torch on `wp.to_torch` views of the simulator arrays (no copies); the arrays this env
returns are torch tensors on the simulator's device. On CUDA the physics step is captured once in a CUDA graph
and replayed on Warp's stream, ordered against torch's stream by events, so the host never waits.
"""

from __future__ import annotations

import mujoco_warp as mjw
import numpy as np
import torch
import warp as wp

from . import contact_frames, hfield_contacts
from . import randomization as dr
from .finite_check import DEFAULT_MAX_FRACTION, FiniteCheck, finite_or_zero, report
from .mdp_step import evaluate_step, fill_history, push_history
from .task import HISTORY, MODEL_FIELDS, MdpState, TaskSpec, load_model
from .vec_env import SimulationError, VecEnv

# overflows of the contact and constraint buffers (not solver iteration limits, which are not errors)
_BUFFER_OVERFLOWS = int(
    mjw.OverflowType.NEFC
    | mjw.OverflowType.NJMAX_NNZ
    | mjw.OverflowType.BROADPHASE
    | mjw.OverflowType.NARROWPHASE
    | mjw.OverflowType.CCD
    | mjw.OverflowType.NVMAX
    | mjw.OverflowType.EPA_HORIZON
)


class _DataFields:
    """Zero-copy torch views of a mujoco_warp Data's batched fields, by MuJoCo name, made on first use."""

    def __init__(self, data):
        self._data = data
        self._views = {}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._views:
            self._views[name] = wp.to_torch(getattr(self._data, name))
        return self._views[name]


class WarpVecEnv(VecEnv):
    framework = "torch"
    finite_check = True  # False: no NaN/inf check (only to measure its cost: non-finite values reach the agent)

    def __init__(
        self, task: TaskSpec, num_envs: int, device: str | None = None, seed: int = 0, cuda_graphs: bool = True
    ):
        """`cuda_graphs`: on CUDA, replay the physics as captured graphs (False: launch its kernels one by one, to
        check the graphs against)."""
        wp.config.log_level = wp.LOG_WARNING  # no banner or per-module compile lines in training logs
        wp.init()
        contact_frames.install_warp()  # C MuJoCo's plane-capsule friction directions
        hfield_contacts.install_warp()  # C MuJoCo's sphere and capsule contacts with height fields
        self.task = task
        self.num_envs = num_envs
        self.device = str(wp.get_device(device)) if device else str(wp.get_preferred_device())
        self.single_observation_space = task.observation_space  # with the observation history, where there is one
        self.single_action_space = task.single_action_space
        self.single_state_space = task.single_state_space
        self.max_episode_steps = task.max_episode_steps
        self.mj_model = load_model(task)
        self.dt = float(self.mj_model.opt.timestep) * task.frame_skip

        batched = {field: num_envs for field in dr.batched_field_names(task.randomization)}
        with wp.ScopedDevice(self.device):
            self._model = mjw.put_model(self.mj_model, batch_sizes=batched)
            self._model.opt.warn_overflow = _BUFFER_OVERFLOWS  # print buffer overflows, not solver iteration limits
            self._data = mjw.make_data(self.mj_model, nworld=num_envs, nconmax=task.nconmax, njmax=task.njmax)
        self.nconmax, self.njmax = self._data.naconmax // num_envs, self._data.njmax
        self._fields = _DataFields(self._data)
        self._overflow = wp.to_torch(self._data.overflow)
        # zero-copy torch views of the simulator state
        self._qpos = wp.to_torch(self._data.qpos)
        self._qvel = wp.to_torch(self._data.qvel)
        self._ctrl = wp.to_torch(self._data.ctrl)
        # what a reset sets: qpos to qpos0, these to zero; the next step recomputes the rest of Data from them
        self._qpos0 = torch.as_tensor(self.mj_model.qpos0, dtype=self._qpos.dtype, device=self.device)
        self._zeroed_on_reset = [
            wp.to_torch(getattr(self._data, name))
            for name in ("qvel", "act", "ctrl", "qacc_warmstart", "qfrc_applied", "xfrc_applied", "time", "cfrc_ext")
        ]
        # domain randomization: per-world model fields, their MJCF values, and how many factors each world draws
        self._dr_ranges = dr.enabled(task.randomization)
        self._dr_counts = dr.factor_shapes(self.mj_model, task.randomization)
        self._dr_nominal = {
            name: torch.as_tensor(value, device=self.device)
            for name, value in dr.nominal_fields(self.mj_model, task.randomization).items()
        }
        self._dr_views = {name: wp.to_torch(getattr(self._model, name)) for name in self._dr_nominal}
        body_mass = wp.to_torch(self._model.body_mass)
        self._body_mass = body_mass if body_mass.shape[0] == num_envs else body_mass.expand(num_envs, -1)
        self._model_fields = {}  # per world, as terms see them (views: randomization writes show at once)
        for name in MODEL_FIELDS:
            array = getattr(self._model, name)
            view = wp.to_torch(array) if array.size else torch.zeros((1, *array.shape[1:], array.dtype._length_))
            self._model_fields[name] = view.expand(num_envs, *view.shape[1:]) if view.shape[0] != num_envs else view

        self._episode_return = torch.zeros(num_envs, device=self.device)
        self._episode_length = torch.zeros(num_envs, dtype=torch.int32, device=self.device)
        self._finite = FiniteCheck(task)
        self._nonfinite_counts = (
            None  # (num_envs, sources + 1) world-steps since the last check_finite(), on the device
        )
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(seed)
        self._action_low = torch.as_tensor(task.single_action_space.low, device=self.device)
        self._action_high = torch.as_tensor(task.single_action_space.high, device=self.device)
        self._before = None  # the task's tracked quantity at the start of the coming step
        # the task layer: per-world task state, the last clipped action, this step's uniforms, joint-position targets
        self._task_state = {
            name: torch.zeros((num_envs, *shape), device=self.device) for name, shape in task.engine_task_state.items()
        }
        self._action = torch.zeros((num_envs, *task.single_action_space.shape), device=self.device)
        self._uniform = self._draw(task.step_uniforms)
        joints = task.joint_actions
        self._ctrl_offset = (
            None if joints is None else torch.as_tensor(joints.default_pose, dtype=torch.float32, device=self.device)
        )
        self._ctrl_scale = (
            None if joints is None else torch.as_tensor(joints.scale, dtype=torch.float32, device=self.device)
        )
        self._graphs = {}
        self._cuda = wp.get_device(self.device).is_cuda
        # Warp works on its own stream: a graph cannot be captured on torch's default (legacy) stream. Each launch
        # waits for torch's stream (the actions it wrote) and torch's waits for it, through events: no host sync.
        self._warp_stream = wp.get_stream(self.device) if self._cuda else None
        self._torch_streams = {}  # torch stream handle -> the same stream seen by Warp
        if self._cuda and cuda_graphs:
            self._graphs["physics"] = self._capture(self._physics)
            if task.forward_on_reset:
                self._graphs["forward"] = self._capture(self._forward)
        if self._cuda:
            wp.synchronize_device(
                self.device
            )  # the model and data Warp initialised on its stream, before torch reads them

    @property
    def cuda_graphs(self) -> bool:
        """Whether the physics replays captured CUDA graphs."""
        return bool(self._graphs)

    def _physics(self) -> None:
        for _ in range(self.task.frame_skip):
            mjw.step(self._model, self._data)
        if self.task.post_constraint:
            mjw.rne_postconstraint(self._model, self._data)

    def _forward(self) -> None:
        mjw.forward(self._model, self._data)

    def _capture(self, launch):
        launch()  # compiles every kernel before capture
        with wp.ScopedCapture(self.device) as capture:
            launch()
        return capture.graph

    def _run(self, name: str, launch) -> None:
        if not self._cuda:
            launch()
            return
        torch_stream = self._torch_stream()
        self._warp_stream.wait_stream(torch_stream)
        if name in self._graphs:
            wp.capture_launch(self._graphs[name], stream=self._warp_stream)
        else:
            with wp.ScopedStream(self._warp_stream):
                launch()
        torch_stream.wait_stream(self._warp_stream)

    def _torch_stream(self):
        stream = torch.cuda.current_stream(self.device)
        if stream.cuda_stream not in self._torch_streams:
            self._torch_streams[stream.cuda_stream] = wp.stream_from_torch(stream)
        return self._torch_streams[stream.cuda_stream]

    def _state(self) -> MdpState:
        return MdpState(
            self._qpos,
            self._qvel,
            self._ctrl,
            self._before,
            self._fields,
            self._body_mass,
            self.dt,
            self._action,
            self._task_state,
            self._task_state,
            self._uniform,
            self._model_fields,
        )

    def _draw(self, count: int) -> torch.Tensor:
        """Per-world numbers uniform in [0, 1) from the env's generator."""
        return torch.rand((self.num_envs, count), generator=self._generator, device=self.device)

    def _randomize(self, mask: torch.Tensor) -> None:
        """Draw new model factors for the worlds where mask is True."""
        factors = {}
        for name, (low, high) in self._dr_ranges.items():
            uniform = torch.rand((self.num_envs, self._dr_counts[name]), generator=self._generator, device=self.device)
            factors[name] = low + (high - low) * uniform
        for field, value in dr.scaled_fields(torch, self._dr_nominal, factors).items():
            view = self._dr_views[field]
            view.copy_(torch.where(mask.view(-1, *([1] * (view.dim() - 1))), value.to(view.dtype), view))

    def _reset_worlds(self, mask: torch.Tensor) -> None:
        """Reset the worlds where mask is True to the model defaults plus reset noise."""
        # torch masked writes rather than mjw.reset_data, whose per-call kernel set-up costs more than a step
        self._qpos.copy_(torch.where(mask.unsqueeze(-1), self._qpos0, self._qpos))
        for state in self._zeroed_on_reset:
            state.masked_fill_(mask.view(-1, *([1] * (state.dim() - 1))), 0.0)
        task = self.task
        for state, scale in ((self._qpos, task.reset_noise_scale), (self._qvel, task.velocity_noise_scale)):
            if state is self._qvel and task.qvel_noise == "normal":
                noise = torch.randn(state.shape, generator=self._generator, device=self.device) * scale
            else:
                noise = torch.rand(state.shape, generator=self._generator, device=self.device) * (2 * scale) - scale
            state.add_(noise * mask.unsqueeze(-1))
        if task.finish_reset is not None or task.reset_state is not None or task.reset_from_previous is not None:
            uniform = self._draw(task.reset_uniforms)
        qpos, qvel = self._qpos, self._qvel
        if task.finish_reset is not None:
            qpos, qvel = task.finish_reset(torch, qpos, qvel, uniform)
        fresh = task.reset_state(torch, uniform) if task.reset_state is not None else {}
        if task.reset_from_previous is not None:  # self._task_state: as the worlds' episodes ended
            qpos, qvel, fresh = task.reset_from_previous(torch, qpos, qvel, fresh, self._task_state, uniform)
        if qpos is not self._qpos:
            self._qpos.copy_(torch.where(mask.unsqueeze(-1), qpos, self._qpos))
            self._qvel.copy_(torch.where(mask.unsqueeze(-1), qvel, self._qvel))
        if self._task_state:
            self._task_state = {
                name: torch.where(
                    mask.view(-1, *([1] * (value.dim() - 1))),
                    fresh[name] if name in fresh else torch.zeros_like(value),
                    value,
                )
                for name, value in self._task_state.items()
            }
        self._episode_return.masked_fill_(mask, 0.0)
        self._episode_length.masked_fill_(mask, 0)
        if self._dr_ranges:
            self._randomize(mask)
        self._refresh(mask)

    def _refresh(self, mask: torch.Tensor | None) -> None:
        """Derived state of worlds whose qpos/qvel were just set (mask; None: all): Data fields and the
        tracked quantity. The forward runs on every world: the next step recomputes them from qpos and qvel
        anyway, so the worlds that did not reset are not changed."""
        if self.task.forward_on_reset:
            self._run("forward", self._forward)
        if self.task.tracked is not None:
            fresh = self.task.tracked(torch, self._state())
            self._before = (
                fresh.clone()
                if mask is None or self._before is None
                else torch.where(mask.unsqueeze(-1), fresh, self._before)
            )

    def _observations(self) -> torch.Tensor:
        """The observations of the worlds as they are (after a reset); a term that is not finite there gives zeros."""
        obs = self.task.observations(torch, self._state())
        return finite_or_zero(torch, obs) if self.finite_check else obs

    def _critic_states(self) -> torch.Tensor | None:
        """The critic's privileged observations of the worlds as they are (None for tasks without them)."""
        if self.task.states is None:
            return None
        states = self.task.states(torch, self._state())
        return finite_or_zero(torch, states) if self.finite_check else states

    def critic_states(self) -> torch.Tensor | None:
        """The states beside the observations that load_state_dict() or set_state() returned."""
        return self._critic_states()

    def _filled_history(self, observations: torch.Tensor) -> torch.Tensor:
        """Observations of worlds just reset (or set): with a history, that history filled with them."""
        if HISTORY not in self._task_state:
            return observations
        observations, self._task_state[HISTORY] = fill_history(torch, self._task_state[HISTORY], observations)
        return observations

    def reset(self, seed: int | None = None):
        if seed is not None:
            self._generator.manual_seed(seed)
        self._reset_worlds(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        obs = self._filled_history(self._observations())
        return obs, ({} if self.task.states is None else {"states": self._critic_states()})

    def step(self, actions: torch.Tensor):
        self.check_actions_shape(actions.shape)
        if self.task.tracked is not None and self._before is None:
            self._refresh(None)
        # clip only what reaches the simulator: the agent keeps its sampled action
        # actions made elsewhere (numpy, or torch on another device) are moved here, as Isaac Lab's envs do
        self._action = torch.clamp(torch.as_tensor(actions, device=self.device), self._action_low, self._action_high)
        self._ctrl.copy_(
            self._action if self._ctrl_scale is None else self._ctrl_offset + self._ctrl_scale * self._action
        )
        self._run("physics", self._physics)
        if self.task.step_uniforms:
            self._uniform = self._draw(self.task.step_uniforms)
        state = self._state()
        kicked_qvel = None
        if self.task.advance is not None:
            task_state, kicked_qvel = self.task.advance(torch, state)
            task_state = {**self._task_state, **task_state}
            state = state._replace(task=task_state)
            self._task_state = task_state
        r = evaluate_step(
            torch,
            self.task,
            state,
            self._episode_return,
            self._episode_length,
            self._finite if self.finite_check else None,
        )
        if kicked_qvel is not None:  # an interval event (a push): it acts from the next step on
            self._qvel.copy_(kicked_qvel)
        final_obs = r.obs.clone()  # a term may return a view of the simulator state, which the reset rewrites
        history = self._task_state.get(HISTORY)
        if history is not None:  # this step's observations enter each world's history
            final_obs, history = push_history(torch, history, final_obs)
        if self.task.tracked is not None:
            self._before = self.task.tracked(torch, state).clone()
        if r.nonfinite_sources is not None:  # counted on the device; check_finite() reads the counts
            if self._nonfinite_counts is None:
                self._nonfinite_counts = torch.zeros(r.nonfinite_sources.shape, dtype=torch.int32, device=self.device)
            self._nonfinite_counts += r.nonfinite_sources
        info = {
            "final_obs": final_obs,
            "episode": {"r": r.episode_return, "l": r.episode_length},
            "_episode": r.done,
            "log": r.log,
        }
        self._episode_return, self._episode_length = r.episode_return.clone(), r.episode_length.clone()
        if r.states is not None:
            info["final_states"] = r.states.clone()
        if self._task_state:  # the reset below puts new tensors in the task state: these keep the values before it
            info["final_task_state"] = {name: value for name, value in self._task_state.items() if name != HISTORY}
        self._reset_worlds(r.done)
        if history is None:
            obs = torch.where(r.done.unsqueeze(-1), self._observations(), final_obs)
        else:  # a reset world's history starts full of its first observation
            _, filled = fill_history(torch, history, self._observations())
            history = torch.where(r.done[:, None, None], filled, history)
            self._task_state[HISTORY] = history
            obs = history.reshape(self.num_envs, -1)
        if r.states is not None:
            info["states"] = torch.where(r.done.unsqueeze(-1), self._critic_states(), info["final_states"])
        return obs, r.reward, r.terminated, r.truncated, info

    def check_finite(self, max_fraction: float = DEFAULT_MAX_FRACTION) -> dict:
        """Raise SimulationError on a buffer overflow, or when more than `max_fraction` of the worlds went NaN or
        inf since the last check; returns the counts (finite_check.report) and clears them."""
        overflow = self._overflow & _BUFFER_OVERFLOWS
        worlds = int((overflow != 0).sum().item())
        if worlds:
            kinds = ", ".join(
                kind.name
                for kind in mjw.OverflowType
                if kind.value & _BUFFER_OVERFLOWS
                and kind.value != _BUFFER_OVERFLOWS
                and bool((overflow & kind.value).any())
            )
            self._overflow.zero_()
            raise SimulationError(
                f"simulation: {worlds} worlds of task {self.task.name!r} overflowed MuJoCo Warp's buffers ({kinds}); "
                f"their physics is wrong. Raise the task's nconmax (now {self.nconmax}) or njmax (now {self.njmax}), "
                f"e.g. tasks.make(..., nconmax={2 * self.nconmax}, njmax={2 * self.njmax})"
            )
        if self._nonfinite_counts is None:
            return report(self.task.name, (), np.zeros((self.num_envs, 1), np.int32), max_fraction)
        counts = self._nonfinite_counts.cpu().numpy().copy()  # on the CPU, .cpu() is the same memory
        self._nonfinite_counts.zero_()
        return report(self.task.name, self._finite.names, counts, max_fraction)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything a resumed run needs to continue these worlds exactly where they were."""
        state = {
            name: wp.to_torch(getattr(self._data, name)).cpu().numpy().copy()
            for name in ("qpos", "qvel", "act", "qacc_warmstart", "time")
        }
        state.update(
            episode_return=self._episode_return.cpu().numpy(),
            episode_length=self._episode_length.cpu().numpy(),
            generator=self._generator.get_state().numpy(),
        )
        state.update({f"model.{field}": view.cpu().numpy().copy() for field, view in self._dr_views.items()})
        state.update({f"task.{name}": value.cpu().numpy().copy() for name, value in self._task_state.items()})
        state["task.action"] = self._action.cpu().numpy().copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> torch.Tensor:
        """Restore worlds saved by state_dict() (same task and world count); returns their observations."""
        for name in ("qpos", "qvel", "act", "qacc_warmstart", "time"):
            view = wp.to_torch(getattr(self._data, name))
            view.copy_(torch.as_tensor(state[name], dtype=view.dtype).reshape(view.shape))
        self._episode_return.copy_(torch.as_tensor(state["episode_return"]))
        self._episode_length.copy_(torch.as_tensor(state["episode_length"]))
        self._generator.set_state(torch.as_tensor(state["generator"], dtype=torch.uint8))
        for field, view in self._dr_views.items():  # the worlds' randomized masses, frictions, gains
            if f"model.{field}" in state:
                view.copy_(torch.as_tensor(state[f"model.{field}"], dtype=view.dtype).reshape(view.shape))
        self._load_task_state(
            {name[len("task.") :]: value for name, value in state.items() if name.startswith("task.")}
        )
        self._refresh(None)
        if HISTORY in self._task_state:  # the observations the saved worlds last returned, with their history
            return self._task_state[HISTORY].reshape(self.num_envs, -1).clone()
        return self._observations()

    def _load_task_state(self, given: dict) -> None:
        """Task state (and the last action, "action") from arrays by name; names not given keep their values."""
        if "action" in given:
            self._action = torch.as_tensor(given["action"], dtype=torch.float32, device=self.device).reshape(
                self._action.shape
            )
        self._task_state = {
            name: torch.as_tensor(given[name], dtype=value.dtype, device=self.device).reshape(value.shape)
            if name in given
            else value
            for name, value in self._task_state.items()
        }

    def set_state(self, qpos: np.ndarray, qvel: np.ndarray, task_state: dict | None = None) -> torch.Tensor:
        """Put every world in the given state (arrays of shape (num_envs, nq) and (num_envs, nv), and task state
        by name); returns the observations of that state, as after a reset to it (external forces zero, derived
        fields recomputed). For tests, evaluation and replay."""
        self._load_task_state(task_state or {})
        self._qpos.copy_(torch.as_tensor(qpos, dtype=self._qpos.dtype))
        self._qvel.copy_(torch.as_tensor(qvel, dtype=self._qvel.dtype))
        self._fields.cfrc_ext.zero_()
        self._refresh(None)
        if HISTORY in (task_state or {}):
            return self._task_state[HISTORY].reshape(self.num_envs, -1).clone()
        return self._filled_history(self._observations())
