"""Proximal Policy Optimization in JAX, with the torch agent's API, configuration and checkpoint contents.

Every step of the algorithm is a public pure function of the agent's arrays, the same for PPO and PPO_RNN:
acting (`act_step`), recording a transition (`record_step`), preparing the batch (`prepare_batch`) and a whole
update (`update_step`: GAE as a reverse scan, then a scan over epochs of scans over minibatches, with KL early
stopping and the KL-adaptive learning rate set between epochs). The step-by-step methods (act, record_transition,
update) jit each of them; `toolkit.jax.compiled` puts the same functions inside one `lax.scan` over an MJX rollout.
optax does the optimisation: Adam with global gradient-norm clipping and the learning rate as an injected
hyperparameter.

Shapes below: N worlds, D the model's input size (the observations' flattened size, plus the states' for an
asymmetric critic), A the action shape, T the rollout's steps (cfg.rollouts). `preprocessors` is the dict of
running statistics {"observation", "value"[, "state"]} ({} where a preprocessor is off); `rnn_states` the worlds'
recurrent states ({"policy": (h[, c]), "value": ...}, each (layers, N, hidden)) for PPO_RNN and None for PPO.

Distribution is the agent's reducer (toolkit.jax.reducers): a no-op in one process; `distribute(reducer)` installs
toolkit.jax.distributed's ProcessReducer, which `update` and `prepare_batch` call where statistics are merged and
the batch is laid out, and which compiles `update_step` over the global batch of every process.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax

from envs.convert import jax_device, on_device

from ..agent_base import AgentBase
from ..checkpoint import CheckpointError, check_npz_meta, extra_from_npz, npz_extra, read_npz, write_npz
from ..config import ConfigError, from_dict
from ..ppo_cfg import PPO_CFG
from . import export
from .models import ActorCritic
from .reducers import LocalReducer
from .schedulers import KLAdaptiveLR

_FORMAT = "simtrain.jax.PPO"


class RandomMemory:
    """The rollout of `memory_size` steps for `num_envs` worlds: steps are kept as they come and stacked once per
    update (JAX arrays are immutable, so in-place writes would copy the whole buffer every step)."""

    def __init__(self, memory_size: int, num_envs: int = 1, device=None):
        if memory_size < 1:
            raise ValueError(f"memory_size: {memory_size} is not allowed; must be >= 1")
        self.memory_size, self.num_envs = memory_size, num_envs
        self.steps: list[dict] = []

    def add_samples(self, **samples) -> None:
        self.steps.append(samples)

    def stacked(self) -> dict:
        return {name: jnp.stack([step[name] for step in self.steps]) for name in self.steps[0]}

    def reset(self) -> None:
        self.steps = []

    def __len__(self) -> int:
        return len(self.steps)


def compute_gae(rewards, values, dones, last_values, discount_factor: float, gae_lambda: float):
    """(advantages, returns) over (steps, num_envs); nothing flows back across `dones` (see the torch version)."""
    not_done = 1.0 - dones.astype(values.dtype)

    def backward(carry, step):
        advantage, next_values = carry
        reward, value, alive = step
        delta = reward + discount_factor * alive * next_values - value
        advantage = delta + discount_factor * gae_lambda * alive * advantage
        return (advantage, value), advantage

    _, advantages = jax.lax.scan(
        backward, (jnp.zeros_like(last_values), last_values), (rewards, values, not_done), reverse=True
    )
    return advantages, advantages + values


class Acted(NamedTuple):
    """What `act_step` returns for N worlds."""

    preprocessors: dict  # the preprocessor states after this step (observation statistics updated when training)
    actions: jax.Array  # (N, *A) sampled actions
    log_prob: jax.Array  # (N,) their log-probability
    mean_actions: jax.Array  # (N, *A) the distribution's mode (the deterministic action)
    samples: dict  # what record_step stores of this step: "observations" (N, D) preprocessed, "log_prob" (N,),
    # "values" (N,) in return units; PPO_RNN adds the recurrent states the step started from ("rnn/<role>/<i>")
    next_rnn_states: Any  # PPO_RNN: the worlds' states after this step (before episode ends zero them); PPO: None


class PPO(AgentBase):
    """skrl's PPO in JAX. models: {"policy": ActorCritic} (toolkit.jax.build_models); memory: a RandomMemory of
    cfg.rollouts steps for the env's worlds (None: acting only); cfg: a PPO_CFG or a mapping of its keys; seed:
    the agent's random key (initial weights, sampling, shuffles)."""

    takes_states = True  # an env's states (privileged observations) feed the value network; PPO_RNN's does not

    def __init__(
        self,
        *,
        models: dict,
        memory: RandomMemory | None = None,
        observation_space: gym.spaces.Space | None = None,
        state_space: gym.spaces.Space | None = None,
        action_space: gym.spaces.Space | None = None,
        device=None,
        cfg: PPO_CFG | dict | None = None,
        seed: int = 0,
    ):
        super().__init__()
        self.cfg = cfg = from_dict(PPO_CFG, cfg, "agent").validate()
        if not isinstance(models.get("policy"), ActorCritic):
            raise ValueError("models: a 'policy' ActorCritic (toolkit.jax.build_models) is required")
        if isinstance(cfg.learning_rate, tuple):
            raise ConfigError(
                "agent.learning_rate: a pair is not allowed for the JAX agent; its one optimizer takes one rate"
            )
        if cfg.learning_rate_scheduler not in (None, KLAdaptiveLR):
            raise ConfigError(
                f"agent.learning_rate_scheduler: {cfg.learning_rate_scheduler!r} is not allowed; "
                "choose KLAdaptiveLR or none"
            )
        self.model, self.memory = models["policy"], memory
        self.observation_space, self.state_space, self.action_space = observation_space, state_space, action_space
        self.device = device
        # asymmetric actor-critic: the model's input is the observations followed by the states (ActorCritic splits it)
        self.asymmetric = state_space is not None and type(self).takes_states
        if self.asymmetric and not getattr(self.model, "asymmetric", False):
            raise ValueError(
                f"models: built without a state space; for an env with states {state_space}, build them with "
                "toolkit.jax.build_models(..., state_space=env.state_space)"
            )
        self._key, init_key = jax.random.split(jax.random.key(seed))
        self.params = self.model.init(init_key)
        self._obs_scaler = (
            cfg.observation_preprocessor(size=observation_space.shape, **(cfg.observation_preprocessor_kwargs or {}))
            if cfg.observation_preprocessor
            else None
        )
        self._state_scaler = (
            cfg.state_preprocessor(size=state_space.shape, **(cfg.state_preprocessor_kwargs or {}))
            if cfg.state_preprocessor and self.asymmetric
            else None
        )
        self._value_scaler = (
            cfg.value_preprocessor(size=1, **(cfg.value_preprocessor_kwargs or {})) if cfg.value_preprocessor else None
        )
        self.preprocessor_states = {
            "observation": self._obs_scaler.init_state() if self._obs_scaler else {},
            "value": self._value_scaler.init_state() if self._value_scaler else {},
        }
        if self.asymmetric:
            self.preprocessor_states["state"] = self._state_scaler.init_state() if self._state_scaler else {}
        kwargs = cfg.learning_rate_scheduler_kwargs
        self.scheduler = (
            KLAdaptiveLR(**((kwargs[0] if isinstance(kwargs, tuple) else kwargs) or {}))
            if cfg.learning_rate_scheduler
            else None
        )
        clip = [optax.clip_by_global_norm(cfg.grad_norm_clip)] if cfg.grad_norm_clip > 0 else []
        self.optimizer = optax.chain(*clip, optax.inject_hyperparams(optax.adam)(learning_rate=cfg.learning_rate))
        # the rate as a float32 array from the start: a weakly typed one (optax's) would change type at the first
        # KL-adaptive step and make every jitted function taking opt_state compile a second time
        self.opt_state = _with_learning_rate(self.optimizer.init(self.params), cfg.learning_rate)
        self.rnn_states = None  # the worlds' recurrent states: PPO_RNN's; a feed-forward PPO has none
        # committed to the device, as the env's arrays are: jit compiles a program per placement of its inputs, so
        # uncommitted weights at the first call and committed ones (an update's output) later would compile twice
        self._device = jax_device(device)
        self.params, self.opt_state, self.preprocessor_states, self._key = self._on_device(
            (self.params, self.opt_state, self.preprocessor_states, self._key)
        )
        self._cached: dict = {}
        self._next_observations = None
        self._act = jax.jit(self.act_step, static_argnames=("train",))
        self._record = jax.jit(self.record_step)
        self.reducer = LocalReducer()  # one process until distribute()
        self._update = self.reducer.compile_update(self.update_step)

    def distribute(self, reducer) -> None:
        """Train as one process of several: every process takes process 0's arrays (reducer.start), and from now on
        `update` merges the acting statistics and runs `update_step` over the global batch through `reducer` (see
        toolkit.jax.reducers). toolkit.distributed's Cluster.follow calls it for every agent of a distributed run."""
        state = reducer.start(
            {"params": self.params, "opt_state": self.opt_state, "preprocessors": self.preprocessor_states}
        )
        self.params, self.opt_state, self.preprocessor_states = (
            state["params"],
            state["opt_state"],
            state["preprocessors"],
        )
        self.reducer = reducer
        self._update = reducer.compile_update(self.update_step)

    # ---- set-up ----
    def enable_training_mode(self, enabled: bool = True, *, apply_to_models: bool = False) -> None:
        self.training = enabled

    def enable_models_training_mode(self, enabled: bool = True) -> None:
        pass  # the networks have no train-only layers

    def _on_device(self, tree):
        return on_device(tree, self._device)

    @property
    def learning_rate(self) -> float:
        return float(_learning_rate(self.opt_state))

    # ---- the arrays that change while training (one pytree: the compiled path carries and vmaps it) ----
    def training_state(self) -> dict:
        """{"params", "opt_state", "preprocessors", "key" (a typed PRNG key), "rnn_states" (None for PPO)}: what the
        pure functions below take and return, as one pytree."""
        return {
            "params": self.params,
            "opt_state": self.opt_state,
            "preprocessors": self.preprocessor_states,
            "key": self._key,
            "rnn_states": self.rnn_states,
        }

    def set_training_state(self, state: dict) -> None:
        """Take the arrays of a `training_state()` pytree (e.g. after the compiled path ran an iteration)."""
        self.params, self.opt_state = state["params"], state["opt_state"]
        self.preprocessor_states, self._key = state["preprocessors"], state["key"]

    def inputs(self, observations, states=None):
        """The models' input (N, D): the observations (N, *obs_shape), followed by the env's states (N, *state_shape)
        for an asymmetric critic."""
        if not self.asymmetric:
            return observations
        if states is None:
            raise ValueError(
                f"states: None is not allowed; agent {self.name} was built for an env with a state space "
                f"{self.state_space} and its value network reads the env's states"
            )
        observations = jnp.asarray(observations, jnp.float32).reshape(-1, int(np.prod(self.observation_space.shape)))
        return jnp.concatenate(
            [observations, jnp.asarray(states, jnp.float32).reshape(observations.shape[0], -1)], axis=-1
        )

    def split_inputs(self, inputs):
        """(observations, states) of the models' input (states None without an asymmetric critic)."""
        if not self.asymmetric:
            return inputs, None
        size = int(np.prod(self.observation_space.shape))
        return inputs[:, :size], inputs[:, size:]

    # ---- pure functions ----
    def _normalize(self, states, observations, train: bool):
        if self.asymmetric:  # observations and the critic's states, each with its own preprocessor
            observations, critic_states = self.split_inputs(observations.astype(jnp.float32))
            states, observations = self._scale(states, "observation", self._obs_scaler, observations, train)
            states, critic_states = self._scale(states, "state", self._state_scaler, critic_states, train)
            return states, jnp.concatenate([observations, critic_states], axis=-1)
        observations = observations.astype(jnp.float32).reshape(-1, *self.observation_space.shape)
        return self._scale(states, "observation", self._obs_scaler, observations, train)

    @staticmethod
    def _scale(states, name: str, scaler, x, train: bool):
        if scaler is None:
            return states, x
        if train:
            states = {**states, name: scaler.update(states[name], x)}
        return states, scaler(states[name], x)

    def _denormalize_value(self, states, values):
        return (
            values
            if self._value_scaler is None
            else self._value_scaler(states["value"], values[:, None], inverse=True)[:, 0]
        )

    def act_step(self, params, preprocessors: dict, observations, key, train: bool, rnn_states=None) -> Acted:
        """Pure: one step's actions for N worlds. observations: the models' input (N, D) (see `inputs`); key: a
        typed PRNG key; train: update the observation statistics (static under jit); rnn_states: None (PPO_RNN:
        the states this step starts from). Returns an Acted."""
        preprocessors, obs = self._normalize(preprocessors, observations, train)
        dist, values = self.model(params, obs)
        actions = self.model.head.sample(dist, key)
        log_prob = self.model.head.log_prob(dist, actions)
        values = self._denormalize_value(preprocessors, values)
        samples = {"observations": obs, "log_prob": log_prob, "values": values}
        return Acted(preprocessors, actions, log_prob, self.model.head.mode(dist), samples, None)

    def value_step(self, params, preprocessors: dict, observations, rnn_states=None):
        """Pure: the values (N,), in return units, of the models' input (N, D) (PPO_RNN: from `rnn_states`)."""
        _, obs = self._normalize(preprocessors, observations, False)
        return self._denormalize_value(preprocessors, self.model.value(params, obs))

    def record_step(
        self,
        params,
        preprocessors: dict,
        samples: dict,
        actions,
        rewards,
        terminated,
        truncated,
        final_observations,
        next_rnn_states=None,
    ) -> tuple[dict, Any]:
        """Pure: one rollout step's samples. samples: the Acted's; actions (N, *A); rewards, terminated, truncated
        (N,); final_observations (N, D): the models' input of each world's true last state (before a reset). With
        time_limit_bootstrap a truncated world's reward gains the discounted value of its final observation
        (computed for every world: no host sync to find the truncated ones). Returns (the step's samples: Acted's
        and "actions", "rewards", "terminated", "truncated"; the states the next step starts from: None for PPO)."""
        rewards = rewards.astype(jnp.float32)
        terminated, truncated = terminated.astype(bool), truncated.astype(bool)
        if self.cfg.time_limit_bootstrap:
            rewards = rewards + self.cfg.discount_factor * self.value_step(
                params, preprocessors, final_observations
            ) * (truncated & ~terminated)
        return {
            **samples,
            "actions": actions,
            "rewards": rewards,
            "terminated": terminated,
            "truncated": truncated,
        }, None

    def prepare_batch(self, params, preprocessors: dict, rollout: dict, next_observations, next_rnn_states=None):
        """Pure: GAE over the rollout (each record_step's samples stacked: (T, N, ...)), the value preprocessor's
        update and advantage standardisation. next_observations (N, D): the inputs after the rollout's last step.
        Returns (preprocessors, the flat batch: observations, actions, log_prob, values, returns, advantages, each
        (T * N, ...) as the reducer lays them out)."""
        last_values = self.value_step(params, preprocessors, next_observations)
        preprocessors, batch = self._advantage_batch(preprocessors, rollout, last_values)
        flat = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)
        return preprocessors, self.reducer.layout_batch(flat, rollout["rewards"].shape[0])

    def _advantage_batch(self, states, rollout, last_values):
        """GAE, the value preprocessor's update and advantage standardisation: (preprocessor states, the batch's
        entries as (steps, num_envs, ...))."""
        cfg = self.cfg
        dones = rollout["terminated"] | rollout["truncated"]
        advantages, returns = compute_gae(
            rollout["rewards"], rollout["values"], dones, last_values, cfg.discount_factor, cfg.gae_lambda
        )
        values = rollout["values"]
        if self._value_scaler is not None:
            states = {**states, "value": self._value_scaler.update(states["value"], returns.reshape(-1, 1))}
            returns = self._value_scaler(states["value"], returns[..., None])[..., 0]
            values = self._value_scaler(states["value"], values[..., None])[..., 0]
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        return states, {
            "observations": rollout["observations"],
            "actions": rollout["actions"],
            "log_prob": rollout["log_prob"],
            "values": values,
            "returns": returns,
            "advantages": advantages,
        }

    def _loss(self, params, mb):
        dist, predicted = self.model(params, mb["observations"])
        return self._clipped_losses(dist, predicted, mb)

    def _clipped_losses(self, dist, predicted, mb):
        """(total loss, [policy, value, entropy loss, KL]) of the predictions for a minibatch of flat samples."""
        cfg, head = self.cfg, self.model.head
        log_ratio = head.log_prob(dist, mb["actions"]) - mb["log_prob"]
        ratio = jnp.exp(log_ratio)
        kl = ((ratio - 1) - log_ratio).mean()
        clipped = jnp.clip(ratio, 1 - cfg.ratio_clip, 1 + cfg.ratio_clip)
        policy_loss = -jnp.minimum(mb["advantages"] * ratio, mb["advantages"] * clipped).mean()
        if cfg.value_clip > 0:
            predicted = mb["values"] + jnp.clip(predicted - mb["values"], -cfg.value_clip, cfg.value_clip)
        value_loss = cfg.value_loss_scale * ((mb["returns"] - predicted) ** 2).mean()
        entropy_loss = -cfg.entropy_loss_scale * head.entropy(dist).mean()
        return policy_loss + value_loss + entropy_loss, jnp.stack([policy_loss, value_loss, entropy_loss, kl])

    def _epoch_impl(self, params, opt_state, batch, key, fault=None):
        """One pass of minibatches over the batch. `fault` (0: none; else the FAULTS index of the first non-finite
        loss, gradient or parameter) is carried across epochs: from the first fault on, params stay as they were."""
        cfg = self.cfg
        size = batch["log_prob"].shape[0]
        minibatch = size // cfg.mini_batches
        if minibatch == 0:
            raise ConfigError(
                f"agent.mini_batches: {cfg.mini_batches} is not allowed; "
                f"must be <= the {size} samples (or sequences) of a rollout"
            )
        if cfg.mini_batches == 1:  # one minibatch is the whole batch, in any order: no shuffle (a sort and a gather)
            minibatches = jax.tree.map(lambda x: x[None], batch)
        else:
            order = jax.random.permutation(key, size)[: minibatch * cfg.mini_batches]
            minibatches = jax.tree.map(lambda x: x[order].reshape(cfg.mini_batches, minibatch, *x.shape[1:]), batch)

        def step(carry, mb):
            params, opt_state, stopped, fault = carry
            (loss, stats), grads = jax.value_and_grad(self._loss, has_aux=True)(params, mb)
            kl_stop = stopped | ((cfg.kl_threshold > 0) & (stats[3] > cfg.kl_threshold))  # KL early stopping
            updates, new_opt_state = self.optimizer.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            fault = jnp.where(fault > 0, fault, _fault_code(loss, grads, new_params))
            stop = kl_stop | (fault > 0)
            keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(stop, b, a), new, old)  # noqa: E731
            return (keep(new_params, params), keep(new_opt_state, opt_state), kl_stop, fault), stats

        fault = jnp.zeros((), jnp.int32) if fault is None else fault
        (params, opt_state, _, fault), stats = jax.lax.scan(
            step, (params, opt_state, jnp.zeros((), bool), fault), minibatches
        )
        return params, opt_state, stats.mean(0), fault

    def update_step(
        self, params, opt_state, preprocessors: dict, rollout: dict, next_observations, next_rnn_states, key
    ):
        """Pure: a whole update as one program (see prepare_batch for the rollout and next_observations;
        next_rnn_states: None, PPO_RNN: the states the worlds carry on with after the rollout; key: a typed PRNG
        key). Returns (params, opt_state, preprocessors, stats (5,): mean policy, value and entropy loss, KL, and
        the fault code, an index of FAULTS); the KL-adaptive rule sets the learning rate inside opt_state after
        each epoch."""

        def epoch(carry, epoch_key):
            params, opt_state, fault = carry
            params, opt_state, stats, fault = self._epoch_impl(params, opt_state, batch, epoch_key, fault)
            if self.scheduler is not None:
                opt_state = _with_learning_rate(opt_state, self.scheduler.step(_learning_rate(opt_state), stats[3]))
            return (params, opt_state, fault), stats

        preprocessors, batch = self.prepare_batch(params, preprocessors, rollout, next_observations, next_rnn_states)
        (params, opt_state, fault), stats = jax.lax.scan(
            epoch, (params, opt_state, jnp.zeros((), jnp.int32)), jax.random.split(key, self.cfg.learning_epochs)
        )
        return params, opt_state, preprocessors, jnp.concatenate([stats.mean(0), fault[None].astype(stats.dtype)])

    def track_update(self, stats, params=None, opt_state=None) -> None:
        """Record an update's losses, KL, learning rate and policy spread (`stats`: update_step's) for the next
        report (one host sync); a fault code raises NonFiniteError."""
        params, opt_state = params or self.params, opt_state or self.opt_state
        policy, value, entropy, kl, fault = np.asarray(stats).tolist()
        if fault:  # the update kept the last good parameters from the faulty minibatch on
            quantity = FAULTS[int(fault)]
            if quantity == "loss":
                quantity = next(
                    (
                        name
                        for name, number in (("policy loss", policy), ("value loss", value), ("entropy loss", entropy))
                        if not np.isfinite(number)
                    ),
                    "loss",
                )
            raise self.nonfinite_error(quantity, getattr(self, "_update_timestep", None))
        for tag, number in (
            ("Loss / Policy loss", policy),
            ("Loss / Value loss", value),
            ("Loss / Entropy loss", entropy),
            ("Policy / KL divergence", kl),
            ("Learning / Learning rate", float(_learning_rate(opt_state))),
        ):
            self.track_data(tag, number)
        if "log_std" in params["head"]:
            self.track_data("Policy / Standard deviation", float(jnp.exp(params["head"]["log_std"]).mean()))

    # ---- interaction ----
    def act(self, observations, states=None, *, timestep: int, timesteps: int):
        """Sample actions for N worlds. observations (N, *obs_shape); states (N, *state_shape) for an env with a
        state space, else None. Returns (actions (N, *A), {"log_prob": (N,), "mean_actions": (N, *A)}); in
        training it also updates the observation statistics and keeps the step for record_transition."""
        self._key, key = jax.random.split(self._key)
        train = self.training
        acted = self._act(self.params, self.preprocessor_states, self.inputs(observations, states), key, train=train)
        actions = acted.actions
        if train:
            self.preprocessor_states = acted.preprocessors
            if timestep < self.cfg.random_timesteps:
                actions = self._on_device(np.stack([self.action_space.sample() for _ in range(actions.shape[0])]))
            self._cached = acted.samples
        return actions, {"log_prob": acted.log_prob, "mean_actions": acted.mean_actions}

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
        self._next_observations = self.inputs(next_observations, next_states)
        if not self.training or self.memory is None:
            return
        rewards = jnp.asarray(rewards, jnp.float32)
        if self.cfg.rewards_shaper is not None:
            rewards = self.cfg.rewards_shaper(rewards, timestep, timesteps)
        final = self.inputs(
            (infos or {}).get("final_obs", next_observations),
            (infos or {}).get("final_states", next_states) if self.asymmetric else None,
        )
        samples, _ = self._record(
            self.params,
            self.preprocessor_states,
            self._cached,
            jnp.asarray(actions),
            rewards,
            jnp.asarray(terminated),
            jnp.asarray(truncated),
            jnp.asarray(final),
        )
        self.memory.add_samples(**samples)

    def update(self, *, timestep: int, timesteps: int) -> None:
        """One PPO update on the memory's rollout (then emptied): `update_step`, run by the reducer's program after
        it merged the processes' acting statistics (both no-ops in one process). Tracks the losses, KL and learning
        rate; NonFiniteError (nothing changed from the faulty minibatch on) where one is NaN or inf."""
        self._update_timestep = timestep
        rollout = self.memory.stacked()
        self.memory.reset()
        self._key, key = jax.random.split(self._key)
        preprocessors = self.reducer.merge_statistics(self.preprocessor_states)
        self.params, self.opt_state, self.preprocessor_states, stats = self._update(
            self.params, self.opt_state, preprocessors, rollout, self._next_observations, self.rnn_states, key
        )
        self.track_update(stats)

    # ---- export (toolkit.export: agent.export(folder)) ----
    def policy_graph(self):
        """The deterministic policy, observation normaliser included, as a framework-neutral PolicyGraph."""
        return export.policy_graph(self)

    # ---- checkpoints ----
    def _tree(self) -> dict:
        return {
            "params": self.params,
            "opt_state": self.opt_state,
            "preprocessors": self.preprocessor_states,
            "key": jax.random.key_data(self._key),
        }

    def save(self, path: str, extra: dict | None = None) -> None:
        """Write `path` (.npz, read without pickle, atomically): the same contents as the torch agent's checkpoint
        (networks, optimizer with its learning rate, preprocessor statistics with counts, random state) and `extra`
        (a dict of numpy arrays and numbers, e.g. the trainer's timestep and the worlds' state). NonFiniteError,
        nothing written, where a value is NaN or inf."""
        leaves = {jax.tree_util.keystr(p): np.asarray(v) for p, v in jax.tree_util.tree_leaves_with_path(self._tree())}
        meta = {
            "format": _FORMAT,
            "observation_shape": list(self.observation_space.shape),
            "action_space": repr(self.action_space),
        }
        if self.asymmetric:
            meta["state_shape"] = list(self.state_space.shape)
        leaves.update(npz_extra(extra))
        self.check_checkpoint_finite(leaves, path)
        write_npz(path, meta, leaves)

    def load(self, path: str) -> dict:
        """Restore a checkpoint written by save() (CheckpointError, one line, for another task's or networks');
        returns its `extra`. The memory is emptied: collection restarts at an update boundary. In a distributed run
        every process must load it (as a resume does): the reducer starts again from process 0's arrays."""
        meta, arrays = read_npz(path, _FORMAT, "JAX PPO")
        check_npz_meta(
            path,
            meta,
            {
                "observation_shape": list(self.observation_space.shape),
                "action_space": repr(self.action_space),
                "state_shape": list(self.state_space.shape) if self.asymmetric else None,
            },
        )
        paths, treedef = jax.tree_util.tree_flatten_with_path(self._tree())
        try:
            leaves = [jnp.asarray(arrays[jax.tree_util.keystr(p)]) for p, _ in paths]
        except KeyError as missing:
            raise CheckpointError(
                f"checkpoint: {path} lacks {missing}; it was written by an agent of another configuration"
            ) from None
        for (key_path, mine), leaf in zip(paths, leaves):
            if tuple(jnp.shape(mine)) != tuple(leaf.shape):
                raise CheckpointError(
                    f"checkpoint: {path} has {jax.tree_util.keystr(key_path)} of shape {tuple(leaf.shape)}; "
                    f"this agent's networks need {tuple(jnp.shape(mine))} (written with other models "
                    "settings, e.g. other hiddens)"
                )
        tree = self._on_device(jax.tree_util.tree_unflatten(treedef, leaves))
        self.params, self.opt_state, self.preprocessor_states = tree["params"], tree["opt_state"], tree["preprocessors"]
        self._key = jax.random.wrap_key_data(tree["key"])
        self._rollout = 0  # a half-collected rollout is not saved
        if self.memory is not None:
            self.memory.reset()
        if self.reducer.distributed:  # every process loads (a resume): the merges start again from these statistics
            self.distribute(self.reducer)
        return extra_from_npz(arrays)


FAULTS = (None, "loss", "gradient", "parameter")  # the fault codes of update_step's stats (and _epoch_impl)


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.isfinite(leaf).all() for leaf in jax.tree.leaves(tree)]))


def _fault_code(loss, grads, new_params) -> jax.Array:
    """0 when the minibatch's loss, gradient and updated parameters are finite, else the FAULTS index of the first
    that is not."""
    return jnp.where(
        ~jnp.isfinite(loss), 1, jnp.where(~_all_finite(grads), 2, jnp.where(~_all_finite(new_params), 3, 0))
    ).astype(jnp.int32)


def _learning_rate(opt_state):
    return opt_state[-1].hyperparams["learning_rate"]


def _with_learning_rate(opt_state, rate):
    """opt_state with the injected learning rate replaced (a pure function: it runs inside jit)."""
    inject = opt_state[-1]
    return (
        *opt_state[:-1],
        inject._replace(hyperparams={**inject.hyperparams, "learning_rate": jnp.asarray(rate, jnp.float32)}),
    )
