"""MuJoCo Warp engine: `num_envs` worlds of one MJCF stepped by mujoco_warp.

The MDP terms run in torch on `wp.to_torch` views of the simulator arrays (no copies); the arrays this env
returns are torch tensors on the simulator's device. On CUDA the physics step is captured once in a CUDA graph
and replayed, on torch's stream so that no synchronisation is needed between the two.
"""

from __future__ import annotations

import mujoco
import numpy as np
import torch
import warp as wp

import mujoco_warp as mjw

from .mdp_step import evaluate_step
from .task import TaskSpec
from .vec_env import VecEnv, nonfinite_error


class WarpVecEnv(VecEnv):
    framework = "torch"

    def __init__(self, task: TaskSpec, num_envs: int, device: str | None = None, seed: int = 0):
        wp.config.log_level = wp.LOG_WARNING  # no banner or per-module compile lines in training logs
        wp.init()
        self.task = task
        self.num_envs = num_envs
        self.device = str(wp.get_device(device)) if device else str(wp.get_preferred_device())
        self.single_observation_space = task.single_observation_space
        self.single_action_space = task.single_action_space
        self.max_episode_steps = task.max_episode_steps
        self.mj_model = mujoco.MjModel.from_xml_path(str(task.mjcf))

        with wp.ScopedDevice(self.device):
            self._model = mjw.put_model(self.mj_model)
            self._data = mjw.make_data(self.mj_model, nworld=num_envs)
        # zero-copy torch views of the simulator state
        self._qpos = wp.to_torch(self._data.qpos)
        self._qvel = wp.to_torch(self._data.qvel)
        self._ctrl = wp.to_torch(self._data.ctrl)
        # what a reset sets: qpos to qpos0, these to zero; the next step recomputes the rest of Data from them
        self._qpos0 = torch.as_tensor(self.mj_model.qpos0, dtype=self._qpos.dtype, device=self.device)
        self._zeroed_on_reset = [
            wp.to_torch(getattr(self._data, name))
            for name in ("qvel", "act", "ctrl", "qacc_warmstart", "qfrc_applied", "xfrc_applied", "time")
        ]

        self._episode_return = torch.zeros(num_envs, device=self.device)
        self._episode_length = torch.zeros(num_envs, dtype=torch.int32, device=self.device)
        self._nonfinite_worlds = torch.zeros((), dtype=torch.int64, device=self.device)
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(seed)
        self._action_low = torch.as_tensor(task.single_action_space.low, device=self.device)
        self._action_high = torch.as_tensor(task.single_action_space.high, device=self.device)
        self._graph = None
        if wp.get_device(self.device).is_cuda:
            self._capture_physics()

    def _physics(self) -> None:
        for _ in range(self.task.frame_skip):
            mjw.step(self._model, self._data)

    def _capture_physics(self) -> None:
        # warp and torch share one stream, so torch's writes to ctrl are ordered before the replayed graph
        wp.set_stream(wp.stream_from_torch(torch.cuda.current_stream(self.device)), self.device)
        self._physics()  # compiles every kernel before capture
        with wp.ScopedCapture(self.device) as capture:
            self._physics()
        self._graph = capture.graph

    def _simulate(self) -> None:
        if self._graph is not None:
            wp.capture_launch(self._graph)
        else:
            self._physics()

    def _reset_worlds(self, mask: torch.Tensor) -> None:
        """Reset the worlds where mask is True to the model defaults plus uniform reset noise."""
        # torch masked writes rather than mjw.reset_data, whose per-call kernel set-up costs more than a step
        self._qpos.copy_(torch.where(mask.unsqueeze(-1), self._qpos0, self._qpos))
        for state in self._zeroed_on_reset:
            state.masked_fill_(mask.view(-1, *([1] * (state.dim() - 1))), 0.0)
        scale = self.task.reset_noise_scale
        for state in (self._qpos, self._qvel):
            noise = torch.rand(state.shape, generator=self._generator, device=self.device) * (2 * scale) - scale
            state.add_(noise * mask.unsqueeze(-1))
        self._episode_return.masked_fill_(mask, 0.0)
        self._episode_length.masked_fill_(mask, 0)

    def _observations(self) -> torch.Tensor:
        return self.task.observations(torch, self._qpos, self._qvel)

    def reset(self, seed: int | None = None):
        if seed is not None:
            self._generator.manual_seed(seed)
        self._reset_worlds(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        return self._observations(), {}

    def step(self, actions: torch.Tensor):
        self.check_actions_shape(actions.shape)
        # clip only what reaches the simulator: the agent keeps its sampled action
        self._ctrl.copy_(torch.clamp(actions, self._action_low, self._action_high))
        self._simulate()
        r = evaluate_step(torch, self.task, self._qpos, self._qvel, self._episode_return, self._episode_length)
        self._nonfinite_worlds += r.nonfinite.sum()
        info = {
            "final_obs": r.obs,
            "episode": {"r": r.episode_return, "l": r.episode_length},
            "_episode": r.done,
        }
        self._episode_return, self._episode_length = r.episode_return.clone(), r.episode_length.clone()
        self._reset_worlds(r.done)
        obs = torch.where(r.done.unsqueeze(-1), self._observations(), r.obs)
        return obs, r.reward, r.terminated, r.truncated, info

    def check_finite(self) -> None:
        count = int(self._nonfinite_worlds.item())
        if count:
            self._nonfinite_worlds.zero_()
            raise nonfinite_error(self.task.name, count)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything a resumed run needs to continue these worlds exactly where they were."""
        state = {name: wp.to_torch(getattr(self._data, name)).cpu().numpy().copy()
                 for name in ("qpos", "qvel", "act", "qacc_warmstart", "time")}
        state.update(episode_return=self._episode_return.cpu().numpy(), episode_length=self._episode_length.cpu().numpy(),
                     generator=self._generator.get_state().numpy())
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> torch.Tensor:
        """Restore worlds saved by state_dict() (same task and world count); returns their observations."""
        for name in ("qpos", "qvel", "act", "qacc_warmstart", "time"):
            view = wp.to_torch(getattr(self._data, name))
            view.copy_(torch.as_tensor(state[name], dtype=view.dtype).reshape(view.shape))
        self._episode_return.copy_(torch.as_tensor(state["episode_return"]))
        self._episode_length.copy_(torch.as_tensor(state["episode_length"]))
        self._generator.set_state(torch.as_tensor(state["generator"], dtype=torch.uint8))
        return self._observations()

    def set_state(self, qpos: np.ndarray, qvel: np.ndarray) -> torch.Tensor:
        """Put every world in the given state (arrays of shape (num_envs, nq) and (num_envs, nv)); returns the
        observations of that state. For tests, evaluation and replay."""
        self._qpos.copy_(torch.as_tensor(qpos, dtype=self._qpos.dtype))
        self._qvel.copy_(torch.as_tensor(qvel, dtype=self._qvel.dtype))
        return self._observations()
