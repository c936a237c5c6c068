"""The `models` section of a Runner YAML (skrl's model-instantiator keys), framework-independent."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import check, from_dict

STOCHASTIC = {"GaussianMixin": "gaussian", "Gaussian": "gaussian", "CategoricalMixin": "categorical", "Categorical": "categorical"}
DETERMINISTIC = {"DeterministicMixin": "deterministic", "Deterministic": "deterministic"}
RNN_TYPES = ("RNN", "GRU", "LSTM")


@dataclass
class RnnSpec:
    """A recurrent layer in front of a model's MLP (PPO_RNN): the cell, its depth and width, and how many steps
    the update replays per sequence (truncated backpropagation through time)."""

    type: str = "GRU"
    num_layers: int = 1
    hidden_size: int = 64
    sequence_length: int = 16


@dataclass
class ModelSpec:
    # "class" in YAML; a Python keyword, so it is renamed on the way in
    kind: str = "GaussianMixin"
    hiddens: list = field(default_factory=lambda: [64, 64])
    hidden_activation: list | str = "elu"
    input_shape: str = "Shape.STATES"
    output_shape: str = "Shape.ACTIONS"
    output_activation: str = ""
    output_scale: float = 1.0
    # Gaussian: actions go to the environment unclipped and the environment clips them at its bounds, so the
    # log-probability is always that of the sampled action; clip_actions is accepted for skrl files
    clip_actions: bool = False
    clip_log_std: bool = True
    initial_log_std: float = 0.0
    min_log_std: float = -20.0
    max_log_std: float = 2.0
    reduction: str = "sum"
    # Categorical: the network's outputs are logits
    unnormalized_log_prob: bool = True
    rnn: RnnSpec | None = None  # recurrent models only (agent class PPO_RNN)

    def gaussian_kwargs(self) -> dict:
        return dict(output_activation=self.output_activation, output_scale=self.output_scale,
                    initial_log_std=self.initial_log_std, clip_log_std=self.clip_log_std,
                    min_log_std=self.min_log_std, max_log_std=self.max_log_std)


@dataclass
class ModelsSpec:
    separate: bool = True
    policy: ModelSpec = field(default_factory=ModelSpec)
    value: ModelSpec = field(default_factory=lambda: ModelSpec(kind="DeterministicMixin", output_shape="Shape.ONE"))


def parse_models(data: dict | None, section: str = "models") -> ModelsSpec:
    data = dict(data or {})
    for role in ("policy", "value"):
        if isinstance(data.get(role), dict):
            role_data = dict(data[role])
            if "class" in role_data:
                role_data["kind"] = role_data.pop("class")
            if isinstance(role_data.get("rnn"), dict):
                role_data["rnn"] = _parse_rnn(role_data["rnn"], f"{section}.{role}.rnn")
            data[role] = from_dict(ModelSpec, role_data, f"{section}.{role}")
    spec = from_dict(ModelsSpec, data, section)
    check(spec.policy.kind in STOCHASTIC, section, "policy.class", spec.policy.kind, f"choose one of {', '.join(STOCHASTIC)}")
    check(spec.value.kind in DETERMINISTIC, section, "value.class", spec.value.kind, f"choose one of {', '.join(DETERMINISTIC)}")
    for role, model in (("policy", spec.policy), ("value", spec.value)):
        check(all(isinstance(h, int) and h > 0 for h in model.hiddens), section, f"{role}.hiddens", model.hiddens,
              "expected a list of positive layer sizes")
    return spec


def _parse_rnn(data: dict, section: str) -> RnnSpec:
    rnn = from_dict(RnnSpec, data, section)
    check(rnn.type in RNN_TYPES, section, "type", rnn.type, f"choose one of {', '.join(RNN_TYPES)}")
    for name in ("num_layers", "hidden_size", "sequence_length"):
        check(getattr(rnn, name) >= 1, section, name, getattr(rnn, name), "must be >= 1")
    return rnn
