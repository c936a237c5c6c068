"""Recurrent policy and value networks in plain JAX for PPO_RNN: RNN, GRU or LSTM layers in front of an MLP and
a head, as pure functions of a parameter pytree.

A recurrent state is a tuple of arrays of shape (num_layers, batch, hidden_size): (h,) for RNN and GRU, (h, c)
for LSTM (the torch agent's layout). Sequences run as a `lax.scan` over time that zeroes a sequence's state
before every step that starts a new episode.
"""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from ..config import ConfigError
from ..model_grammar import action_size
from ..model_spec import ModelsSpec, RnnSpec, parse_models
from .models import MLP, ActorCritic, _dense, compile_expression, make_head

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


class RecurrentLayers:
    """A stack of `num_layers` cells of one type (torch's equations; input and hidden biases kept apart as in
    torch, so that a GRU's reset gate scales the hidden part only)."""

    def __init__(self, inputs: int, spec: RnnSpec):
        self.spec, self.type, self.hidden = spec, spec.type, spec.hidden_size
        self.sizes = [inputs] + [spec.hidden_size] * (spec.num_layers - 1)
        self.state_count = 2 if spec.type == "LSTM" else 1

    def init(self, key) -> list:
        gates, bound = _GATES[self.type] * self.hidden, 1.0 / np.sqrt(self.hidden)
        layers = []
        for layer_key, inputs in zip(jax.random.split(key, len(self.sizes)), self.sizes):
            keys = jax.random.split(layer_key, 4)
            uniform = lambda k, shape: jax.random.uniform(k, shape, jnp.float32, -bound, bound)  # noqa: E731 (torch's init)
            layers.append(
                {
                    "wi": uniform(keys[0], (inputs, gates)),
                    "wh": uniform(keys[1], (self.hidden, gates)),
                    "bi": uniform(keys[2], (gates,)),
                    "bh": uniform(keys[3], (gates,)),
                }
            )
        return layers

    def state_shapes(self, batch: int) -> list[tuple[int, int, int]]:
        return [(self.spec.num_layers, batch, self.hidden)] * self.state_count

    def _cell(self, p: dict, x, h, c):
        xi, hh = x @ p["wi"] + p["bi"], h @ p["wh"] + p["bh"]
        if self.type == "RNN":
            return jnp.tanh(xi + hh), c
        if self.type == "GRU":
            xr, xz, xn = jnp.split(xi, 3, -1)
            hr, hz, hn = jnp.split(hh, 3, -1)
            reset, update = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
            candidate = jnp.tanh(xn + reset * hn)
            return (1 - update) * candidate + update * h, c
        i, f, g, o = jnp.split(xi + hh, 4, -1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        return jax.nn.sigmoid(o) * jnp.tanh(c), c

    def step(self, params: list, x, state: tuple):
        """x (batch, inputs) -> (output (batch, hidden), state after this step)."""
        hs, cs = [], []
        for index, p in enumerate(params):
            h = state[0][index]
            c = state[1][index] if self.state_count == 2 else None
            x, c = self._cell(p, x, h, c)
            hs.append(x)
            cs.append(c)
        new_state = (jnp.stack(hs),) if self.state_count == 1 else (jnp.stack(hs), jnp.stack(cs))
        return x, new_state

    def sequence(self, params: list, x, state: tuple, starts):
        """x (batch, L, inputs) from `state`; starts (batch, L): zero the state before those steps."""

        def body(state, inputs):
            x_t, start = inputs
            alive = (~start).astype(x_t.dtype)[None, :, None]
            state = tuple(s * alive for s in state)
            output, state = self.step(params, x_t, state)
            return state, output

        state, outputs = jax.lax.scan(body, state, (jnp.swapaxes(x, 0, 1), jnp.swapaxes(starts, 0, 1)))
        return jnp.swapaxes(outputs, 0, 1), state


class RecurrentTrunk:
    """Optional recurrent layers, then the MLP: (features, state)."""

    def __init__(self, inputs: int, rnn: RnnSpec | None, hiddens, activations):
        self.rnn = RecurrentLayers(inputs, rnn) if rnn else None
        self.mlp = MLP(rnn.hidden_size if rnn else inputs, hiddens, activations)
        self.features = self.mlp.features

    def init(self, key) -> dict:
        rnn_key, mlp_key = jax.random.split(key)
        return {"rnn": self.rnn.init(rnn_key) if self.rnn else [], "mlp": self.mlp.init(mlp_key)}

    def state_shapes(self, batch: int) -> list:
        return self.rnn.state_shapes(batch) if self.rnn else []

    def __call__(self, params: dict, x, state: tuple, starts=None):
        if self.rnn is not None:
            if starts is None:
                x, state = self.rnn.step(params["rnn"], x, state)
            else:
                x, state = self.rnn.sequence(params["rnn"], x, state, starts)
        return self.mlp(params["mlp"], x), state


class RecurrentActorCritic(ActorCritic):
    """Policy and value from one parameter pytree, one shared recurrent trunk or two (ActorCritic's layout, with
    recurrent trunks; every call takes and returns the states). States are a dict: {"policy": tuple} when
    shared, {"policy": tuple, "value": tuple} when separate."""

    def __init__(
        self,
        spec: ModelsSpec | dict | None,
        observation_space: gym.spaces.Space,
        action_space: gym.spaces.Space,
        num_envs: int = 1,
    ):
        spec = spec if isinstance(spec, ModelsSpec) else parse_models(spec)
        if not isinstance(observation_space, gym.spaces.Box):
            raise ValueError(f"observation_space: {observation_space} is not allowed; expected a Box")
        inputs, actions = int(np.prod(observation_space.shape)), action_size(action_space)
        self.separate, self.num_envs = spec.separate, num_envs
        self.policy_trunk = RecurrentTrunk(inputs, spec.policy.rnn, *spec.policy.mlp_layers("policy", inputs, actions))
        self.value_trunk = (
            RecurrentTrunk(inputs, spec.value.rnn, *spec.value.mlp_layers("value", inputs, actions))
            if spec.separate
            else self.policy_trunk
        )
        self.roles = {"policy": self.policy_trunk, **({"value": self.value_trunk} if spec.separate else {})}
        lengths = {trunk.rnn.spec.sequence_length for trunk in self.roles.values() if trunk.rnn}
        if not lengths:
            raise ConfigError(
                "models.policy.rnn: missing; PPO_RNN needs at least one recurrent model "
                "(type, num_layers, hidden_size, sequence_length)"
            )
        if len(lengths) > 1:
            raise ConfigError(
                f"models.value.rnn.sequence_length: {sorted(lengths)} differ between policy and value; "
                "use one sequence length"
            )
        self.sequence_length = lengths.pop()
        self.head = make_head(spec, action_space)
        self.value_output = compile_expression(spec.value.plan("value").output_transform)

    def get_specification(self) -> dict:
        """skrl's: every recurrent state's shape for the agent's worlds (policy first), and the sequence length."""
        sizes = [shape for trunk in self.roles.values() for shape in trunk.state_shapes(self.num_envs)]
        return {"rnn": {"sequence_length": self.sequence_length, "sizes": sizes}}

    def initial_state(self, batch: int) -> dict:
        return {
            role: tuple(jnp.zeros(shape) for shape in trunk.state_shapes(batch)) for role, trunk in self.roles.items()
        }

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

    def __call__(self, params: dict, observations, states: dict, starts=None):
        """(distribution parameters, value, next states) for one step (observations (batch, inputs)) or, with
        `starts`, for sequences (batch, L, inputs), whose outputs come flattened to (batch * L, ...)."""
        features, policy_state = self.policy_trunk(params["policy_trunk"], observations, states["policy"], starts)
        next_states = {"policy": policy_state}
        if self.separate:
            value_features, next_states["value"] = self.value_trunk(
                params["value_trunk"], observations, states["value"], starts
            )
        else:
            value_features = features
        if starts is not None:
            features, value_features = (f.reshape(-1, f.shape[-1]) for f in (features, value_features))
        return self.head(params["head"], features), self._value_out(params, value_features), next_states

    def value(self, params: dict, observations, states: dict):
        """The value alone (the separate value trunk only, when there is one)."""
        if not self.separate:
            return self(params, observations, states)[1]
        features, _ = self.value_trunk(params["value_trunk"], observations, states["value"])
        return self._value_out(params, features)


def build_recurrent_models(
    spec, observation_space, action_space, num_envs: int = 1, device=None
) -> dict[str, RecurrentActorCritic]:
    """{"policy": model, "value": model}: one RecurrentActorCritic under both keys (its params hold both)."""
    model = RecurrentActorCritic(spec, observation_space, action_space, num_envs)
    return {"policy": model, "value": model}
