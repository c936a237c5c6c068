"""Recurrent policy and value networks for PPO_RNN: an RNN, GRU or LSTM in front of an MLP trunk and a head.

A recurrent state is a tuple of tensors of shape (num_layers, batch, hidden_size): (h,) for RNN and GRU, (h, c)
for LSTM. A model without an `rnn` section is the same MLP as PPO's, with an empty state, so that a recurrent
policy can sit beside a feed-forward value network.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from ..model_grammar import Expr, action_size
from ..model_spec import ModelSpec, ModelsSpec, RnnSpec, parse_models
from .models import ValueHead, make_head, mlp

RnnState = tuple[torch.Tensor, ...]
_CELLS = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}


class RecurrentTrunk(nn.Module):
    """observations -> (features, next state), one step at a time or over whole sequences."""

    def __init__(self, inputs: int, rnn: RnnSpec | None, hiddens, activations):
        super().__init__()
        self.spec = rnn
        self.rnn = _CELLS[rnn.type](inputs, rnn.hidden_size, rnn.num_layers, batch_first=True) if rnn else None
        self.mlp, self.features = mlp(rnn.hidden_size if rnn else inputs, hiddens, activations)

    def state_shapes(self, batch: int) -> list[tuple[int, int, int]]:
        if self.spec is None:
            return []
        shape = (self.spec.num_layers, batch, self.spec.hidden_size)
        return [shape, shape] if self.spec.type == "LSTM" else [shape]

    def _run(self, x: torch.Tensor, state: RnnState) -> tuple[torch.Tensor, RnnState]:
        output, new_state = self.rnn(x, state if len(state) == 2 else state[0])
        return output, tuple(new_state) if isinstance(new_state, tuple) else (new_state,)

    def step(self, observations: torch.Tensor, state: RnnState) -> tuple[torch.Tensor, RnnState]:
        """observations (batch, inputs), state of that batch -> features (batch, F), state after this step."""
        if self.rnn is None:
            return self.mlp(observations), ()
        output, state = self._run(observations.unsqueeze(1), state)
        return self.mlp(output.squeeze(1)), state

    def sequence(
        self, observations: torch.Tensor, state: RnnState, starts: torch.Tensor
    ) -> tuple[torch.Tensor, RnnState]:
        """observations (batch, L, inputs) from `state`; starts (batch, L) marks the steps that begin a new episode,
        before which a sequence's state is zeroed. Returns features (batch, L, F) and the final state.

        The RNN runs in one call between steps where some sequence starts an episode, so its cost grows with
        the number of distinct episode-start steps, not with L."""
        if self.rnn is None:
            return self.mlp(observations), ()
        cuts = (starts[:, 1:].any(0).nonzero().flatten() + 1).tolist()  # one host read per sequence batch
        bounds = [0, *cuts, observations.shape[1]]
        outputs = []
        for begin, end in zip(bounds[:-1], bounds[1:]):
            if begin > 0:
                alive = (~starts[:, begin]).to(state[0].dtype).view(1, -1, 1)
                state = tuple(s * alive for s in state)
            output, state = self._run(observations[:, begin:end], state)
            outputs.append(output)
        return self.mlp(torch.cat(outputs, 1)), state


class RecurrentModel(nn.Module):
    """A recurrent trunk with a distribution head (policy), a value output, or both (shared)."""

    def __init__(
        self,
        trunk: RecurrentTrunk,
        num_envs: int,
        head: nn.Module | None = None,
        value: bool = False,
        value_output: Expr | None = None,
    ):
        super().__init__()
        self.trunk, self.head, self.num_envs = trunk, head, num_envs
        self.value_out = ValueHead(trunk.features, value_output) if value else None

    def get_specification(self) -> dict:
        """skrl's: the shapes of the recurrent state for the agent's worlds, and the replayed sequence length."""
        if self.trunk.spec is None:
            return {}
        return {
            "rnn": {"sequence_length": self.trunk.spec.sequence_length, "sizes": self.trunk.state_shapes(self.num_envs)}
        }

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> RnnState:
        return tuple(torch.zeros(shape, device=device) for shape in self.trunk.state_shapes(batch))

    def forward(self, observations: torch.Tensor, state: RnnState, starts: torch.Tensor | None = None):
        """One step (observations (batch, inputs)) or, with `starts`, whole sequences (batch, L, inputs), whose
        outputs come flattened to (batch * L, ...). Returns (distribution parameters or None, value or None,
        next state)."""
        if starts is None:
            features, state = self.trunk.step(observations, state)
        else:
            features, state = self.trunk.sequence(observations, state, starts)
            features = features.flatten(0, 1)
        params = self.head(features) if self.head is not None else None
        value = self.value_out(features) if self.value_out is not None else None
        return params, value, state


def _trunk(spec: ModelSpec, role: str, inputs: int, actions: int) -> RecurrentTrunk:
    hiddens, activations = spec.mlp_layers(role, inputs, actions)
    return RecurrentTrunk(inputs, spec.rnn, hiddens, activations)


def _value_output(spec: ModelsSpec) -> Expr | None:
    return spec.value.plan("value").output_transform


def build_recurrent_models(
    spec: ModelsSpec | dict | None,
    observation_space: gym.spaces.Space,
    action_space: gym.spaces.Space,
    num_envs: int,
    device: str | torch.device = "cpu",
) -> dict[str, RecurrentModel]:
    """{"policy": ..., "value": ...}; one module under both keys when the spec is not separate (the value shares
    the policy's RNN and MLP)."""
    if not isinstance(spec, ModelsSpec):
        spec = parse_models(spec)
    if not isinstance(observation_space, gym.spaces.Box):
        raise ValueError(f"observation_space: {observation_space} is not allowed; expected a Box")
    inputs, actions = int(np.prod(observation_space.shape)), action_size(action_space)
    policy_trunk = _trunk(spec.policy, "policy", inputs, actions)
    head = make_head(policy_trunk.features, action_space, **spec.policy.gaussian_kwargs())
    if not spec.separate:
        shared = RecurrentModel(policy_trunk, num_envs, head, value=True, value_output=_value_output(spec)).to(device)
        return {"policy": shared, "value": shared}
    return {
        "policy": RecurrentModel(policy_trunk, num_envs, head).to(device),
        "value": RecurrentModel(
            _trunk(spec.value, "value", inputs, actions), num_envs, value=True, value_output=_value_output(spec)
        ).to(device),
    }
