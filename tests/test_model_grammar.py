"""skrl's model-instantiator grammar: every input, layer, activation and output form builds the network skrl's
instantiators build (same layers, widths and activations, in torch and in JAX); the older grammar and the same model
in the newer one give identical networks; what simtrain cannot build is a one-line error."""

import copy
from pathlib import Path

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch import nn

from toolkit.config import ConfigError
from toolkit.jax.models import build_models as build_jax_models
from toolkit.model_spec import parse_models
from toolkit.runner_cfg import load_yaml
from toolkit.torch import build_models as build_torch_models

OBS = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
ACT = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
DATA = Path(__file__).parent / "data"

# the activation functions skrl names, as torch modules and as JAX functions
TORCH_ACTIVATIONS = {
    "elu": nn.ELU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "selu": nn.SELU,
    "softplus": nn.Softplus,
    "softsign": nn.Softsign,
    "softmax": nn.Softmax,
}
JAX_ACTIVATIONS = {
    "elu": jax.nn.elu,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "leaky_relu": jax.nn.leaky_relu,
    "selu": jax.nn.selu,
    "softplus": jax.nn.softplus,
    "softsign": jax.nn.soft_sign,
    "softmax": jax.nn.softmax,
}


def _policy(network, output="ACTIONS", **extra) -> dict:
    return {
        "separate": True,
        "policy": {"class": "GaussianMixin", "network": network, "output": output, **extra},
        "value": {
            "class": "DeterministicMixin",
            "network": [{"name": "net", "input": "STATES", "layers": [8]}],
            "output": "ONE",
        },
    }


def _block(name="net", input="STATES", layers=(32, 32), activations="elu") -> dict:
    block = {"name": name, "input": input, "layers": list(layers)}
    if activations != "absent":
        block["activations"] = activations
    return block


# network -> (linear layers as (inputs, outputs) in call order, the policy's mean layer last; activation after each)
# as skrl's instantiators build them for 4 observations and 2 actions
NETWORKS = [
    ("one activation for all", [_block()], [(4, 32), (32, 32), (32, 2)], ["elu", "elu"]),
    ("one per layer", [_block(activations=["relu", "tanh"])], [(4, 32), (32, 32), (32, 2)], ["relu", "tanh"]),
    ("a list of one", [_block(activations=["selu"])], [(4, 32), (32, 32), (32, 2)], ["selu", "selu"]),
    ("an empty list", [_block(activations=[])], [(4, 32), (32, 32), (32, 2)], ["", ""]),
    ("null", [_block(activations=None)], [(4, 32), (32, 32), (32, 2)], ["", ""]),
    ("no activations key", [_block(activations="absent")], [(4, 32), (32, 32), (32, 2)], ["", ""]),
    ("upper case", [_block(activations="ELU")], [(4, 32), (32, 32), (32, 2)], ["elu", "elu"]),
    *[(name, [_block(layers=[16], activations=name)], [(4, 16), (16, 2)], [name]) for name in TORCH_ACTIVATIONS],
    ("OBSERVATIONS", [_block(input="OBSERVATIONS")], [(4, 32), (32, 32), (32, 2)], ["elu", "elu"]),
    (
        "linear forms",
        [
            _block(
                layers=[
                    {"linear": 32},
                    {"linear": [16]},
                    {"linear": {"out_features": 8}},
                    {"linear": {"features": "NUM_ACTIONS", "use_bias": True}},
                ]
            )
        ],
        [(4, 32), (32, 16), (16, 8), (8, 2), (2, 2)],
        ["elu"] * 4,
    ),
    (
        "width tokens",
        [_block(layers=[{"linear": {"out_features": "NUM_OBSERVATIONS"}}, {"linear": {"out_features": "ONE"}}])],
        [(4, 4), (4, 1), (1, 2)],
        ["elu", "elu"],
    ),
    (
        "flatten takes no activation",
        [_block(layers=["flatten", 32], activations=["relu", "tanh"])],
        [(4, 32), (32, 2)],
        ["tanh"],
    ),
    (
        "flatten forms",
        [_block(layers=[{"flatten": [1, -1]}, {"flatten": {"start_dim": 1}}, 16])],
        [(4, 16), (16, 2)],
        ["elu"],
    ),
    ("a slice", [_block(input="OBSERVATIONS[:, 0:2]")], [(2, 32), (32, 32), (32, 2)], ["elu", "elu"]),
    ("negative slice", [_block(input="STATES[:, -3:]", layers=[8])], [(3, 8), (8, 2)], ["elu"]),
    (
        "concatenate",
        [_block(input="concatenate([OBSERVATIONS, STATES[:, 1:2]])", layers=[8])],
        [(5, 8), (8, 2)],
        ["elu"],
    ),
    ("arithmetic", [_block(input="2 * OBSERVATIONS - STATES / 4", layers=[8])], [(4, 8), (8, 2)], ["elu"]),
    (
        "chained blocks",
        [_block("features", layers=[16]), _block("head", input="concatenate([features, OBSERVATIONS])", layers=[8])],
        [(4, 16), (20, 8), (8, 2)],
        ["elu", "elu"],
    ),
    (
        "a block with no layers",
        [_block("pick", input="OBSERVATIONS[:, 1:3]", layers=[]), _block("net", input="pick + 1", layers=[8])],
        [(2, 8), (8, 2)],
        ["elu"],
    ),
]


def _torch_layers(model) -> tuple[list, list]:
    """(in, out) of every Linear of the policy in call order, and the activation after each hidden one."""
    modules = list(model.trunk.modules()) + [model.head.mean]  # module order is call order (blocks in order)
    linears = [(m.in_features, m.out_features) for m in modules if isinstance(m, nn.Linear)]
    names = {cls: name for name, cls in TORCH_ACTIVATIONS.items()}
    flat = [
        m for m in model.trunk.modules() if not isinstance(m, (nn.Sequential, nn.ModuleList)) and m is not model.trunk
    ]
    activations = []
    for index, module in enumerate(flat):
        if isinstance(module, nn.Linear):
            after = flat[index + 1] if index + 1 < len(flat) else None
            activations.append(
                "" if after is None or isinstance(after, (nn.Linear, nn.Identity)) else names[type(after)]
            )
    return linears, activations


def _jax_layers(model, params) -> tuple[list, list]:
    trunk_params = params["policy_trunk"]
    mlps = (
        [network for _, _, network in model.policy_trunk.blocks]
        if hasattr(model.policy_trunk, "blocks")
        else [model.policy_trunk]
    )
    layer_lists = list(trunk_params.values()) if isinstance(trunk_params, dict) else [trunk_params]
    linears = [tuple(layer["w"].shape) for layers in layer_lists for layer in layers] + [
        tuple(params["head"]["mean"]["w"].shape)
    ]
    names = {id(fn): name for name, fn in JAX_ACTIVATIONS.items()}
    activations = [names.get(id(fn), "") for mlp in mlps for fn in mlp.activations]
    return linears, activations


@pytest.mark.parametrize("case, network, linears, activations", NETWORKS, ids=[row[0] for row in NETWORKS])
def test_every_network_form_builds_the_layers_skrl_builds(case, network, linears, activations):
    spec = parse_models(_policy(network))
    torch_policy = build_torch_models(spec, OBS, ACT)["policy"]
    assert _torch_layers(torch_policy) == (linears, activations)
    jax_model = build_jax_models(spec, OBS, ACT)["policy"]
    params = jax_model.init(jax.random.PRNGKey(0))
    assert _jax_layers(jax_model, params) == (linears, activations)
    # both run on a batch and give a mean per action
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    assert torch_policy(torch.as_tensor(obs))[0].shape == (5, 2)
    assert jax_model(params, jnp.asarray(obs))[0][0].shape == (5, 2)


def test_input_expressions_feed_what_they_say():
    """A block fed `OBSERVATIONS[:, 2:4] * 2` computes on exactly those numbers (torch and JAX)."""
    network = [
        _block("values", input="OBSERVATIONS[:, 2:4] * 2", layers=[3], activations=None)
    ]  # a ModuleDict method's name
    spec = parse_models(_policy(network))
    obs = np.arange(8, dtype=np.float32).reshape(2, 4)
    policy = build_torch_models(spec, OBS, ACT)["policy"]
    linear = policy.trunk.blocks[0][0]
    expected = (obs[:, 2:4] * 2) @ linear.weight.detach().numpy().T + linear.bias.detach().numpy()
    np.testing.assert_allclose(policy.trunk(torch.as_tensor(obs)).detach().numpy(), expected, rtol=1e-5)
    model = build_jax_models(spec, OBS, ACT)["policy"]
    params = model.init(jax.random.PRNGKey(0))
    layer = params["policy_trunk"]["values"][0]
    expected = (obs[:, 2:4] * 2) @ np.asarray(layer["w"]) + np.asarray(layer["b"])
    np.testing.assert_allclose(
        np.asarray(model.policy_trunk(params["policy_trunk"], jnp.asarray(obs))), expected, rtol=1e-5
    )


OUTPUTS = [
    ("ACTIONS", lambda x: x),
    ("tanh(ACTIONS)", np.tanh),
    ("2 * tanh(ACTIONS)", lambda x: 2 * np.tanh(x)),
    ("tanh(ACTIONS) * 0.5 + 0.1", lambda x: np.tanh(x) * 0.5 + 0.1),
    ("-ACTIONS / 2", lambda x: -x / 2),
    ("sigmoid(ACTIONS)", lambda x: 1 / (1 + np.exp(-x))),
    ("softsign(ACTIONS)", lambda x: x / (1 + np.abs(x))),
    ("ACTIONS + tanh(ACTIONS)", lambda x: x + np.tanh(x)),
]


@pytest.mark.parametrize("output, expected", OUTPUTS, ids=[row[0] for row in OUTPUTS])
def test_output_expressions_apply_to_the_output_layer(output, expected):
    spec = parse_models(_policy([_block(layers=[8])], output=output))
    features = np.random.default_rng(1).normal(size=(6, 8)).astype(np.float32) * 3
    head = build_torch_models(spec, OBS, ACT)["policy"].head
    raw = head.mean(torch.as_tensor(features)).detach().numpy()
    np.testing.assert_allclose(head(torch.as_tensor(features))[0].detach().numpy(), expected(raw), rtol=1e-5, atol=1e-6)
    model = build_jax_models(spec, OBS, ACT)["policy"]
    params = model.init(jax.random.PRNGKey(0))["head"]
    raw = features @ np.asarray(params["mean"]["w"]) + np.asarray(params["mean"]["b"])
    np.testing.assert_allclose(
        np.asarray(model.head(params, jnp.asarray(features))[0]), expected(raw), rtol=1e-5, atol=1e-6
    )


def test_value_output_expression_and_shared_model():
    """separate: False is skrl's shared model: the policy's network feeds both outputs (the value's own network is
    not used); the value's output expression still applies."""
    cfg = _policy([_block(layers=[16])])
    cfg["separate"] = False
    cfg["value"]["output"] = "2 * ONE"
    spec = parse_models(cfg)
    models = build_torch_models(spec, OBS, ACT)
    assert models["policy"] is models["value"]
    shared = models["policy"]
    assert {name: tuple(p.shape) for name, p in shared.named_parameters()} == {
        "trunk.0.weight": (16, 4),
        "trunk.0.bias": (16,),
        "head.log_std": (2,),
        "head.mean.weight": (2, 16),
        "head.mean.bias": (2,),
        "value_out.weight": (1, 16),
        "value_out.bias": (1,),
    }
    obs = torch.randn(3, 4)
    raw = torch.nn.functional.linear(shared.trunk(obs), shared.value_out.weight, shared.value_out.bias).squeeze(-1)
    torch.testing.assert_close(shared.value(obs), 2 * raw)
    model = build_jax_models(spec, OBS, ACT)["policy"]
    params = model.init(jax.random.PRNGKey(0))
    assert "value_trunk" not in params
    features = model.policy_trunk(params["policy_trunk"], jnp.asarray(obs.numpy()))
    raw = (features @ params["value_out"]["w"] + params["value_out"]["b"])[:, 0]
    np.testing.assert_allclose(
        np.asarray(model.value(params, jnp.asarray(obs.numpy()))), 2 * np.asarray(raw), rtol=1e-5
    )


def test_log_std_settings_and_reduction():
    spec = parse_models(
        _policy(
            [_block(layers=[8])],
            fixed_log_std=True,
            initial_log_std=-1.0,
            reduction="mean",
            clip_mean_actions=True,
            output="10 * ACTIONS",
        )
    )
    policy = build_torch_models(spec, OBS, ACT)["policy"]
    assert not policy.head.log_std.requires_grad and float(policy.head.log_std[0]) == -1.0
    params = policy(torch.randn(64, 4) * 100)
    assert float(params[0].detach().abs().max()) <= 1.0  # clip_mean_actions: the mean stays inside the action bounds
    actions = torch.randn(64, 2)
    summed = type(policy.head).log_prob(params, actions)
    torch.testing.assert_close(policy.head.log_prob(params, actions), summed / 2)  # reduction: mean over the 2 actions
    model = build_jax_models(spec, OBS, ACT)["policy"]
    jparams = model.init(jax.random.PRNGKey(0))
    assert float(jparams["head"]["log_std"][0]) == -1.0
    obs = jnp.asarray(np.random.default_rng(0).normal(size=(64, 4)) * 100, jnp.float32)
    grad = jax.grad(lambda p: model.head(p, model.policy_trunk(jparams["policy_trunk"], obs))[1].sum())(jparams["head"])
    assert float(jnp.abs(grad["log_std"]).sum()) == 0.0  # fixed_log_std: no gradient reaches it
    dist = model(jparams, obs)[0]
    assert float(jnp.abs(dist[0]).max()) <= 1.0
    jactions = jnp.asarray(actions.numpy())
    np.testing.assert_allclose(
        np.asarray(model.head.log_prob(dist, jactions)),
        np.asarray(type(model.head).log_prob(dist, jactions)) / 2,
        rtol=1e-6,
    )


def test_categorical_policy_output():
    cfg = _policy([_block(layers=[8])])
    cfg["policy"] = {
        "class": "CategoricalMixin",
        "unnormalized_log_prob": True,
        "network": cfg["policy"]["network"],
        "output": "ACTIONS",
    }
    spec = parse_models(cfg)
    discrete = gym.spaces.Discrete(3)
    policy = build_torch_models(spec, OBS, discrete)["policy"]
    assert (policy.head.logits.in_features, policy.head.logits.out_features) == (8, 3)
    model = build_jax_models(spec, OBS, discrete)["policy"]
    assert model.init(jax.random.PRNGKey(0))["head"]["logits"]["w"].shape == (8, 3)


OLD_TO_NEW = [
    # (older keys, the same model in the newer grammar)
    (
        {
            "hiddens": [32, 32],
            "hidden_activation": ["elu", "elu"],
            "input_shape": "Shape.STATES",
            "output_shape": "Shape.ACTIONS",
        },
        {
            "network": [{"name": "net", "input": "STATES", "layers": [32, 32], "activations": "elu"}],
            "output": "ACTIONS",
        },
    ),
    (
        {"hiddens": [64, 32], "hidden_activation": "tanh", "output_activation": "tanh", "output_scale": 2.0},
        {
            "network": [{"name": "net", "input": "OBSERVATIONS", "layers": [64, 32], "activations": ["tanh", "tanh"]}],
            "output": "2 * tanh(ACTIONS)",
        },
    ),
    (
        {"hiddens": [16], "hidden_activation": ["relu"], "output_activation": "", "output_scale": 0.5},
        {
            "network": [{"name": "features", "input": "STATES", "layers": [{"linear": 16}], "activations": ["relu"]}],
            "output": "0.5 * ACTIONS",
        },
    ),
]


@pytest.mark.parametrize("separate", [True, False])
@pytest.mark.parametrize("old, new", OLD_TO_NEW)
def test_older_and_newer_grammar_give_identical_networks(old, new, separate):
    """Same parameter names and shapes (so checkpoints of either load into the other), same initial weights for one
    seed, and the same outputs."""

    def cfg(policy):
        value = {k: v for k, v in policy.items() if k not in ("output_activation", "output_scale")}
        value = {**value, "output": "ONE"} if "network" in value else {**value, "output_shape": "Shape.ONE"}
        return {
            "separate": separate,
            "policy": {"class": "GaussianMixin", **policy},
            "value": {"class": "DeterministicMixin", **value},
        }

    obs = torch.randn(5, 4)
    outputs = []
    for grammar in (old, new):
        torch.manual_seed(0)
        models = build_torch_models(cfg(grammar), OBS, ACT)
        state = {f"{role}.{k}": v for role in ("policy", "value") for k, v in models[role].state_dict().items()}
        outputs.append(
            (state, models["policy"](obs)[0], models["value"](obs) if separate else models["value"].value(obs))
        )
    (old_state, old_mean, old_value), (new_state, new_mean, new_value) = outputs
    assert {k: v.shape for k, v in old_state.items()} == {k: v.shape for k, v in new_state.items()}
    for key in old_state:
        torch.testing.assert_close(old_state[key], new_state[key])
    torch.testing.assert_close(old_mean, new_mean)
    torch.testing.assert_close(old_value, new_value)
    jax_params = [
        build_jax_models(cfg(grammar), OBS, ACT)["policy"].init(jax.random.PRNGKey(3)) for grammar in (old, new)
    ]
    assert jax.tree.structure(jax_params[0]) == jax.tree.structure(jax_params[1])
    for a, b in zip(jax.tree.leaves(jax_params[0]), jax.tree.leaves(jax_params[1])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_task_file_and_the_isaac_lab_style_file_give_identical_networks():
    """cartpole's own agent.yaml (older grammar) and the skrl/Isaac Lab file in the newer one describe one model."""
    old = load_yaml(str(Path(__file__).parent.parent / "tasks" / "cartpole" / "agent.yaml"))["models"]
    new = load_yaml(str(DATA / "skrl_model_instantiator_cartpole.yaml"))["models"]
    shapes = []
    for models in (old, new):
        built = build_torch_models(copy.deepcopy(models), OBS, ACT)["policy"]
        shapes.append({k: tuple(v.shape) for k, v in built.state_dict().items()})
        params = build_jax_models(copy.deepcopy(models), OBS, ACT)["policy"].init(jax.random.PRNGKey(0))
        shapes.append(jax.tree.map(lambda x: x.shape, params))
    assert shapes[0] == shapes[2] and shapes[1] == shapes[3]


ERRORS = [
    (
        {"network": [_block(layers=[{"conv2d": [32, 8, [4, 4]]}])]},
        r"models.policy.network\[0\].layers\[0\]: \{'conv2d': .*\} is not allowed; conv2d needs image observations",
    ),
    (
        {"network": [_block(layers=[{"lstm": 8}])]},
        r"layers\[0\]: .* is not allowed; layer types simtrain builds: linear",
    ),
    (
        {"network": [_block(layers=["dense"])]},
        r"layers\[0\]: 'dense' is not allowed; a layer written as a name must be flatten",
    ),
    (
        {"network": [_block(layers=[{"linear": {"out_features": 8, "bias": False}}])]},
        r"layers\[0\].linear.bias: False is not allowed; simtrain's linear layers always have a bias",
    ),
    ({"network": [_block(layers=[0])]}, r"layers\[0\]: 0 is not allowed; expected a positive width"),
    (
        {"network": [_block(activations=["elu", "elu", "elu"])]},
        r"network\[0\].activations: \['elu', 'elu', 'elu'\] is not allowed; "
        r"expected one name, or a list of one per layer \(2\)",
    ),
    (
        {"network": [_block(activations="swish")]},
        r"network\[0\].activations: 'swish' is not allowed; choose one of elu",
    ),
    (
        {"network": [_block(input="ACTIONS")]},
        r"network\[0\].input: 'ACTIONS' is not allowed; ACTIONS: PPO's models are not given the actions",
    ),
    (
        {"network": [_block(input="concatenate([OBSERVATIONS, ACTIONS])")]},
        r"input: .* is not allowed; ACTIONS: PPO's models",
    ),
    (
        {"network": [_block(input="encoder")]},
        r"input: 'encoder' is not allowed; encoder: it is not a token nor an earlier block",
    ),
    (
        {"network": [_block(input="permute(OBSERVATIONS, (0, 3, 1, 2))")]},
        r"input: .* is not allowed; permute reorders image axes",
    ),
    (
        {"network": [_block(input="one_hot_encoding(OBSERVATION_SPACE, OBSERVATIONS)")]},
        r"is not allowed; one_hot_encoding needs a Discrete",
    ),
    (
        {"network": [_block(input='STATES["joint-pos"]')]},
        r"is not allowed; indexing by key needs a Dict observation space",
    ),
    ({"network": [_block(input="OBSERVATIONS[:, a]")]}, r"is not allowed; indices and slice bounds must be integers"),
    ({"network": [_block(input="OBSERVATIONS[:, ::-1]")]}, r"is not allowed; slice steps must be positive"),
    (
        {"network": [_block(input="OBSERVATIONS ** 2")]},
        r"input: 'OBSERVATIONS \*\* 2' is not allowed; expressions use names",
    ),
    (
        {"network": [_block(input="tanh(OBSERVATIONS)")]},
        r"input: .* is not allowed; tanh\(...\) is not a function here; allowed: concatenate",
    ),
    ({"network": [_block(), _block()]}, r"network\[1\].name: 'net' is not allowed; block names must be unique"),
    ({"network": [_block(name="STATES")]}, r"network\[0\].name: 'STATES' is not allowed; expected a Python identifier"),
    (
        {"network": [{**_block(), "units": 3}]},
        r"network\[0\].units: unknown key; allowed: name, input, layers, activations",
    ),
    ({"network": []}, r"models.policy.network: \[\] is not allowed; expected a list of blocks"),
    (
        {"output": "net"},
        r"models.policy.output: 'net' is not allowed; a policy model's output is built on ACTIONS alone \(net",
    ),
    ({"output": "ONE"}, r"models.policy.output: 'ONE' is not allowed; a policy model's output is built on ACTIONS"),
    (
        {"output": "sin(ACTIONS)"},
        r"output: 'sin\(ACTIONS\)' is not allowed; sin\(...\) is not a function here; allowed: elu",
    ),
    ({"output": "concatenate([ACTIONS])"}, r"output: .* is not allowed; concatenate\(...\) is not a function here"),
    ({"output": "tanh(ACTIONS"}, r"output: 'tanh\(ACTIONS' is not allowed; it is not an expression"),
    ({"reduction": "none"}, r"models.policy.reduction: 'none' is not allowed; choose one of sum, mean"),
    ({"hiddens": [32]}, r"models.policy.hiddens: \[32\] is not allowed beside network; write the model in one grammar"),
]


@pytest.mark.parametrize("edit, message", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_what_simtrain_cannot_build_is_a_one_line_error(edit, message):
    cfg = _policy([_block()])
    cfg["policy"].update(edit)
    with pytest.raises(ConfigError, match=message) as error:
        parse_models(cfg)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "models, message",
    [
        ({"policy": {"output": "ACTIONS"}}, r"models.policy.network: missing; output 'ACTIONS' is built on a network"),
        ({"policy": {"network": [_block()]}}, r"models.policy.output: missing; a network needs its output"),
        (
            {"value": {"class": "DeterministicMixin", "network": [_block()], "output": "ACTIONS"}},
            r"models.value.output: 'ACTIONS' is not allowed; a value model's output is built on ONE",
        ),
        (
            {
                "policy": {
                    "class": "CategoricalMixin",
                    "unnormalized_log_prob": False,
                    "network": [_block()],
                    "output": "ACTIONS",
                }
            },
            r"models.policy.unnormalized_log_prob: False is not allowed; "
            r"simtrain's categorical policy reads its output as logits",
        ),
        (
            {"policy": {"hiddens": [8], "output_activation": "swish"}},
            r"models.policy.output_activation: 'swish' is not allowed",
        ),
        (
            {"policy": {"hiddens": [8], "input_shape": "Shape.STATES_ACTIONS"}},
            r"models.policy.input_shape: 'Shape.STATES_ACTIONS' is not allowed",
        ),
    ],
)
def test_missing_halves_and_wrong_roles_are_one_line_errors(models, message):
    with pytest.raises(ConfigError, match=message):
        parse_models(models)


@pytest.mark.parametrize("build", [build_torch_models, build_jax_models], ids=["torch", "jax"])
@pytest.mark.parametrize(
    "input, message",
    [
        (
            "OBSERVATIONS[:, 6:9]",
            r"models.policy.network\[0\].input: 'OBSERVATIONS\[:, 6:9\]' is not allowed; it gives shape \('batch', 0\)",
        ),
        (
            "OBSERVATIONS[:, 0]",
            r"input: 'OBSERVATIONS\[:, 0\]' is not allowed; it gives shape \('batch',\) .* must be \(batch, features\)",
        ),
        ("OBSERVATIONS[0:2]", r"it gives shape .* must be \(batch, features\)"),
        ("OBSERVATIONS[:, 0:2] + STATES", r"input: .* is not allowed; it does not apply to observations of size 4"),
    ],
)
def test_inputs_that_do_not_fit_the_observations_are_one_line_errors_when_built(build, input, message):
    spec = parse_models(_policy([_block(input=input)]))
    with pytest.raises(ConfigError, match=message) as error:
        build(spec, OBS, ACT)
    assert "\n" not in str(error.value)


def test_recurrent_models_take_either_grammar():
    """PPO_RNN's `rnn` section goes before one block fed the observations, in either grammar."""
    from toolkit.jax.rnn_models import build_recurrent_models as build_jax_recurrent
    from toolkit.torch.rnn_models import build_recurrent_models as build_torch_recurrent

    rnn = {"type": "GRU", "num_layers": 1, "hidden_size": 8, "sequence_length": 4}
    old = {"separate": False, "policy": {"rnn": rnn, "hiddens": [16], "hidden_activation": "elu"}}
    new = {"separate": False, "policy": {"rnn": rnn, "network": [_block(layers=[16])], "output": "ACTIONS"}}
    torch_shapes = [
        {k: v.shape for k, v in build_torch_recurrent(cfg, OBS, ACT, num_envs=2)["policy"].state_dict().items()}
        for cfg in (old, new)
    ]
    assert torch_shapes[0] == torch_shapes[1] and torch_shapes[0]["trunk.mlp.0.weight"] == (16, 8)
    jax_shapes = [
        jax.tree.map(lambda x: x.shape, build_jax_recurrent(cfg, OBS, ACT, 2)["policy"].init(jax.random.PRNGKey(0)))
        for cfg in (old, new)
    ]
    assert jax_shapes[0] == jax_shapes[1]
    chained = copy.deepcopy(new)
    chained["policy"]["network"] = [_block("a", layers=[8]), _block("b", input="a", layers=[8])]
    with pytest.raises(
        ConfigError, match=r"models.policy.network: .* is not allowed; a recurrent model takes one block fed STATES"
    ):
        build_torch_recurrent(chained, OBS, ACT, num_envs=2)
