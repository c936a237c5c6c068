"""Proximal Policy Optimization in JAX, with the torch agent's API, configuration and checkpoint contents.

Every step of the algorithm is a pure function of the agent's arrays: acting (`_act_impl`), recording a
transition (`_record_impl`) and a whole update (`_update_impl`: GAE as a reverse scan, then a scan over epochs
of scans over minibatches, with KL early stopping and the KL-adaptive learning rate set between epochs). The
step-by-step path jits each of them; `toolkit.jax.compiled` puts the same functions inside one `lax.scan` over
an MJX rollout. optax does the optimisation: Adam with global gradient-norm clipping and the learning rate as an
injected hyperparameter.
"""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..agent_base import AgentBase
from ..checkpoint import CheckpointError, check_npz_meta, extra_from_npz, npz_extra, read_npz, write_npz
from ..config import ConfigError, from_dict
from ..ppo_cfg import PPO_CFG
from .models import ActorCritic
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


class PPO(AgentBase):
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
        self._cached: dict = {}
        self._next_observations = None
        self._act = jax.jit(self._act_impl, static_argnames=("train",))
        self._record = jax.jit(self._record_impl)
        self._update = jax.jit(self._update_impl)

    # ---- set-up ----
    def enable_training_mode(self, enabled: bool = True, *, apply_to_models: bool = False) -> None:
        self.training = enabled

    def enable_models_training_mode(self, enabled: bool = True) -> None:
        pass  # the networks have no train-only layers

    @property
    def learning_rate(self) -> float:
        return float(_learning_rate(self.opt_state))

    # ---- the arrays that change while training (one pytree: the compiled path carries and vmaps it) ----
    def training_state(self) -> dict:
        return {
            "params": self.params,
            "opt_state": self.opt_state,
            "preprocessors": self.preprocessor_states,
            "key": self._key,
        }

    def set_training_state(self, state: dict) -> None:
        self.params, self.opt_state = state["params"], state["opt_state"]
        self.preprocessor_states, self._key = state["preprocessors"], state["key"]

    def inputs(self, observations, states=None):
        """The models' input: the observations, followed by the env's states for an asymmetric critic."""
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

    def _act_impl(self, params, states, observations, key, train: bool):
        states, obs = self._normalize(states, observations, train)
        dist, values = self.model(params, obs)
        actions = self.model.head.sample(dist, key)
        return (
            states,
            obs,
            actions,
            self.model.head.log_prob(dist, actions),
            self.model.head.mode(dist),
            self._denormalize_value(states, values),
        )

    def _value_impl(self, params, states, observations):
        _, obs = self._normalize(states, observations, False)
        return self._denormalize_value(states, self.model.value(params, obs))

    def _record_impl(
        self, params, states, cached: dict, actions, rewards, terminated, truncated, final_observations
    ) -> dict:
        """One rollout step's samples; with time_limit_bootstrap a truncated world's reward gains the discounted
        value of its true final observation (computed for every world: no host sync to find the truncated ones)."""
        rewards = rewards.astype(jnp.float32)
        terminated, truncated = terminated.astype(bool), truncated.astype(bool)
        if self.cfg.time_limit_bootstrap:
            rewards = rewards + self.cfg.discount_factor * self._value_impl(params, states, final_observations) * (
                truncated & ~terminated
            )
        return {**cached, "actions": actions, "rewards": rewards, "terminated": terminated, "truncated": truncated}

    def _prepare_impl(self, params, states, rollout, next_observations):
        last_values = self._value_impl(params, states, next_observations)
        states, batch = self._advantage_batch(states, rollout, last_values)
        return states, jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)

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

    def _update_impl(self, params, opt_state, states, rollout, next_observations, key):
        """A whole update as one program: returns (params, opt_state, preprocessor states, mean [policy, value,
        entropy loss, KL] and the fault code); the KL-adaptive rule sets the learning rate inside opt_state after each
        epoch."""

        def epoch(carry, epoch_key):
            params, opt_state, fault = carry
            params, opt_state, stats, fault = self._epoch_impl(params, opt_state, batch, epoch_key, fault)
            if self.scheduler is not None:
                opt_state = _with_learning_rate(opt_state, self.scheduler.step(_learning_rate(opt_state), stats[3]))
            return (params, opt_state, fault), stats

        states, batch = self._prepare_impl(params, states, rollout, next_observations)
        (params, opt_state, fault), stats = jax.lax.scan(
            epoch, (params, opt_state, jnp.zeros((), jnp.int32)), jax.random.split(key, self.cfg.learning_epochs)
        )
        return params, opt_state, states, jnp.concatenate([stats.mean(0), fault[None].astype(stats.dtype)])

    def track_update(self, stats, params=None, opt_state=None) -> None:
        """Record an update's losses, KL, learning rate and policy spread for the next report (one host sync)."""
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
        self._key, key = jax.random.split(self._key)
        train = self.training
        new_states, obs, actions, log_prob, mean, values = self._act(
            self.params, self.preprocessor_states, self.inputs(observations, states), key, train=train
        )
        if train:
            self.preprocessor_states = new_states
            if timestep < self.cfg.random_timesteps:
                actions = jnp.asarray(np.stack([self.action_space.sample() for _ in range(obs.shape[0])]))
            self._cached = {"observations": obs, "log_prob": log_prob, "values": values}
        return actions, {"log_prob": log_prob, "mean_actions": mean}

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
        self.memory.add_samples(
            **self._record(
                self.params,
                self.preprocessor_states,
                self._cached,
                jnp.asarray(actions),
                rewards,
                jnp.asarray(terminated),
                jnp.asarray(truncated),
                jnp.asarray(final),
            )
        )

    def update(self, *, timestep: int, timesteps: int) -> None:
        self._update_timestep = timestep
        rollout = self.memory.stacked()
        self.memory.reset()
        self._key, key = jax.random.split(self._key)
        self.params, self.opt_state, self.preprocessor_states, stats = self._update(
            self.params, self.opt_state, self.preprocessor_states, rollout, self._next_observations, key
        )
        self.track_update(stats)

    # ---- checkpoints ----
    def _tree(self) -> dict:
        return {
            "params": self.params,
            "opt_state": self.opt_state,
            "preprocessors": self.preprocessor_states,
            "key": jax.random.key_data(self._key),
        }

    def save(self, path: str, extra: dict | None = None) -> None:
        """The same contents as the torch agent's checkpoint (networks, optimizer with its learning rate,
        preprocessor statistics with counts, random state, `extra`), as an .npz read without pickle."""
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
        tree = jax.tree_util.tree_unflatten(treedef, leaves)
        self.params, self.opt_state, self.preprocessor_states = tree["params"], tree["opt_state"], tree["preprocessors"]
        self._key = jax.random.wrap_key_data(tree["key"])
        self._rollout = 0  # a half-collected rollout is not saved
        if self.memory is not None:
            self.memory.reset()
        return extra_from_npz(arrays)


FAULTS = (None, "loss", "gradient", "parameter")  # the fault codes of _epoch_impl


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
