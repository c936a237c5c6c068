"""Proximal Policy Optimization in Warp (skrl's PPO API: act / record_transition / pre_ and post_interaction / update /
save / load), with no other framework in the loop.

Observations, actions, the rollout memory, the networks, GAE and the update are Warp arrays and kernels; the env's
torch tensors are viewed through `wp.from_torch` and the actions handed back as `wp.to_torch` views (interop.py), so
nothing is copied between the simulator and the agent. The step loop never waits for the host.

With `graph_capture` (the default), acting, recording a step, the update's preparation and each update epoch are
fixed launch sequences replayed as captured graphs (graphs.py): the KL early stop, the non-finite checks, the
minibatch order and the learning rates are decided on the device (update_control.py) and the update reads its
losses back once; without it, the kernels are launched one by one and update() reads its losses once per minibatch
(for the KL early stop and the finite checks), as the torch agent does.

It trains in one process only (no reducer; launch/train.py refuses a distributed run, and toolkit.registry does
not register it with averages_over_ranks). Shapes below: N worlds, A the action size (Box action spaces).
"""

from __future__ import annotations

from collections import defaultdict

import gymnasium as gym
import numpy as np
import warp as wp

from ..agent_base import AgentBase
from ..checkpoint import CheckpointError, check_npz_meta, extra_from_npz, npz_extra, read_npz, write_npz
from ..config import ConfigError, from_dict
from ..ppo_cfg import PPO_CFG
from . import export, losses
from . import update_control as control
from .gae import compute_gae, standardize
from .graphs import Graphs
from .interop import as_warp, is_torch, like_input, on_torch_stream, warp_device
from .memories import RandomMemory
from .models import ALTERNATIVE, Model
from .optim import Adam
from .schedulers import KLAdaptiveLR

wp.set_module_options({"enable_backward": False})  # gradients are written out, never taped

_FORMAT = "simtrain.warp.PPO"


@wp.kernel
def _record(
    rewards: wp.array(dtype=float),
    terminated: wp.array(dtype=wp.bool),
    truncated: wp.array(dtype=wp.bool),
    final_values: wp.array(dtype=float),
    bootstrap: float,
    out_rewards: wp.array(dtype=float),
    out_dones: wp.array(dtype=wp.uint8),
):
    """A step's reward (plus, at a time limit, the discounted value of the true final state) and its episode end."""
    i = wp.tid()
    reward = rewards[i]
    if bootstrap != 0.0 and truncated[i] and not terminated[i]:
        reward += bootstrap * final_values[i]
    out_rewards[i] = reward
    done = wp.uint8(0)
    if terminated[i] or truncated[i]:
        done = wp.uint8(1)
    out_dones[i] = done


@wp.kernel
def _gather_rows(source: wp.array2d(dtype=float), order: wp.array(dtype=wp.int32), out: wp.array2d(dtype=float)):
    i, j = wp.tid()
    out[i, j] = source[order[i], j]


@wp.kernel
def _gather(source: wp.array(dtype=float), order: wp.array(dtype=wp.int32), out: wp.array(dtype=float)):
    i = wp.tid()
    out[i] = source[order[i]]


def _bool(x) -> wp.array:
    """terminated / truncated as a Warp bool array (a view when the env gives torch bools, as simtrain's do)."""
    if is_torch(x) and str(x.dtype) != "torch.bool":
        x = x.bool()
    array = as_warp(x)
    if array.dtype != wp.bool:
        array = wp.array(array.numpy().astype(bool), dtype=wp.bool, device=array.device)
    return array.reshape((-1,))


class PPO(AgentBase):
    """skrl's Warp PPO. models: {"policy": Model[, "value": Model]} (toolkit.warp.build_models); memory: a
    RandomMemory of cfg.rollouts steps for the env's worlds (None: acting only); the env's spaces; device: a Warp
    device name; cfg: a PPO_CFG or a mapping of its keys; seed: sampling and shuffles."""

    checkpoint_format = _FORMAT

    def __init__(
        self,
        *,
        models: dict[str, Model],
        memory: RandomMemory | None = None,
        observation_space: gym.spaces.Space | None = None,
        state_space: gym.spaces.Space | None = None,
        action_space: gym.spaces.Space | None = None,
        device=None,
        cfg: PPO_CFG | dict | None = None,
        seed: int = 0,
    ):
        super().__init__()
        self.cfg = from_dict(PPO_CFG, cfg, "agent").validate()
        if self.cfg.mixed_precision:
            raise ConfigError(
                f"agent.mixed_precision: True is not allowed with --framework warp (skrl's Warp PPO has no "
                f"mixed precision); {ALTERNATIVE}"
            )
        if state_space is not None:
            raise ConfigError(
                f"state_space: {state_space} is not allowed with --framework warp (its value model reads "
                f"observations only, no asymmetric critic); {ALTERNATIVE}"
            )
        if "policy" not in models:
            raise ValueError(f"models: keys {sorted(models)} are not allowed; a 'policy' model is required")
        self.device = warp_device(device or "cpu")
        self.observation_space, self.state_space, self.action_space = observation_space, state_space, action_space
        self.memory = memory
        self.policy = models["policy"]
        self.value = models.get("value")
        self._shared = self.value is self.policy
        self._observation_size = int(np.prod(observation_space.shape))
        self._action_dim = self.policy.gaussian.action_dim
        cfg = self.cfg
        self._observation_preprocessor = (
            cfg.observation_preprocessor(
                size=observation_space.shape, device=self.device, **(cfg.observation_preprocessor_kwargs or {})
            )
            if cfg.observation_preprocessor
            else None
        )
        self._value_preprocessor = (
            cfg.value_preprocessor(size=1, device=self.device, **(cfg.value_preprocessor_kwargs or {}))
            if cfg.value_preprocessor
            else None
        )
        self.optimizer = self.scheduler = None
        if self.value is not None:
            policy_lr, value_lr = self._learning_rates()
            groups = [{"params": self.policy.params, "grad": self.policy.grad, "lr": policy_lr}]
            if not self._shared:
                groups.append({"params": self.value.params, "grad": self.value.grad, "lr": value_lr})
            self.optimizer = Adam(groups, lr=policy_lr)
            if cfg.learning_rate_scheduler:
                kwargs = cfg.learning_rate_scheduler_kwargs
                kwargs = (kwargs[0] if isinstance(kwargs, tuple) else kwargs) or {}
                self.scheduler = cfg.learning_rate_scheduler(self.optimizer, **kwargs)
        self._seed = int(seed)
        # sampling kernels draw from (seed * 1000003 + draws) mod (2^31 - 1), counted on the device (a new stream
        # every call, restored by load()); [1]: the shuffles of the capture path's minibatch order
        self._seed_base = (self._seed * 1_000_003) % (2**31 - 1)
        self._rng = wp.zeros(2, dtype=wp.int64, device=self.device)
        self._draw_seed = wp.zeros(1, dtype=wp.int32, device=self.device)
        self._shuffle = np.random.default_rng(seed)
        self._graphs = Graphs(self.device, capture=self.cfg.graph_capture)
        self._control = wp.zeros(4, dtype=wp.int32, device=self.device)  # see update_control
        self._stats = wp.zeros(6, dtype=wp.float64, device=self.device)
        self._buffers: dict[tuple, wp.array] = {}
        self._torch_views: dict[int, object] = {}
        self._next_observations = None
        self._losses = wp.zeros(4, dtype=float, device=self.device)  # policy, value, entropy, kl of a minibatch
        self._moments = wp.zeros(2, dtype=wp.float64, device=self.device)

    # ---- set-up ----
    def _learning_rates(self) -> tuple[float, float]:
        rate = self.cfg.learning_rate
        return tuple(rate) if isinstance(rate, tuple) else (rate, rate)

    def init(self, *, trainer_cfg: dict | None = None) -> None:
        super().init(trainer_cfg=trainer_cfg)
        if self.memory is None:
            return
        self.memory.create_tensor("observations", self._observation_size)
        self.memory.create_tensor("actions", self._action_dim)
        for name in ("log_prob", "values", "rewards"):
            self.memory.create_tensor(name, ())
        self.memory.create_tensor("dones", (), wp.uint8)

    def enable_training_mode(self, enabled: bool = True, *, apply_to_models: bool = False) -> None:
        self.training = enabled

    def enable_models_training_mode(self, enabled: bool = True) -> None:
        pass  # no dropout or normalisation layers: the models behave the same either way

    def _buffer(self, name: str, shape: tuple, dtype=float) -> wp.array:
        key = (name, shape)
        array = self._buffers.get(key)
        if array is None:
            array = self._buffers[key] = wp.zeros(shape, dtype=dtype, device=self.device)
        return array

    def _out(self, reference, array: wp.array):
        """A torch view of `array` when the env speaks torch (made once per buffer)."""
        if not is_torch(reference):
            return array
        view = self._torch_views.get(array.ptr)
        if view is None:
            view = self._torch_views[array.ptr] = like_input(reference, array)
        return view

    def _log_std_args(self) -> list:
        g = self.policy.gaussian
        return [
            self.policy.params,
            g.log_std_off,
            int(g.clip_log_std),
            float(g.min_log_std),
            float(g.max_log_std),
            int(g.reduce_mean),
        ]

    # ---- networks ----
    def _preprocess(self, observations, train: bool = False) -> wp.array:
        observations = as_warp(observations).reshape((-1, self._observation_size))
        if self._observation_preprocessor is None:
            return observations
        return self._observation_preprocessor(observations, train=train)

    def _values_of(self, observations: wp.array, out: wp.array) -> None:
        """Values in return units (value preprocessor undone) of preprocessed observations, into `out` (batch,)."""
        self._denormalized_values(self.value.forward(observations, policy=False).value[1], out)

    def _denormalized_values(self, values: wp.array, out: wp.array) -> None:
        if self._value_preprocessor is not None:
            values = self._value_preprocessor(values, inverse=True)
        wp.copy(out, values.reshape((-1,)))

    def _next_seed(self) -> wp.array:
        """The device array holding the seed of the next draw (counted on the device)."""
        wp.launch(
            losses.next_seed,
            dim=1,
            inputs=[self._seed_base],
            outputs=[self._rng, self._draw_seed],
            device=self.device,
        )
        return self._draw_seed

    # ---- interaction ----
    @on_torch_stream
    def act(self, observations, states=None, *, timestep: int, timesteps: int):
        """Sample actions for N worlds. observations (N, *obs_shape): a torch tensor (viewed, not copied) or a Warp
        array; `states` unused. Returns (actions (N, A), {"log_prob": (N,), "mean_actions": (N, A)}), of the input's
        kind; in training it also updates the observation statistics and keeps the step for record_transition."""
        raw = as_warp(observations).reshape((-1, self._observation_size))
        batch = raw.shape[0]
        uniform = self.training and timestep < self.cfg.random_timesteps
        if uniform:
            self._action_bounds()
        if self.cfg.graph_capture:  # a graph reads fixed addresses: the observations are copied to its input
            staged = self._buffer("act_input", raw.shape)
            wp.copy(staged, raw)
            obs = self._graphs.run(("act", batch, uniform, self.training), lambda: self._act_launches(staged, uniform))
        else:
            obs = self._act_launches(raw, uniform)
        self._act_observations = obs
        mean = self.policy.workspace(batch).mean[1]
        return self._out(observations, self._buffer("actions", (batch, self._action_dim))), {
            "log_prob": self._out(observations, self._buffer("log_prob", (batch,))),
            "mean_actions": self._out(observations, mean),
        }

    def _action_bounds(self) -> None:
        """The action space's bounds in device buffers (written once, read by uniform_actions)."""
        if ("low", (self._action_dim,)) not in self._buffers:
            space = self.action_space
            self._buffer("low", (self._action_dim,)).assign(np.maximum(space.low, -1e6).astype(np.float32))
            self._buffer("high", (self._action_dim,)).assign(np.minimum(space.high, 1e6).astype(np.float32))

    def _act_launches(self, raw: wp.array, uniform: bool) -> wp.array:
        """Acting's launches on (batch, observation_size) observations: actions, log-probabilities and (training)
        values into the agent's buffers; returns the preprocessed observations."""
        obs = self._preprocess(raw, train=self.training)
        batch = obs.shape[0]
        wants_values = self.training and self.value is not None
        ws = self.policy.forward(obs, value=wants_values and self._shared)  # a shared trunk runs once for both heads
        mean = ws.mean[1]
        actions = self._buffer("actions", (batch, self._action_dim))
        log_prob = self._buffer("log_prob", (batch,))
        if wants_values and self._shared:
            self._denormalized_values(ws.value[1], self._buffer("act_values", (batch,)))
        elif wants_values:
            self._values_of(obs, self._buffer("act_values", (batch,)))
        if uniform:
            wp.launch(
                losses.uniform_actions,
                dim=(batch, self._action_dim),
                inputs=[
                    self._buffer("low", (self._action_dim,)),
                    self._buffer("high", (self._action_dim,)),
                    self._next_seed(),
                ],
                outputs=[actions],
                device=self.device,
            )
            wp.launch(
                losses.gaussian_log_prob,
                dim=batch,
                inputs=[mean, *self._log_std_args(), actions],
                outputs=[log_prob],
                device=self.device,
            )
        else:
            wp.launch(
                losses.gaussian_sample,
                dim=batch,
                inputs=[mean, *self._log_std_args(), self._next_seed(), 1],
                outputs=[actions, log_prob],
                device=self.device,
            )
        return obs

    @on_torch_stream
    def record_transition(
        self,
        *,
        observations,
        states,
        actions,
        rewards,
        next_observations,
        next_states,
        terminated,
        truncated,
        infos,
        timestep: int,
        timesteps: int,
    ) -> None:
        """Store one step of N worlds in the memory (training only): actions (N, A), rewards, terminated and
        truncated (N,), next_observations (N, *obs_shape); infos["final_obs"] are the worlds' true last observations
        before an auto-reset, valued for time_limit_bootstrap. The update runs from post_interaction, every
        cfg.rollouts steps."""
        self._next_observations = next_observations
        if not self.training or self.memory is None:
            return
        memory, batch = self.memory, self.memory.num_envs
        if self.cfg.rewards_shaper is not None:
            rewards = self.cfg.rewards_shaper(rewards, timestep, timesteps)
        if self.cfg.graph_capture:
            self._record_captured(actions, rewards, next_observations, terminated, truncated, infos)
            memory.advance()
            return
        # the preprocessed observations of act() first: the value of a final state below reuses their buffer
        wp.copy(memory.row("observations"), self._act_observations.reshape(memory.row("observations").shape))
        wp.copy(memory.row("actions"), as_warp(actions).reshape(memory.row("actions").shape))
        wp.copy(memory.row("log_prob"), self._buffer("log_prob", (batch,)))
        wp.copy(memory.row("values"), self._buffer("act_values", (batch,)))
        final_values = self._buffer("final_values", (batch,))
        bootstrap = 0.0
        truncated = _bool(truncated)
        # on the CPU, reading `truncated` costs nothing: the values of final states are computed only in steps where
        # a world was truncated (on CUDA, always: no host synchronisation in the step loop)
        if self.cfg.time_limit_bootstrap and (self.device.is_cuda or truncated.numpy().any()):
            # the value of the true final state of a truncated episode, not of the state it was reset to
            final = (infos or {}).get("final_obs", next_observations)
            self._values_of(self._preprocess(final), final_values)
            bootstrap = self.cfg.discount_factor
        wp.launch(
            _record,
            dim=batch,
            inputs=[
                as_warp(rewards, dtype=float).reshape((-1,)),
                _bool(terminated),
                truncated,
                final_values,
                float(bootstrap),
            ],
            outputs=[memory.row("rewards"), memory.row("dones")],
            device=self.device,
        )
        memory.advance()

    def _record_captured(self, actions, rewards, next_observations, terminated, truncated, infos) -> None:
        """record_transition's capture path: the step's arrays copied to fixed buffers, then one graph per memory
        slot (its rows are other addresses) copies them into the memory and computes the rewards and episode ends;
        the values of final states are computed every step (no host read of `truncated`)."""
        memory, batch = self.memory, self.memory.num_envs
        bootstrap = self.cfg.time_limit_bootstrap
        staged = {
            "actions": (as_warp(actions), (batch, self._action_dim), float),
            "rewards": (as_warp(rewards, dtype=float), (batch,), float),
            "terminated": (_bool(terminated), (batch,), wp.bool),
            "truncated": (_bool(truncated), (batch,), wp.bool),
        }
        if bootstrap:
            final = (infos or {}).get("final_obs", next_observations)
            staged["final"] = (as_warp(final), (batch, self._observation_size), float)
        for name, (array, shape, dtype) in staged.items():
            wp.copy(self._buffer(f"record_{name}", shape, dtype), array.reshape(shape))
        self._graphs.run(
            ("record", memory.memory_index, batch, bootstrap), lambda: self._record_launches(memory.memory_index)
        )

    def _record_launches(self, index: int) -> None:
        memory, batch = self.memory, self.memory.num_envs
        rows = {name: tensor[index] for name, tensor in memory.tensors.items()}
        wp.copy(rows["observations"], self._act_observations.reshape(rows["observations"].shape))
        wp.copy(rows["actions"], self._buffer("record_actions", (batch, self._action_dim)))
        wp.copy(rows["log_prob"], self._buffer("log_prob", (batch,)))
        wp.copy(rows["values"], self._buffer("act_values", (batch,)))
        final_values, bootstrap = self._buffer("final_values", (batch,)), 0.0
        if self.cfg.time_limit_bootstrap:
            final = self._buffer("record_final", (batch, self._observation_size))
            self._values_of(self._preprocess(final), final_values)
            bootstrap = self.cfg.discount_factor
        wp.launch(
            _record,
            dim=batch,
            inputs=[
                self._buffer("record_rewards", (batch,)),
                self._buffer("record_terminated", (batch,), wp.bool),
                self._buffer("record_truncated", (batch,), wp.bool),
                final_values,
                float(bootstrap),
            ],
            outputs=[rows["rewards"], rows["dones"]],
            device=self.device,
        )

    # ---- learning ----
    @on_torch_stream
    def update(self, *, timestep: int, timesteps: int) -> None:
        """One PPO update on the memory's rollout of (T, N) steps: GAE, then cfg.learning_epochs passes of
        cfg.mini_batches shuffled minibatches. Tracks the losses, KL and learning rate; NonFiniteError where a loss
        or parameter is NaN or inf."""
        self._update_timestep = timestep
        memory = self.memory
        size = memory.memory_size * memory.num_envs
        if size // self.cfg.mini_batches == 0:
            raise ConfigError(
                f"agent.mini_batches: {self.cfg.mini_batches} is not allowed; must be <= the {size} samples of a "
                "rollout"
            )
        next_observations = as_warp(self._next_observations).reshape((-1, self._observation_size))
        if self.cfg.graph_capture:
            staged = self._buffer("next_input", next_observations.shape)
            wp.copy(staged, next_observations)
            batch = self._graphs.run(("prepare", size), lambda: self._prepare_launches(staged))
            self._optimize_captured(batch)
        else:
            self._optimize(self._prepare_launches(next_observations))
        memory.reset()

    def _prepare_launches(self, next_observations: wp.array) -> dict[str, wp.array]:
        """The update's launches before its epochs: the values of the last observations, GAE, the value
        preprocessor and the advantages' standardisation; returns the rollout as flat arrays."""
        memory, cfg = self.memory, self.cfg
        steps, envs = memory.memory_size, memory.num_envs
        last_values = self._buffer("last_values", (envs,))
        self._values_of(self._preprocess(next_observations), last_values)
        tensors = memory.tensors
        advantages = self._buffer("advantages", (steps, envs))
        returns = self._buffer("returns", (steps, envs))
        compute_gae(
            tensors["rewards"],
            tensors["values"],
            tensors["dones"],
            last_values,
            cfg.discount_factor,
            cfg.gae_lambda,
            advantages,
            returns,
        )
        size = steps * envs
        values = tensors["values"].reshape((size,))
        returns = returns.reshape((size,))
        if self._value_preprocessor is not None:
            self._value_preprocessor.update(returns.reshape((size, 1)))
            returns = self._value_preprocessor(
                returns.reshape((size, 1)), out=self._buffer("norm_returns", (size, 1))
            ).reshape((size,))
            values = self._value_preprocessor(
                values.reshape((size, 1)), out=self._buffer("norm_values", (size, 1))
            ).reshape((size,))
        advantages = advantages.reshape((size,))
        standardize(advantages, self._moments)
        batch = {
            "observations": tensors["observations"].reshape((size, self._observation_size)),
            "actions": tensors["actions"].reshape((size, self._action_dim)),
            "log_prob": tensors["log_prob"].reshape((size,)),
            "values": values,
            "returns": returns,
            "advantages": advantages,
        }
        return batch

    def _optimize(self, batch: dict[str, wp.array]) -> None:
        """`learning_epochs` passes of shuffled minibatches, with KL early stopping and the learning-rate scheduler;
        tracks the mean losses."""
        cfg = self.cfg
        size = batch["log_prob"].shape[0]
        order = self._buffer("order", (size,), wp.int32)
        shuffled = self._shuffled(batch)
        sums, updates = defaultdict(float), 0
        for _ in range(cfg.learning_epochs):
            order.assign(self._shuffle.permutation(size).astype(np.int32))
            self._gather(batch, order, shuffled)
            epoch_kl = []
            for mb in self._minibatches(shuffled):
                (policy_loss, value_loss, entropy_loss, kl), stopped = self._minibatch_step(mb)
                epoch_kl.append(kl)
                if stopped:
                    break
                sums["policy"] += policy_loss
                sums["value"] += value_loss
                sums["entropy"] += entropy_loss
                sums["kl"] += kl
                updates += 1
            if isinstance(self.scheduler, KLAdaptiveLR):
                self.scheduler.step(float(np.mean(epoch_kl)))
            elif self.scheduler is not None:
                self.scheduler.step()
        self._check_finite_parameters()
        self._track(sums, updates)

    def _shuffled(self, batch: dict[str, wp.array]) -> dict[str, wp.array]:
        return {name: self._buffer(f"shuffled_{name}", array.shape) for name, array in batch.items()}

    def _gather(self, batch: dict[str, wp.array], order: wp.array, shuffled: dict[str, wp.array]) -> None:
        """One gather per epoch; minibatches are then contiguous views."""
        for name, array in batch.items():
            kernel = _gather_rows if array.ndim == 2 else _gather
            wp.launch(kernel, dim=array.shape, inputs=[array, order], outputs=[shuffled[name]], device=self.device)

    def _minibatches(self, shuffled: dict[str, wp.array]) -> list[dict[str, wp.array]]:
        minibatch = shuffled["log_prob"].shape[0] // self.cfg.mini_batches
        return [
            {name: array[start : start + minibatch] for name, array in shuffled.items()}
            for start in range(0, minibatch * self.cfg.mini_batches, minibatch)
        ]

    def _optimize_captured(self, batch: dict[str, wp.array]) -> None:
        """_optimize's capture path: every epoch one graph (minibatch order, gathers, minibatch steps and a
        KL-adaptive learning rate, all decided on the device; see update_control), and one host read per update."""
        self.optimizer.push_device_state()
        self._control.zero_()
        self._stats.zero_()
        shuffled = self._shuffled(batch)
        minibatches = self._minibatches(shuffled)
        for _ in range(self.cfg.learning_epochs):
            self._graphs.run(
                ("epoch", batch["log_prob"].shape[0]), lambda: self._epoch_launches(batch, shuffled, minibatches)
            )
            if self.scheduler is not None and not isinstance(self.scheduler, KLAdaptiveLR):
                self.scheduler.step()  # a host scheduler between epochs
                self.optimizer.push_device_state()
        self.optimizer.pull_device_state()
        flags, stats = self._control.numpy(), self._stats.numpy()
        if flags[1] != 0:
            raise self.nonfinite_error(control.HALTS[int(flags[1])], getattr(self, "_update_timestep", None))
        self._check_finite_parameters()
        sums = {"policy": stats[0], "value": stats[1], "entropy": stats[2], "kl": stats[3]}
        self._track({key: float(value) for key, value in sums.items()}, int(flags[3]))

    def _epoch_launches(self, batch: dict, shuffled: dict, minibatches: list) -> None:
        cfg, size = self.cfg, batch["log_prob"].shape[0]
        order = self._buffer("order", (size,), wp.int32)
        wp.launch(control.begin_epoch, dim=1, outputs=[self._control, self._stats], device=self.device)
        wp.launch(
            control.shuffle_order,
            dim=size,
            inputs=[self._seed % (2**31 - 1), self._rng, 1, control.half_bits(size), size],
            outputs=[order],
            device=self.device,
        )
        wp.launch(control.advance, dim=1, inputs=[self._rng, 1], device=self.device)
        self._gather(batch, order, shuffled)
        for mb in minibatches:
            self.minibatch_losses(mb)
            self.minibatch_backward()
            self.optimizer.grad_square_sum()
            wp.launch(
                control.decide_minibatch,
                dim=1,
                inputs=[self._losses, self.optimizer.square_sum, float(cfg.kl_threshold)],
                outputs=[self._control, self._stats],
                device=self.device,
            )
            self.optimizer.step_gated(cfg.grad_norm_clip, self._control)
        if isinstance(self.scheduler, KLAdaptiveLR):
            s = self.scheduler
            wp.launch(
                control.kl_adaptive_lr,
                dim=len(self.optimizer.param_groups),
                inputs=[
                    self._stats,
                    self._control,
                    float(s.kl_threshold),
                    float(s.kl_factor),
                    float(s.lr_factor),
                    float(s.min_lr),
                    float(s.max_lr),
                ],
                outputs=[self.optimizer.device_lrs],
                device=self.device,
            )

    def _track(self, sums: dict[str, float], updates: int) -> None:
        """The update's mean losses, learning rate and policy standard deviation, to the tracked data."""
        updates = max(updates, 1)
        self.track_data("Loss / Policy loss", sums["policy"] / updates)
        self.track_data("Loss / Value loss", sums["value"] / updates)
        self.track_data("Loss / Entropy loss", sums["entropy"] / updates)
        self.track_data("Policy / KL divergence", sums["kl"] / updates)
        self.track_data("Learning / Learning rate", self.optimizer.param_groups[0]["lr"])
        g = self.policy.gaussian
        log_std = self.policy.params.numpy()[g.log_std_off : g.log_std_off + g.action_dim]
        if g.clip_log_std:
            log_std = np.clip(log_std, g.min_log_std, g.max_log_std)
        self.track_data("Policy / Standard deviation", float(np.exp(log_std).mean()))

    def minibatch_losses(self, mb: dict[str, wp.array]) -> None:
        """The forward pass and PPO's losses of one minibatch (into self._losses), with the gradients at the heads'
        outputs; the gradient of the log std is added into the policy's (zeroed first)."""
        cfg, n = self.cfg, mb["log_prob"].shape[0]
        obs = mb["observations"]
        self.optimizer.zero_grad()
        self._losses.zero_()
        ws_policy = self.policy.forward(obs, value=self._shared)
        ws_value = ws_policy if self._shared else self.value.forward(obs, policy=False)
        d_mean = self._buffer("d_mean", (n, self._action_dim))
        d_value = self._buffer("d_value", (n, 1))
        wp.launch(
            losses.policy_loss,
            dim=n,
            inputs=[
                ws_policy.mean[1],
                *self._log_std_args(),
                mb["actions"],
                mb["log_prob"],
                mb["advantages"],
                float(cfg.ratio_clip),
                1.0 / n,
            ],
            outputs=[self._losses, d_mean, self.policy.grad],
            device=self.device,
        )
        g = self.policy.gaussian
        wp.launch(
            losses.entropy_term,
            dim=1,
            inputs=[
                self.policy.params,
                g.log_std_off,
                g.action_dim,
                int(g.clip_log_std),
                float(g.min_log_std),
                float(g.max_log_std),
                float(cfg.entropy_loss_scale),
            ],
            outputs=[self._losses, self.policy.grad],
            device=self.device,
        )
        wp.launch(
            losses.value_loss,
            dim=n,
            inputs=[
                ws_value.value[1],
                mb["values"],
                mb["returns"],
                float(cfg.value_clip),
                float(cfg.value_loss_scale),
                1.0 / n,
            ],
            outputs=[self._losses, d_value],
            device=self.device,
        )
        self._mb_state = (obs, ws_policy, ws_value, d_mean, d_value)

    def minibatch_backward(self) -> None:
        """The parameter gradients of the last minibatch_losses() (the optimizer's groups' `grad`)."""
        obs, ws_policy, ws_value, d_mean, d_value = self._mb_state
        if self._shared:
            self.policy.backward(ws_policy, obs, d_mean, d_value)
        else:
            self.policy.backward(ws_policy, obs, d_mean, None)
            self.value.backward(ws_value, obs, None, d_value)
        g = self.policy.gaussian
        if g.fixed_log_std:  # a fixed log std takes no step (torch: requires_grad=False)
            self.policy.grad[g.log_std_off : g.log_std_off + g.action_dim].zero_()

    def _minibatch_step(self, mb: dict[str, wp.array]):
        cfg = self.cfg
        self.minibatch_losses(mb)
        values = policy_loss, value_loss, entropy_loss, kl = tuple(float(x) for x in self._losses.numpy())
        if cfg.kl_threshold and kl > cfg.kl_threshold:
            return values, True
        timestep = getattr(self, "_update_timestep", None)
        for name, value in (("policy loss", policy_loss), ("value loss", value_loss), ("entropy loss", entropy_loss)):
            if not np.isfinite(value):
                raise self.nonfinite_error(name, timestep)
        self.minibatch_backward()
        if not np.isfinite(self.optimizer.grad_square_sum().numpy()[0]):
            raise self.nonfinite_error("gradient", timestep)
        self.optimizer.step(cfg.grad_norm_clip)
        return values, False

    def _check_finite_parameters(self) -> None:
        for role, model in (("policy", self.policy), ("value", None if self._shared else self.value)):
            if model is not None and not np.isfinite(model.params.numpy()).all():
                raise self.nonfinite_error(f"parameter {role}.params", getattr(self, "_update_timestep", None))

    # ---- export (toolkit.export: agent.export(folder)) ----
    def policy_graph(self):
        """The deterministic policy, observation normaliser included, as a framework-neutral PolicyGraph."""
        return export.policy_graph(self)

    # ---- checkpoints ----
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Everything a resume needs, as named numpy arrays: networks, optimizer (with its learning rates),
        preprocessor statistics with counts, and the random streams."""
        arrays = {"policy/params": self.policy.params.numpy()}
        if self.value is not None and not self._shared:
            arrays["value/params"] = self.value.params.numpy()
        parts = (
            ("optimizer", self.optimizer),
            ("observation_preprocessor", self._observation_preprocessor),
            ("value_preprocessor", self._value_preprocessor),
        )
        for name, part in parts:
            if part is not None:
                arrays.update({f"{name}/{key}": np.asarray(value) for key, value in part.state_dict().items()})
        arrays["rng/draws"] = np.asarray(int(self._rng.numpy()[0]))
        return arrays

    def save(self, path: str, extra: dict | None = None) -> None:
        """Write `path` (.npz, read without pickle, atomically): the same contents as the torch agent's checkpoint
        (state_arrays()) and `extra` (numpy arrays and numbers, e.g. the trainer's timestep and the worlds' state).
        NonFiniteError, nothing written, where a value is NaN or inf."""
        arrays = self.state_arrays()
        meta = {
            "format": _FORMAT,
            "observation_shape": list(self.observation_space.shape),
            "action_space": repr(self.action_space),
            "shuffle": self._shuffle.bit_generator.state,
            "device_shuffles": int(self._rng.numpy()[1]),  # the capture path's minibatch orders so far
        }
        arrays.update(npz_extra(extra))
        self.check_checkpoint_finite(arrays, path)
        write_npz(path, meta, arrays)

    def load(self, path: str) -> dict:
        """Restore a checkpoint written by save() (CheckpointError, one line, for another task's or networks');
        returns its `extra`."""
        meta, arrays = read_npz(path, _FORMAT, "Warp PPO")
        check_npz_meta(
            path,
            meta,
            {"observation_shape": list(self.observation_space.shape), "action_space": repr(self.action_space)},
        )
        mine = self.state_arrays()
        for key, value in mine.items():
            if key not in arrays:
                raise CheckpointError(
                    f"checkpoint: {path} lacks {key}; it was written by an agent of another configuration"
                )
            if np.shape(arrays[key]) != np.shape(value):
                raise CheckpointError(
                    f"checkpoint: {path} has {key} of shape {np.shape(arrays[key])}; this agent's networks "
                    f"need {np.shape(value)} (written with other models settings, e.g. other hiddens)"
                )
        self.policy.params.assign(arrays["policy/params"])
        if "value/params" in mine:
            self.value.params.assign(arrays["value/params"])
        parts = (
            ("optimizer", self.optimizer),
            ("observation_preprocessor", self._observation_preprocessor),
            ("value_preprocessor", self._value_preprocessor),
        )
        for name, part in parts:
            if part is not None:
                prefix = f"{name}/"
                part.load_state_dict(
                    {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}
                )
        self._rng.assign(np.asarray([int(arrays["rng/draws"]), int(meta.get("device_shuffles", 0))], np.int64))
        self._shuffle.bit_generator.state = meta["shuffle"]
        self._rollout = 0  # a half-collected rollout is not saved: collection restarts at an update boundary
        if self.memory is not None:
            self.memory.reset()
        return extra_from_npz(arrays)
