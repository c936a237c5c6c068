"""Proximal Policy Optimization, torch (skrl's PPO API: act / record_transition / pre_ and post_interaction /
update / save / load).

The step loop never waits for the host: acting runs under inference_mode, transitions are copied into
preallocated tensors, and statistics are read only in update().

Shapes below: N worlds (the agent's scope of the env), A the action shape, T the rollout's steps (cfg.rollouts).
Distribution is the agent's reducer (toolkit.torch.reducers): a no-op in one process; under torchrun
`distribute(RankReducer())` makes the update average gradients, statistics, advantages' moments and KL over the
ranks, at the points named in reducers.py.
"""

from __future__ import annotations

import io
from collections import defaultdict

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from envs.convert import tree_map

from ..agent_base import AgentBase
from ..checkpoint import CheckpointError, atomic_write_bytes
from ..config import ConfigError, from_dict
from ..ppo_cfg import PPO_CFG
from . import export
from .gae import compute_gae
from .memories import RandomMemory
from .reducers import LocalReducer
from .schedulers import KLAdaptiveLR


class PPO(AgentBase):
    """skrl's PPO. models: {"policy": model[, "value": model]} (toolkit.torch.build_models; one shared model under
    both keys for a shared trunk); memory: a RandomMemory of cfg.rollouts steps for the agent's worlds (None:
    acting only); the env's spaces (state_space: privileged observations for an asymmetric critic); device; cfg:
    a PPO_CFG or a mapping of its keys."""

    checkpoint_format = "simtrain.torch.PPO"  # a subclass with other checkpoint contents names its own
    takes_states = True  # an env's states (privileged observations) feed the value model; PPO_RNN's critic does not

    def __init__(
        self,
        *,
        models: dict[str, nn.Module],
        memory: RandomMemory | None = None,
        observation_space: gym.spaces.Space | None = None,
        state_space: gym.spaces.Space | None = None,
        action_space: gym.spaces.Space | None = None,
        device: str | torch.device | None = None,
        cfg: PPO_CFG | dict | None = None,
    ):
        super().__init__()
        self.cfg = from_dict(PPO_CFG, cfg, "agent").validate()
        if "policy" not in models:
            raise ValueError(f"models: keys {sorted(models)} are not allowed; a 'policy' model is required")
        self.device = torch.device(device or "cpu")
        self.observation_space, self.state_space, self.action_space = observation_space, state_space, action_space
        self.memory = memory
        self.policy = models["policy"]
        self.value = models.get("value")
        self._shared = self.value is self.policy
        self.head = self.policy.head
        # asymmetric actor-critic: the value model reads the env's states, the policy its observations
        self.asymmetric = state_space is not None and self.value is not None and type(self).takes_states
        if self.asymmetric and self._shared:
            raise ConfigError(
                "models.separate: False is not allowed for an env with a state space (an asymmetric critic "
                "reads the states, the policy the observations); set separate: True"
            )

        cfg = self.cfg
        self._observation_preprocessor = (
            cfg.observation_preprocessor(
                size=observation_space.shape, device=self.device, **(cfg.observation_preprocessor_kwargs or {})
            )
            if cfg.observation_preprocessor
            else None
        )
        self._state_preprocessor = (
            cfg.state_preprocessor(size=state_space.shape, device=self.device, **(cfg.state_preprocessor_kwargs or {}))
            if cfg.state_preprocessor and self.asymmetric
            else None
        )
        self._value_preprocessor = (
            cfg.value_preprocessor(size=1, device=self.device, **(cfg.value_preprocessor_kwargs or {}))
            if cfg.value_preprocessor
            else None
        )

        self.optimizer = self.scheduler = None
        if self.value is not None:
            self.optimizer = torch.optim.Adam(self._param_groups(), lr=self._learning_rates()[0])
            if cfg.learning_rate_scheduler:
                kwargs = cfg.learning_rate_scheduler_kwargs
                kwargs = (kwargs[0] if isinstance(kwargs, tuple) else kwargs) or {}
                self.scheduler = cfg.learning_rate_scheduler(self.optimizer, **kwargs)
        amp_dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        self._autocast = dict(device_type=self.device.type, dtype=amp_dtype, enabled=cfg.mixed_precision)
        self._scaler = torch.amp.GradScaler(
            self.device.type, enabled=cfg.mixed_precision and self.device.type == "cuda"
        )

        self._cached: dict[str, torch.Tensor] = {}
        self._next_observations: torch.Tensor | None = None
        self._next_states: torch.Tensor | None = None
        self.reducer = LocalReducer()  # one process until distribute()

    def distribute(self, reducer) -> None:
        """Train as one rank of several: every rank takes rank 0's networks and preprocessor statistics, and from
        now on the update reduces through `reducer` (toolkit.torch.reducers). toolkit.distributed's Cluster.follow
        calls it for every agent of a torchrun, after init()."""
        self.reducer = reducer
        preprocessors = [self._observation_preprocessor, self._state_preprocessor, self._value_preprocessor]
        for module in [self.policy, self.value, *preprocessors]:
            reducer.broadcast_module(module)
        for preprocessor in preprocessors:
            if preprocessor is not None:
                preprocessor.distribute(reducer)

    # ---- set-up ----
    def _learning_rates(self) -> tuple[float, float]:
        rate = self.cfg.learning_rate
        return tuple(rate) if isinstance(rate, tuple) else (rate, rate)

    def _param_groups(self) -> list[dict]:
        policy_lr, value_lr = self._learning_rates()
        policy_params = list(self.policy.parameters())
        if self._shared:
            return [{"params": policy_params, "lr": policy_lr}]
        return [{"params": policy_params, "lr": policy_lr}, {"params": list(self.value.parameters()), "lr": value_lr}]

    def init(self, *, trainer_cfg: dict | None = None) -> None:
        """Allocate the rollout memory and name the experiment folder (the trainer calls it once)."""
        super().init(trainer_cfg=trainer_cfg)
        if self.memory is None:
            return
        action_shape = self.action_space.shape
        action_dtype = torch.long if isinstance(self.action_space, gym.spaces.Discrete) else torch.float32
        self.memory.create_tensor("observations", self.observation_space.shape)
        if self.asymmetric:
            self.memory.create_tensor("states", self.state_space.shape)
        self.memory.create_tensor("actions", action_shape, action_dtype)
        for name in ("log_prob", "values", "rewards"):
            self.memory.create_tensor(name, ())
        for name in ("terminated", "truncated"):
            self.memory.create_tensor(name, (), torch.bool)

    def enable_training_mode(self, enabled: bool = True, *, apply_to_models: bool = False) -> None:
        self.training = enabled
        if apply_to_models:
            self.enable_models_training_mode(enabled)

    def enable_models_training_mode(self, enabled: bool = True) -> None:
        self.policy.train(enabled)
        if self.value is not None:
            self.value.train(enabled)

    # ---- networks ----
    def _preprocess(self, observations: torch.Tensor, train: bool = False) -> torch.Tensor:
        observations = observations.to(torch.float32).reshape(-1, *self.observation_space.shape)
        if self._observation_preprocessor is None:
            return observations
        return self._observation_preprocessor(observations, train=train)

    def _preprocess_states(self, states: torch.Tensor, train: bool = False) -> torch.Tensor:
        states = states.to(torch.float32).reshape(-1, *self.state_space.shape)
        if self._state_preprocessor is None:
            return states
        return self._state_preprocessor(states, train=train)

    def _critic_inputs(
        self, observations: torch.Tensor, states: torch.Tensor | None, train: bool = False
    ) -> torch.Tensor:
        """What the value model reads: the preprocessed states (asymmetric), else the preprocessed observations."""
        if not self.asymmetric:
            return observations
        if states is None:
            raise ValueError(
                f"states: None is not allowed; agent {self.name} was built for an env with a state space "
                f"{self.state_space} and its value model reads the env's states"
            )
        return self._preprocess_states(states, train=train)

    def _policy_value(self, observations: torch.Tensor, critic_inputs: torch.Tensor | None = None):
        """Distribution parameters and values of preprocessed observations (and critic inputs, where they differ)."""
        if self._shared:
            return self.policy.policy_and_value(observations)
        return self.policy(observations), self.value(observations if critic_inputs is None else critic_inputs)

    def _state_value(self, observations: torch.Tensor, states: torch.Tensor | None = None) -> torch.Tensor:
        """Value in return units (value preprocessor undone) of raw observations (raw states for an asymmetric
        critic)."""
        observations = self._preprocess(observations)
        if self._shared:
            return self._denormalize_value(self.policy.value(observations))
        return self._denormalize_value(self.value(self._critic_inputs(observations, states)))

    def _denormalize_value(self, values: torch.Tensor) -> torch.Tensor:
        if self._value_preprocessor is None:
            return values
        return self._value_preprocessor(values.unsqueeze(-1), inverse=True).squeeze(-1)

    # ---- interaction ----
    def act(self, observations: torch.Tensor, states: torch.Tensor | None = None, *, timestep: int, timesteps: int):
        """Sample actions for N worlds. observations (N, *obs_shape); states (N, *state_shape) for an env with a
        state space, else None. Returns (actions (N, *A), {"log_prob": (N,), "mean_actions": (N, *A)}); in
        training it also updates the observation statistics and keeps the step for record_transition."""
        with torch.inference_mode():
            obs = self._preprocess(observations, train=self.training)
            if self.training and self.value is not None:
                critic_inputs = self._critic_inputs(obs, states, train=True)
                params, values = self._policy_value(obs, critic_inputs)
                self._cached = {"observations": obs, "values": self._denormalize_value(values)}
                if self.asymmetric:
                    self._cached["states"] = critic_inputs
            else:
                params = self.policy(obs)
            if self.training and timestep < self.cfg.random_timesteps:
                actions = self._random_actions(obs.shape[0])
            else:
                actions = self.head.sample(params)
            log_prob = self.head.log_prob(params, actions)
            self._cached["log_prob"] = log_prob
        return actions, {"log_prob": log_prob, "mean_actions": self.head.mode(params)}

    def _random_actions(self, batch: int) -> torch.Tensor:
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            return torch.randint(int(space.n), (batch,), device=self.device)
        low = torch.as_tensor(np.maximum(space.low, -1e6), device=self.device)
        high = torch.as_tensor(np.minimum(space.high, 1e6), device=self.device)
        return low + (high - low) * torch.rand((batch, *space.shape), device=self.device)

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
        """Store one step of N worlds in the memory (training only): actions (N, *A), rewards, terminated and
        truncated (N,), next_observations (N, *obs_shape), next_states (N, *state_shape) or None; infos["final_obs"]
        (and "final_states") are the worlds' true last observations before an auto-reset, valued for
        time_limit_bootstrap. The update itself runs from post_interaction, every cfg.rollouts steps."""
        self._next_observations, self._next_states = next_observations, next_states
        if not self.training or self.memory is None:
            return
        with torch.inference_mode():
            rewards = rewards.to(torch.float32)
            if self.cfg.rewards_shaper is not None:
                rewards = self.cfg.rewards_shaper(rewards, timestep, timesteps)
            if self.cfg.time_limit_bootstrap:
                # the value of the true final state of a truncated episode, not of the state it was reset to
                final = (infos or {}).get("final_obs", next_observations)
                final_states = (infos or {}).get("final_states", next_states) if self.asymmetric else None
                timed_out = truncated.bool() & ~terminated.bool()
                rewards = rewards + self.cfg.discount_factor * self._state_value(final, final_states) * timed_out
        critic = {"states": self._cached["states"]} if self.asymmetric else {}
        self.memory.add_samples(
            **critic,
            observations=self._cached["observations"],
            actions=actions,
            log_prob=self._cached["log_prob"],
            values=self._cached["values"],
            rewards=rewards,
            terminated=terminated,
            truncated=truncated,
        )

    # ---- learning ----
    def update(self, *, timestep: int, timesteps: int) -> None:
        """One PPO update on the memory's rollout of (T, N) steps: GAE, then cfg.learning_epochs passes of
        cfg.mini_batches shuffled minibatches. Tracks the losses, KL and learning rate; NonFiniteError (before the
        optimizer step) where a loss, gradient or parameter is NaN or inf."""
        self._update_timestep = timestep
        with torch.no_grad():
            batch = self._advantage_batch(self._state_value(self._next_observations, self._next_states))
        self._optimize({name: tensor.flatten(0, 1) for name, tensor in batch.items()})

    def _advantage_batch(self, last_values: torch.Tensor) -> dict[str, torch.Tensor]:
        """GAE over the rollout, the value preprocessor's update and advantage standardisation: the batch's
        entries as (steps, num_envs, ...)."""
        cfg, tensors = self.cfg, self.memory.tensors
        dones = tensors["terminated"] | tensors["truncated"]
        advantages, returns = compute_gae(
            tensors["rewards"], tensors["values"], dones, last_values, cfg.discount_factor, cfg.gae_lambda
        )
        values = tensors["values"]
        if self._value_preprocessor is not None:
            self._value_preprocessor.update(returns)
            returns = self._value_preprocessor(returns.unsqueeze(-1)).squeeze(-1)
            values = self._value_preprocessor(values.unsqueeze(-1)).squeeze(-1)
        batch = {
            "observations": tensors["observations"],
            "actions": tensors["actions"],
            "log_prob": tensors["log_prob"],
            "values": values,
            "returns": returns,
            "advantages": self.reducer.standardize(advantages),
        }
        if self.asymmetric:
            batch["states"] = tensors["states"]
        return batch

    def _minibatch_losses(self, mb: dict[str, torch.Tensor]):
        dist_params, predicted = self._policy_value(mb["observations"], mb.get("states"))
        return self._losses(dist_params, predicted, mb)

    def _losses(self, dist_params, predicted: torch.Tensor, mb: dict[str, torch.Tensor]):
        """PPO's clipped surrogate, clipped value loss and entropy bonus, and the approximate KL."""
        cfg = self.cfg
        log_prob = self.head.log_prob(dist_params, mb["actions"])
        entropy = self.head.entropy(dist_params).mean()
        log_ratio = log_prob - mb["log_prob"]
        ratio = log_ratio.exp()
        kl = self.reducer.mean(((ratio - 1) - log_ratio).mean().detach())
        surrogate = mb["advantages"] * ratio
        clipped = mb["advantages"] * ratio.clamp(1 - cfg.ratio_clip, 1 + cfg.ratio_clip)
        policy_loss = -torch.min(surrogate, clipped).mean()
        if cfg.value_clip > 0:
            predicted = mb["values"] + (predicted - mb["values"]).clamp(-cfg.value_clip, cfg.value_clip)
        value_loss = cfg.value_loss_scale * (mb["returns"] - predicted.float()).square().mean()
        return policy_loss, value_loss, -cfg.entropy_loss_scale * entropy, kl

    def _optimize(self, batch: dict[str, torch.Tensor]) -> None:
        """`learning_epochs` passes of shuffled minibatches over the batch's first axis (samples, or sequences),
        with KL early stopping and the learning-rate scheduler; tracks the mean losses."""
        cfg = self.cfg
        size = batch["log_prob"].shape[0]
        minibatch = size // cfg.mini_batches
        if minibatch == 0:
            raise ConfigError(
                f"agent.mini_batches: {cfg.mini_batches} is not allowed; "
                f"must be <= the {size} samples (or sequences) of a rollout"
            )
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        sums = defaultdict(lambda: torch.zeros((), device=self.device))
        updates = 0
        for _ in range(cfg.learning_epochs):
            # one gather per epoch; the minibatches are then contiguous views of the shuffled tensors
            order = torch.randperm(size, device=self.device)
            shuffled = {name: tensor[order] for name, tensor in batch.items()}
            epoch_kl = []
            for start in range(0, minibatch * cfg.mini_batches, minibatch):
                mb = {name: tensor[start : start + minibatch] for name, tensor in shuffled.items()}
                with torch.autocast(**self._autocast):
                    policy_loss, value_loss, entropy_loss, kl = self._minibatch_losses(mb)
                epoch_kl.append(kl)
                if cfg.kl_threshold and kl > cfg.kl_threshold:
                    break
                self.optimizer.zero_grad(set_to_none=True)
                loss = policy_loss + entropy_loss + value_loss
                self._scaler.scale(loss).backward()
                self.reducer.average_gradients(params)
                grad_norm = None
                if cfg.grad_norm_clip > 0:
                    self._scaler.unscale_(self.optimizer)
                    grad_norm = nn.utils.clip_grad_norm_(params, cfg.grad_norm_clip)
                self._check_finite_step(loss, policy_loss, value_loss, entropy_loss, params, grad_norm)
                self._scaler.step(self.optimizer)
                self._scaler.update()
                for name, value in (
                    ("policy", policy_loss),
                    ("value", value_loss),
                    ("entropy", entropy_loss),
                    ("kl", kl),
                ):
                    sums[name] += value.detach().float()
                updates += 1
            if isinstance(self.scheduler, KLAdaptiveLR):
                self.scheduler.step(torch.stack(epoch_kl).mean())
            elif self.scheduler is not None:
                self.scheduler.step()

        self._check_finite_parameters()
        updates = max(updates, 1)
        self.track_data("Loss / Policy loss", float(sums["policy"]) / updates)
        self.track_data("Loss / Value loss", float(sums["value"]) / updates)
        self.track_data("Loss / Entropy loss", float(sums["entropy"]) / updates)
        self.track_data("Policy / KL divergence", float(sums["kl"]) / updates)
        self.track_data("Learning / Learning rate", self.optimizer.param_groups[0]["lr"])
        if hasattr(self.head, "log_std"):
            self.track_data("Policy / Standard deviation", float(self.head.log_std.detach().exp().mean()))

    def _check_finite_step(self, loss, policy_loss, value_loss, entropy_loss, params, grad_norm) -> None:
        """Stop before the optimizer step when the loss or the gradient is NaN or inf (one host sync per minibatch;
        with mixed precision on CUDA the grad scaler skips steps with inf gradients itself, so only the loss counts)."""
        checks = [torch.isfinite(loss.detach()).all()]
        if not self._scaler.is_enabled():
            if grad_norm is None:
                grad_norm = nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
            checks.append(torch.isfinite(grad_norm).all())
        loss_ok, *grad_ok = torch.stack(checks).tolist()
        timestep = getattr(self, "_update_timestep", None)
        if not loss_ok:
            for name, value in (
                ("policy loss", policy_loss),
                ("value loss", value_loss),
                ("entropy loss", entropy_loss),
            ):
                if not torch.isfinite(value.detach()).all():
                    raise self.nonfinite_error(name, timestep)
            raise self.nonfinite_error("loss", timestep)
        if grad_ok and not grad_ok[0]:
            raise self.nonfinite_error("gradient", timestep)

    def _check_finite_parameters(self) -> None:
        modules = {"policy": self.policy, "value": None if self._shared else self.value}
        named = [
            (f"{role}.{name}", p)
            for role, module in modules.items()
            if module is not None
            for name, p in module.named_parameters()
        ]
        if named and not bool(torch.stack([torch.isfinite(p).all() for _, p in named]).all()):
            bad = next(name for name, p in named if not bool(torch.isfinite(p).all()))
            raise self.nonfinite_error(f"parameter {bad}", getattr(self, "_update_timestep", None))

    # ---- export (toolkit.export: agent.export(folder)) ----
    def policy_graph(self):
        """The deterministic policy, observation normaliser included, as a framework-neutral PolicyGraph."""
        return export.policy_graph(self)

    def write_torchscript(self, graph, path: str) -> str:
        """Write the deterministic policy as a TorchScript module to `path` (checked against `graph`'s outputs);
        returns the path."""
        return export.write_torchscript(self, graph, path)

    # ---- checkpoints ----
    def state_dict(self) -> dict:
        state = {
            "format": self.checkpoint_format,
            "observation_shape": list(self.observation_space.shape),
            "action_space": repr(self.action_space),
            "policy": self.policy.state_dict(),
            "rng": torch.get_rng_state(),
        }
        if self.value is not None and not self._shared:
            state["value"] = self.value.state_dict()
        if self.asymmetric:
            state["state_shape"] = list(self.state_space.shape)
        for name, module in (
            ("optimizer", self.optimizer),
            ("scheduler", self.scheduler),
            ("observation_preprocessor", self._observation_preprocessor),
            ("state_preprocessor", self._state_preprocessor),
            ("value_preprocessor", self._value_preprocessor),
        ):
            if module is not None:
                state[name] = module.state_dict()
        return state

    def save(self, path: str, extra: dict | None = None) -> None:
        """Write the agent (state_dict(): networks, optimizer, scheduler, preprocessor statistics, random state) and
        `extra` (e.g. the trainer's timestep and the worlds' state; numpy arrays are stored as tensors) to `path`
        atomically: a crash mid-write leaves the previous file intact. NonFiniteError, nothing written, where a
        value is NaN or inf."""
        state = self.state_dict()
        if extra:
            state["extra"] = tree_map(lambda x: torch.from_numpy(np.ascontiguousarray(x)), extra)
        self.check_checkpoint_finite(state, path)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(path, buffer.getvalue())

    @staticmethod
    def _load_module(module: nn.Module, saved: dict, role: str, path: str) -> None:
        """load_state_dict, with networks of other layer sizes or layers as a one-line CheckpointError."""
        mine = module.state_dict()
        for key in sorted(set(mine) | set(saved)):
            theirs = tuple(saved[key].shape) if key in saved else None
            ours = tuple(mine[key].shape) if key in mine else None
            if theirs != ours:
                raise CheckpointError(
                    f"checkpoint: {path} has {role}.{key} of shape {theirs}; this agent's networks need "
                    f"{ours} (written with other models settings, e.g. other hiddens)"
                )
        module.load_state_dict(saved)

    def _load_agent_state(self, state: dict) -> None:
        """What a subclass adds to state_dict(), restored from a loaded checkpoint."""

    def load(self, path: str) -> dict:
        """Restore a checkpoint written by save() (CheckpointError, one line, for another task's or networks');
        returns its `extra` (numpy arrays again). The memory is emptied: collection restarts at an update boundary."""
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as error:  # a truncated or non-torch file
            raise CheckpointError(
                f"checkpoint: {path} cannot be read ({type(error).__name__}); "
                f"expected a file written by {type(self).__name__}.save"
            ) from None
        if not isinstance(state, dict) or state.get("format") != self.checkpoint_format:
            raise CheckpointError(f"checkpoint: {path} is not a simtrain torch {type(self).__name__} checkpoint")
        mine_state = list(self.state_space.shape) if self.asymmetric else None
        for key, mine in (
            ("observation_shape", list(self.observation_space.shape)),
            ("action_space", repr(self.action_space)),
            ("state_shape", mine_state),
        ):
            if state.get(key) != mine:
                raise CheckpointError(
                    f"checkpoint: {path} has {key} {state[key]}; this agent needs {mine} (another task?)"
                )
        self._load_module(self.policy, state["policy"], "policy", path)
        if "value" in state and self.value is not None and not self._shared:
            self._load_module(self.value, state["value"], "value", path)
        for name, module in (
            ("optimizer", self.optimizer),
            ("scheduler", self.scheduler),
            ("observation_preprocessor", self._observation_preprocessor),
            ("state_preprocessor", self._state_preprocessor),
            ("value_preprocessor", self._value_preprocessor),
        ):
            if module is not None and name in state:
                module.load_state_dict(state[name])
        self._load_agent_state(state)
        if "rng" in state:
            torch.set_rng_state(state["rng"].cpu())
        # a half-collected rollout is not saved: collection restarts at an update boundary
        self._rollout = 0
        if self.memory is not None:
            self.memory.reset()
        return tree_map(lambda x: x.numpy(), state.get("extra", {}))
