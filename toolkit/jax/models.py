"""Policy and value networks in plain JAX: parameters are pytrees, the functions are pure (jit, vmap, scan).

No module library: an MLP is a list of {"w", "b"}, skrl's named blocks a dict of them; this keeps the agent to JAX
and optax alone. Heads apply the model's output expression (`tanh(ACTIONS)`, ...) to their output layer."""

from __future__ import annotations

import math

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from ..model_grammar import ACTIVATIONS, Expr, NetworkPlan, action_size
from ..model_spec import ModelsSpec, check_asymmetric, parse_models

_ACTIVATIONS = {
    "": lambda x: x,
    "identity": lambda x: x,
    "relu": jax.nn.relu,
    "elu": jax.nn.elu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "leaky_relu": jax.nn.leaky_relu,
    "selu": jax.nn.selu,
    "softplus": jax.nn.softplus,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "softsign": jax.nn.soft_sign,
    "softmax": jax.nn.softmax,
}
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def activation(name: str | None):
    name = (name or "").lower()
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation: {name!r} is not allowed; choose one of {', '.join(sorted(_ACTIVATIONS))}")
    return _ACTIVATIONS[name]


def compile_expression(expr: Expr | None):
    """An input or output expression as a function of {name: array}; None stays None (nothing to apply)."""
    if expr is None:
        return None
    return expr.compile({name: activation(name) for name in ACTIVATIONS}, lambda arrays: jnp.concatenate(arrays, -1))


def _dense(key, inputs: int, outputs: int, gain: float) -> dict:
    return {"w": jax.nn.initializers.orthogonal(gain)(key, (inputs, outputs), jnp.float32), "b": jnp.zeros(outputs)}


class MLP:
    """Hidden layers with their activations (static); params are a list of dense layers."""

    def __init__(self, inputs: int, hiddens, activations):
        if isinstance(activations, str):
            activations = [activations] * len(hiddens)
        if len(activations) != len(hiddens):
            raise ValueError(
                f"hidden_activation: {len(activations)} entries are not allowed; "
                f"expected one per hidden layer ({len(hiddens)})"
            )
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


class BlockNetwork:
    """skrl's containers: blocks called in order, each on its input expression over the observations and the outputs
    of the blocks before it; params are {block name: MLP params}; the last block's output is the trunk's."""

    def __init__(self, plan: NetworkPlan, observation_size: int, action_size: int, where: str = "models"):
        self.plan = plan  # the description it was built from (policy export reads its blocks' input expressions)
        self.blocks = []
        for block, inputs, units in plan.resolve(observation_size, action_size, where):
            self.blocks.append(
                (block.name, compile_expression(block.input), MLP(inputs, units, list(block.activations)))
            )
        self.features = self.blocks[-1][2].features

    def init(self, key) -> dict:
        keys = jax.random.split(key, len(self.blocks))
        return {name: network.init(k) for k, (name, _, network) in zip(keys, self.blocks)}

    def __call__(self, params: dict, x):
        # STATES are the observations until simtrain's envs give a privileged state (README, "Bring your skrl YAML")
        env = {"OBSERVATIONS": x, "STATES": x}
        for name, inputs, network in self.blocks:
            env[name] = output = network(params[name], inputs(env))
        return output


def build_trunk(plan: NetworkPlan, observation_size: int, action_size: int, where: str = "models"):
    """One block fed the observations is a plain MLP (a list of layers, as the older grammar gives); several blocks,
    or an input expression, a BlockNetwork."""
    if plan.plain_mlp:
        ((block, _, units),) = plan.resolve(observation_size, action_size, where)
        return MLP(observation_size, units, list(block.activations))
    return BlockNetwork(plan, observation_size, action_size, where)


class GaussianHead:
    def __init__(
        self,
        action_dim: int,
        output: Expr | None = None,
        initial_log_std: float = 0.0,
        clip_log_std: bool = True,
        min_log_std: float = -20.0,
        max_log_std: float = 2.0,
        fixed_log_std: bool = False,
        reduction: str = "sum",
        mean_bounds=None,
    ):
        """`output`: the expression over ACTIONS applied to the mean layer; `fixed_log_std`: the log std gets no
        gradient; `reduction`: sum or mean of the per-action log-probabilities; `mean_bounds`: (low, high) to clamp
        the mean to (skrl's clip_mean_actions)."""
        self.action_dim, self.mean_output = action_dim, compile_expression(output)
        self.output = output  # the plan's expression, kept for policy export
        self.initial_log_std, self.fixed_log_std = initial_log_std, fixed_log_std
        self.log_std_range = (min_log_std, max_log_std) if clip_log_std else None
        self.mean_bounds = None if mean_bounds is None else tuple(jnp.asarray(b, jnp.float32) for b in mean_bounds)
        if reduction == "mean":  # per instance: the class's log_prob (a sum) stays usable without one
            self.log_prob = lambda dist, actions: GaussianHead.log_prob(dist, actions) / actions.shape[-1]

    def init(self, key, features: int) -> dict:
        # float32, not weakly typed: a type change after the first update would compile every program twice
        log_std = jnp.full(self.action_dim, float(self.initial_log_std), jnp.float32)
        return {"mean": _dense(key, features, self.action_dim, 0.01), "log_std": log_std}

    def __call__(self, params: dict, features):
        mean = features @ params["mean"]["w"] + params["mean"]["b"]
        if self.mean_output is not None:
            mean = self.mean_output({"ACTIONS": mean})
        if self.mean_bounds is not None:
            mean = jnp.clip(mean, *self.mean_bounds)
        log_std = jax.lax.stop_gradient(params["log_std"]) if self.fixed_log_std else params["log_std"]
        if self.log_std_range is not None:
            log_std = jnp.clip(log_std, *self.log_std_range)
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
    def __init__(self, num_actions: int, output: Expr | None = None):
        self.num_actions, self.logits_output = num_actions, compile_expression(output)
        self.output = output  # the plan's expression, kept for policy export

    def init(self, key, features: int) -> dict:
        return {"logits": _dense(key, features, self.num_actions, 0.01)}

    def __call__(self, params: dict, features):
        logits = features @ params["logits"]["w"] + params["logits"]["b"]
        if self.logits_output is not None:
            logits = self.logits_output({"ACTIONS": logits})
        return jax.nn.log_softmax(logits)

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
    """Policy and value from one parameter pytree: one shared trunk (spec.separate False) or two MLPs.

    With a `state_space` (an asymmetric critic) the models' input is the observations followed by the env's states:
    the policy reads the first `observation_size` columns, the value the rest."""

    def __init__(
        self,
        spec: ModelsSpec | dict | None,
        observation_space: gym.spaces.Space,
        action_space: gym.spaces.Space,
        state_space: gym.spaces.Space | None = None,
    ):
        spec = spec if isinstance(spec, ModelsSpec) else parse_models(spec)
        if not isinstance(observation_space, gym.spaces.Box):
            raise ValueError(f"observation_space: {observation_space} is not allowed; expected a Box")
        check_asymmetric(spec, state_space)
        inputs, actions = int(np.prod(observation_space.shape)), action_size(action_space)
        self.observation_size = inputs
        self.asymmetric = state_space is not None
        value_inputs = int(np.prod(state_space.shape)) if self.asymmetric else inputs
        self.separate = spec.separate
        # skrl's shared model: the policy's network feeds both outputs; the value's own network is not used
        self.policy_trunk = build_trunk(spec.policy.plan("policy"), inputs, actions, "models.policy")
        self.value_trunk = (
            build_trunk(spec.value.plan("value"), value_inputs, actions, "models.value")
            if spec.separate
            else self.policy_trunk
        )
        self.head = make_head(spec, action_space)
        self.value_output = compile_expression(spec.value.plan("value").output_transform)

    def init(self, key) -> dict:
        keys = jax.random.split(key, 4)
        params = {
            "policy_trunk": self.policy_trunk.init(keys[0]),
            "head": self.head.init(keys[1], self.policy_trunk.features),
            "value_out": _dense(keys[2], self.value_trunk.features, 1, 1.0),
        }
        if self.separate:
            params["value_trunk"] = self.value_trunk.init(keys[3])
        return params

    def _split(self, inputs):
        """(the policy's input, the value's input)."""
        if not self.asymmetric:
            return inputs, inputs
        return inputs[..., : self.observation_size], inputs[..., self.observation_size :]

    def __call__(self, params: dict, observations):
        """(distribution parameters, value)"""
        policy_inputs, value_inputs = self._split(observations)
        features = self.policy_trunk(params["policy_trunk"], policy_inputs)
        value_features = self.value_trunk(params["value_trunk"], value_inputs) if self.separate else features
        return self.head(params["head"], features), self._value_out(params, value_features)

    def value(self, params: dict, observations):
        trunk, trunk_params = (
            (self.value_trunk, params["value_trunk"]) if self.separate else (self.policy_trunk, params["policy_trunk"])
        )
        return self._value_out(params, trunk(trunk_params, self._split(observations)[1]))

    def _value_out(self, params, features):
        value = features @ params["value_out"]["w"] + params["value_out"]["b"]
        if self.value_output is not None:
            value = self.value_output({"ONE": value})
        return value[..., 0]


def make_head(spec: ModelsSpec, action_space: gym.spaces.Space):
    """The policy's head for its action space: Categorical (Discrete) or Gaussian (1-D Box)."""
    kwargs = spec.policy.gaussian_kwargs()
    if isinstance(action_space, gym.spaces.Discrete):
        return CategoricalHead(int(action_space.n), output=kwargs["output"])
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        bounds = (action_space.low, action_space.high) if kwargs.pop("clip_mean_actions") else None
        return GaussianHead(action_space.shape[0], mean_bounds=bounds, **kwargs)
    raise ValueError(f"action_space: {action_space} is not allowed; expected Discrete or a 1-D Box")


def build_models(spec, observation_space, action_space, device=None, state_space=None) -> dict[str, ActorCritic]:
    """{"policy": model, "value": model}: one ActorCritic under both keys (its params hold both networks); with a
    `state_space` its value network reads the env's states."""
    model = ActorCritic(spec, observation_space, action_space, state_space)
    return {"policy": model, "value": model}
