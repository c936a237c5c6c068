"""The `models` section of a Runner YAML, framework-independent. A model is written in either of skrl's grammars:
the model-instantiator grammar of skrl 1.x/2.x (`network` blocks and an `output` expression, see model_grammar.py)
or the older one (`hiddens`, `hidden_activation`, `output_activation`, `output_scale`); both become one NetworkPlan."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import ConfigError, check, from_dict
from .model_grammar import ACTIVATIONS, INPUT_TOKENS, OUTPUT_TOKENS, NetworkPlan, expand_activations, parse_network

STOCHASTIC = {
    "GaussianMixin": "gaussian",
    "Gaussian": "gaussian",
    "CategoricalMixin": "categorical",
    "Categorical": "categorical",
}
DETERMINISTIC = {"DeterministicMixin": "deterministic", "Deterministic": "deterministic"}
RNN_TYPES = ("RNN", "GRU", "LSTM")
REDUCTIONS = ("sum", "mean")  # skrl's "prod" and "none" give no per-sample log-probability, which PPO's ratio needs
OLD_GRAMMAR_KEYS = ("hiddens", "hidden_activation", "input_shape", "output_shape", "output_activation", "output_scale")
NEW_GRAMMAR_KEYS = ("network", "output")


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
    # skrl's model-instantiator grammar (None: the older keys below describe the model)
    network: list | None = None
    output: str | None = None
    # the older grammar
    hiddens: list = field(default_factory=lambda: [64, 64])
    hidden_activation: list | str = "elu"
    input_shape: str = "Shape.STATES"
    output_shape: str = "Shape.ACTIONS"
    output_activation: str = ""
    output_scale: float = 1.0
    # Gaussian: actions go to the environment unclipped and the environment clips them at its bounds, so the
    # log-probability is always that of the sampled action; clip_actions is accepted for skrl files
    clip_actions: bool = False
    clip_mean_actions: bool = False  # clamp the mean to the action space's bounds before sampling
    clip_log_std: bool = True
    initial_log_std: float = 0.0
    min_log_std: float = -20.0
    max_log_std: float = 2.0
    fixed_log_std: bool = False  # the log std keeps its initial value (no gradient)
    reduction: str = "sum"  # how the per-action log-probabilities of a Gaussian combine: sum or mean
    # Categorical: the network's outputs are logits
    unnormalized_log_prob: bool = True
    rnn: RnnSpec | None = None  # recurrent models only (agent class PPO_RNN)

    def plan(self, role: str, section: str = "models") -> NetworkPlan:
        """The model as blocks and an output expression, from whichever grammar the file used."""
        where = f"{section}.{role}"
        if self.network is not None:
            return parse_network(self.network, self.output, role, where)
        check(
            self.input_shape.removeprefix("Shape.") in INPUT_TOKENS,
            where,
            "input_shape",
            self.input_shape,
            "choose Shape.STATES or Shape.OBSERVATIONS",
        )
        token = OUTPUT_TOKENS[role]
        check(
            self.output_shape.removeprefix("Shape.") == token,
            where,
            "output_shape",
            self.output_shape,
            f"a {role} model's output is Shape.{token}",
        )
        check(
            all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in self.hiddens),
            where,
            "hiddens",
            self.hiddens,
            "expected a list of positive layer sizes",
        )
        activations = expand_activations(self.hidden_activation, len(self.hiddens), f"{where}.hidden_activation")
        name = (self.output_activation or "").lower()
        check(
            name in ("", *ACTIVATIONS),
            where,
            "output_activation",
            self.output_activation,
            f"choose one of {', '.join(ACTIVATIONS)}",
        )
        output = f"{name}({token})" if name else token
        if self.output_scale != 1.0:
            output = f"{self.output_scale!r} * {output}"
        block = {"name": "net", "input": "OBSERVATIONS", "layers": list(self.hiddens), "activations": activations}
        return parse_network([block], output, role, where)

    def gaussian_kwargs(self) -> dict:
        """The policy head's settings (a Categorical head takes `output` alone)."""
        return dict(
            output=self.plan("policy").output_transform,
            initial_log_std=self.initial_log_std,
            clip_log_std=self.clip_log_std,
            min_log_std=self.min_log_std,
            max_log_std=self.max_log_std,
            fixed_log_std=self.fixed_log_std,
            reduction=self.reduction,
            clip_mean_actions=self.clip_mean_actions,
        )

    def mlp_layers(self, role: str, observation_size: int, action_size: int) -> tuple[list[int], list[str]]:
        """(widths, activations) of a model that is one plain MLP (what a recurrent model puts after its RNN)."""
        plan = self.plan(role)
        check(
            plan.plain_mlp,
            f"models.{role}",
            "network",
            self.network,
            "a recurrent model takes one block fed STATES or OBSERVATIONS (the RNN goes before it)",
        )
        ((block, _, units),) = plan.resolve(observation_size, action_size, f"models.{role}")
        return units, list(block.activations)


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
            _check_one_grammar(role_data, f"{section}.{role}")
            if role == "value" and "network" not in role_data:
                role_data.setdefault("output_shape", "Shape.ONE")
            if isinstance(role_data.get("rnn"), dict):
                role_data["rnn"] = _parse_rnn(role_data["rnn"], f"{section}.{role}.rnn")
            data[role] = from_dict(ModelSpec, role_data, f"{section}.{role}")
    spec = from_dict(ModelsSpec, data, section)
    check(
        spec.policy.kind in STOCHASTIC,
        section,
        "policy.class",
        spec.policy.kind,
        f"choose one of {', '.join(STOCHASTIC)}",
    )
    check(
        spec.value.kind in DETERMINISTIC,
        section,
        "value.class",
        spec.value.kind,
        f"choose one of {', '.join(DETERMINISTIC)}",
    )
    for role, model in (("policy", spec.policy), ("value", spec.value)):
        model.plan(role, section)  # every grammar error is found here, before any world is built
        check(
            role == "value" or model.kind not in ("CategoricalMixin", "Categorical") or model.unnormalized_log_prob,
            f"{section}.{role}",
            "unnormalized_log_prob",
            model.unnormalized_log_prob,
            "simtrain's categorical policy reads its output as logits: True",
        )
        check(
            model.reduction in REDUCTIONS,
            f"{section}.{role}",
            "reduction",
            model.reduction,
            f"choose one of {', '.join(REDUCTIONS)} (PPO needs one log-probability per sample)",
        )
    return spec


def _check_one_grammar(data: dict, where: str) -> None:
    new = [key for key in NEW_GRAMMAR_KEYS if key in data]
    old = [key for key in OLD_GRAMMAR_KEYS if key in data]
    if new and old:
        raise ConfigError(
            f"{where}.{old[0]}: {data[old[0]]!r} is not allowed beside {new[0]}; "
            f"write the model in one grammar: network and output (skrl 1.x/2.x), "
            f"or {', '.join(OLD_GRAMMAR_KEYS)} (older)"
        )
    if "output" in data and "network" not in data:
        raise ConfigError(
            f"{where}.network: missing; output {data['output']!r} is built on a network (a list of blocks)"
        )
    if "network" in data and "output" not in data:
        raise ConfigError(
            f"{where}.output: missing; a network needs its output (ACTIONS for a policy, ONE for a value)"
        )


def _parse_rnn(data: dict, section: str) -> RnnSpec:
    rnn = from_dict(RnnSpec, data, section)
    check(rnn.type in RNN_TYPES, section, "type", rnn.type, f"choose one of {', '.join(RNN_TYPES)}")
    for name in ("num_layers", "hidden_size", "sequence_length"):
        check(getattr(rnn, name) >= 1, section, name, getattr(rnn, name), "must be >= 1")
    return rnn


def check_asymmetric(spec: "ModelsSpec", state_space) -> None:
    """An env with a state space (the critic's privileged observations) needs separate policy and value models:
    the policy runs on the robot, with observations only."""
    if state_space is not None and not spec.separate:
        raise ConfigError(
            "models.separate: False is not allowed for an env with a state space (an asymmetric critic "
            "reads the states, the policy the observations); set separate: True"
        )
