"""Policy and value networks in plain JAX: parameters are pytrees, the functions are pure (jit, vmap, scan).

No module library: an MLP is a list of {"w", "b"}; this keeps the agent to JAX and optax alone."""

from __future__ import annotations

import math

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from ..model_spec import ModelsSpec, parse_models

_ACTIVATIONS = {
    "": lambda x: x, "identity": lambda x: x, "relu": jax.nn.relu, "elu": jax.nn.elu, "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid, "leaky_relu": jax.nn.leaky_relu, "selu": jax.nn.selu, "softplus": jax.nn.softplus,
    "gelu": jax.nn.gelu, "silu": jax.nn.silu,
}
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def activation(name: str | None):
    if (name or "") not in _ACTIVATIONS:
        raise ValueError(f"activation: {name!r} is not allowed; choose one of {', '.join(sorted(_ACTIVATIONS))}")
    return _ACTIVATIONS[name or ""]


def _dense(key, inputs: int, outputs: int, gain: float) -> dict:
    return {"w": jax.nn.initializers.orthogonal(gain)(key, (inputs, outputs), jnp.float32), "b": jnp.zeros(outputs)}


class MLP:
    """Hidden layers with their activations (static); params are a list of dense layers."""

    def __init__(self, inputs: int, hiddens, activations):
        if isinstance(activations, str):
            activations = [activations] * len(hiddens)
        if len(activations) != len(hiddens):
            raise ValueError(f"hidden_activation: {len(activations)} entries are not allowed; expected one per hidden layer ({len(hiddens)})")
        self.sizes = [inputs, *hiddens]
        self.activations = [activation(name) for name in activations]
        self.features = self.sizes[-1]

    def init(self, key) -> list:
        keys = jax.random.split(key, max(len(self.sizes) - 1, 1))
        return [_dense(k, a, b, math.sqrt(2)) for k, a, b in zip(keys, self.sizes[:-1], self.sizes[1:])]

    def __call__(self, params: list, x):
        for layer, act in zip(params, self.activations):
            x = act(x @ layer["w"] + layer["b"])
        return x


class GaussianHead:
    def __init__(self, action_dim: int, output_activation: str = "", output_scale: float = 1.0, initial_log_std: float = 0.0,
                 clip_log_std: bool = True, min_log_std: float = -20.0, max_log_std: float = 2.0):
        self.action_dim, self.mean_activation, self.output_scale = action_dim, activation(output_activation), output_scale
        self.initial_log_std = initial_log_std
        self.log_std_range = (min_log_std, max_log_std) if clip_log_std else None

    def init(self, key, features: int) -> dict:
        # float32, not weakly typed: a type change after the first update would compile every program twice
        log_std = jnp.full(self.action_dim, float(self.initial_log_std), jnp.float32)
        return {"mean": _dense(key, features, self.action_dim, 0.01), "log_std": log_std}

    def __call__(self, params: dict, features):
        mean = self.output_scale * self.mean_activation(features @ params["mean"]["w"] + params["mean"]["b"])
        log_std = params["log_std"] if self.log_std_range is None else jnp.clip(params["log_std"], *self.log_std_range)
        return mean, jnp.broadcast_to(log_std, mean.shape)

    @staticmethod
    def sample(dist, key):
        mean, log_std = dist
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)

    @staticmethod
    def log_prob(dist, actions):
        mean, log_std = dist
        z = (actions - mean) * jnp.exp(-log_std)
        return (-0.5 * z**2 - log_std - _LOG_SQRT_2PI).sum(-1)

    @staticmethod
    def entropy(dist):
        return (0.5 + _LOG_SQRT_2PI + dist[1]).sum(-1)

    @staticmethod
    def mode(dist):
        return dist[0]


class CategoricalHead:
    def __init__(self, num_actions: int):
        self.num_actions = num_actions

    def init(self, key, features: int) -> dict:
        return {"logits": _dense(key, features, self.num_actions, 0.01)}

    def __call__(self, params: dict, features):
        return jax.nn.log_softmax(features @ params["logits"]["w"] + params["logits"]["b"])

    @staticmethod
    def sample(log_probs, key):
        return jax.random.categorical(key, log_probs)

    @staticmethod
    def log_prob(log_probs, actions):
        return jnp.take_along_axis(log_probs, actions.astype(jnp.int32)[..., None], axis=-1)[..., 0]

    @staticmethod
    def entropy(log_probs):
        return -(jnp.exp(log_probs) * log_probs).sum(-1)

    @staticmethod
    def mode(log_probs):
        return jnp.argmax(log_probs, -1)


class ActorCritic:
    """Policy and value from one parameter pytree: one shared trunk (spec.separate False) or two MLPs."""

    def __init__(self, spec: ModelsSpec | dict | None, observation_space: gym.spaces.Space, action_space: gym.spaces.Space):
        spec = spec if isinstance(spec, ModelsSpec) else parse_models(spec)
        if not isinstance(observation_space, gym.spaces.Box):
            raise ValueError(f"observation_space: {observation_space} is not allowed; expected a Box")
        inputs = int(np.prod(observation_space.shape))
        self.separate = spec.separate
        self.policy_trunk = MLP(inputs, spec.policy.hiddens, spec.policy.hidden_activation)
        self.value_trunk = MLP(inputs, spec.value.hiddens, spec.value.hidden_activation) if spec.separate else self.policy_trunk
        if isinstance(action_space, gym.spaces.Discrete):
            self.head = CategoricalHead(int(action_space.n))
        elif isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
            self.head = GaussianHead(action_space.shape[0], **spec.policy.gaussian_kwargs())
        else:
            raise ValueError(f"action_space: {action_space} is not allowed; expected Discrete or a 1-D Box")

    def init(self, key) -> dict:
        keys = jax.random.split(key, 4)
        params = {"policy_trunk": self.policy_trunk.init(keys[0]), "head": self.head.init(keys[1], self.policy_trunk.features),
                  "value_out": _dense(keys[2], self.value_trunk.features, 1, 1.0)}
        if self.separate:
            params["value_trunk"] = self.value_trunk.init(keys[3])
        return params

    def __call__(self, params: dict, observations):
        """(distribution parameters, value)"""
        features = self.policy_trunk(params["policy_trunk"], observations)
        value_features = self.value_trunk(params["value_trunk"], observations) if self.separate else features
        return self.head(params["head"], features), self._value_out(params, value_features)

    def value(self, params: dict, observations):
        trunk, trunk_params = (self.value_trunk, params["value_trunk"]) if self.separate else (self.policy_trunk, params["policy_trunk"])
        return self._value_out(params, trunk(trunk_params, observations))

    @staticmethod
    def _value_out(params, features):
        return (features @ params["value_out"]["w"] + params["value_out"]["b"])[..., 0]


def build_models(spec, observation_space, action_space, device=None) -> dict[str, ActorCritic]:
    """{"policy": model, "value": model}: one ActorCritic under both keys (its params hold both networks)."""
    model = ActorCritic(spec, observation_space, action_space)
    return {"policy": model, "value": model}
