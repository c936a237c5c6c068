"""Policy export (toolkit.export, launch/export.py): the ONNX file (and TorchScript) computes the agent's
deterministic action from raw observations, recurrent states included, for torch and JAX PPO and PPO_RNN."""

import copy
import importlib.util
import json
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import onnx
import onnxruntime
import pytest
import torch
import yaml

import tasks
from envs.task_metadata import task_metadata
from tests.launch_scripts import run_launch_script
from toolkit.export import ExportError
from toolkit.runner_base import runner_class
from toolkit.runner_cfg import load_yaml

ROOT = Path(__file__).resolve().parents[1]
BATCH, STEPS, TOLERANCE = 32, 6, 1e-5

spec_of_export = importlib.util.spec_from_file_location("export_script", ROOT / "launch" / "export.py")
export_script = sys.modules["export_script"] = importlib.util.module_from_spec(spec_of_export)
spec_of_export.loader.exec_module(export_script)

MLP = {
    "separate": True,
    "policy": {
        "class": "GaussianMixin",
        "hiddens": [16, 16],
        "hidden_activation": ["elu", "tanh"],
        "output_activation": "tanh",
        "output_scale": 2.0,
    },
    "value": {"class": "DeterministicMixin", "hiddens": [16]},
}


def _recurrent(rnn_type, layers, activation="elu"):
    return {
        "separate": False,
        "policy": {
            "class": "GaussianMixin",
            "hiddens": [16],
            "hidden_activation": activation,
            "rnn": {"type": rnn_type, "num_layers": layers, "hidden_size": 8, "sequence_length": 4},
        },
        "value": {"class": "DeterministicMixin", "hiddens": [16]},
    }


def _network(*blocks, output="ACTIONS"):
    """A model in skrl's model-instantiator grammar: blocks as (name, input, layers, activations)."""
    return {
        "network": [
            {"name": name, "input": source, "layers": layers, "activations": activations}
            for name, source, layers, activations in blocks
        ],
        "output": output,
    }


VALUE = {"class": "DeterministicMixin", **_network(("net", "STATES", [16], "elu"), output="ONE")}
TWO_BLOCKS = _network(  # slices (with a step), arithmetic, a concatenate of an earlier block and the observations
    ("body", "OBSERVATIONS[:, 0:3] * 0.5 - 1", [16], "elu"),
    ("joint", "concatenate([body, -STATES[..., 1::2], OBSERVATIONS[:, 3:] / 2])", [16, 8], ["tanh", "softsign"]),
    output="2 * tanh(ACTIONS) + 0.1 * gelu(ACTIONS)",
)
GRAMMAR_CASES = {  # skrl's model-instantiator grammar (toolkit/model_grammar.py)
    "grammar_2_tanh": (
        "PPO",
        {
            "separate": True,
            "value": VALUE,
            "policy": {
                "class": "GaussianMixin",
                **_network(("net", "STATES", [16, 16], ["elu", "gelu"]), output="2 * tanh(ACTIONS)"),
            },
        },
    ),
    "grammar_two_blocks_concatenate": (
        "PPO",
        {"separate": True, "value": VALUE, "policy": {"class": "GaussianMixin", **TWO_BLOCKS}},
    ),
    "grammar_two_blocks_shared": (
        "PPO",
        {"separate": False, "value": VALUE, "policy": {"class": "GaussianMixin", **TWO_BLOCKS}},
    ),
    "grammar_clip_mean_actions": (
        "PPO",
        {
            "separate": True,
            "value": VALUE,
            "policy": {
                "class": "GaussianMixin",
                "clip_mean_actions": True,
                **_network(("net", "OBSERVATIONS", [16], "relu"), output="4 * ACTIONS"),
            },
        },
    ),
    "grammar_rnn_2_tanh": (
        "PPO_RNN",
        {
            "separate": False,
            "value": VALUE,
            "policy": {
                "class": "GaussianMixin",
                "rnn": {"type": "LSTM", "num_layers": 1, "hidden_size": 8, "sequence_length": 4},
                **_network(("net", "STATES", [16], "silu"), output="2 * tanh(ACTIONS)"),
            },
        },
    ),
}

CASES = {  # name: (agent class, models section)
    "ppo": ("PPO", MLP),
    "ppo_gelu_silu": ("PPO", {**MLP, "policy": {**MLP["policy"], "hidden_activation": ["gelu", "silu"]}}),
    "ppo_rnn_gru": ("PPO_RNN", _recurrent("GRU", 1)),
    "ppo_rnn_lstm_2_layers": ("PPO_RNN", _recurrent("LSTM", 2, "relu")),
    "ppo_rnn_rnn_2_layers": ("PPO_RNN", _recurrent("RNN", 2, "selu")),
    "ppo_rnn_value_only_recurrent": (
        "PPO_RNN",
        {  # a feed-forward policy beside a recurrent value: no state inputs
            "separate": True,
            "policy": {"class": "GaussianMixin", "hiddens": [16]},
            "value": {
                "class": "DeterministicMixin",
                "hiddens": [16],
                "rnn": {"type": "GRU", "hidden_size": 8, "sequence_length": 4},
            },
        },
    ),
    **GRAMMAR_CASES,
}


class Spaces:
    def __init__(self, observation_space, action_space, framework, num_envs=BATCH):
        self.observation_space, self.action_space = observation_space, action_space
        self.num_envs, self.device, self.framework = num_envs, "cpu", framework

    def close(self):
        pass


def _agent(framework, agent_class, models, observation_space, action_space):
    cfg = load_yaml(str(tasks.spec("cartpole").agent_cfg))
    cfg["models"] = copy.deepcopy(models)
    cfg["agent"]["class"] = agent_class
    cfg["agent"]["rollouts"] = 16
    cfg["trainer"].update(close_environment_at_exit=False, headless=True)
    agent = runner_class(framework)(Spaces(observation_space, action_space, framework), cfg).agent
    _randomize(agent, framework, observation_space.shape[0])
    agent.enable_training_mode(False, apply_to_models=True)
    return agent


def _randomize(agent, framework, size):
    """Weights and normaliser statistics far from their initial values, so that every layer matters."""
    rng = np.random.default_rng(1)
    mean, variance = rng.normal(0, 2, size), rng.uniform(0.1, 4, size)
    if framework == "torch":
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for parameter in agent.policy.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
        scaler = agent._observation_preprocessor
        scaler.running_mean.copy_(torch.as_tensor(mean))
        scaler.running_variance.copy_(torch.as_tensor(variance))
        scaler.current_count.fill_(1234.0)
    elif framework == "warp":
        models = {id(model): model for model in (agent.policy, agent.value) if model is not None}  # shared: one
        for model in models.values():
            model.params.assign((rng.normal(0, 0.5, model.size)).astype(np.float32))
        scaler = agent._observation_preprocessor
        scaler.load_state_dict({"running_mean": mean, "running_variance": variance, "current_count": [1234.0]})
    else:
        import jax
        import jax.numpy as jnp

        leaves, treedef = jax.tree_util.tree_flatten(agent.params)
        keys = jax.random.split(jax.random.key(1), len(leaves))
        agent.params = jax.tree_util.tree_unflatten(
            treedef, [0.5 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)]
        )
        agent.preprocessor_states = {
            **agent.preprocessor_states,
            "observation": {
                "mean": jnp.asarray(mean, jnp.float32),
                "variance": jnp.asarray(variance, jnp.float32),
                "count": jnp.asarray(1234.0),
            },
        }


def _to(framework, array):
    if framework == "torch":
        return torch.as_tensor(array)
    if framework == "warp":
        import warp as wp

        return wp.array(array)
    import jax.numpy as jnp

    return jnp.asarray(array)


def _observation_batches(size):
    """A batch of observations per step (normal, std 3: the normaliser's clip is reached by some)."""
    return np.random.default_rng(2).normal(0, 3, (STEPS, BATCH, size)).astype(np.float32)


def _compare(agent, framework, run_exported, size, recurrent):
    """Step the agent and the exported policy side by side; some worlds end their episode at step 2 (the agent
    zeroes their state, the exported policy is fed zeros there), the rest carry their state throughout."""
    observations = _observation_batches(size)
    state_inputs, worst = None, 0.0
    ended = np.zeros(BATCH, bool)
    ended[::3] = True
    for step, obs in enumerate(observations):
        _, outputs = agent.act(_to(framework, obs), None, timestep=0, timesteps=0)
        expected = _numpy(outputs["mean_actions"])
        exported, state_inputs = run_exported(obs, state_inputs)
        worst = max(worst, float(np.abs(exported - expected).max()))
        done = ended if step == 2 else np.zeros(BATCH, bool)
        agent.record_transition(
            observations=_to(framework, obs),
            states=None,
            actions=outputs["mean_actions"],
            rewards=_to(framework, np.zeros(BATCH, np.float32)),
            next_observations=_to(framework, obs),
            next_states=None,
            terminated=_to(framework, done),
            truncated=_to(framework, np.zeros(BATCH, bool)),
            infos={},
            timestep=step,
            timesteps=STEPS,
        )
        if recurrent:
            state_inputs = {name: value * ~done[None, :, None] for name, value in state_inputs.items()}
    assert worst <= TOLERANCE, f"largest difference {worst}"
    return worst


def _numpy(array):
    return array.numpy() if hasattr(array, "numpy") and not isinstance(array, np.ndarray) else np.asarray(array)


def _onnx_runner(path):
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    state_names = [item.name for item in session.get_inputs() if item.name != "obs"]
    output_names = [item.name for item in session.get_outputs()]

    def run(obs, states):
        states = states or {
            name: np.zeros(
                (session.get_inputs()[1 + i].shape[0], BATCH, session.get_inputs()[1 + i].shape[2]), np.float32
            )
            for i, name in enumerate(state_names)
        }
        outputs = dict(zip(output_names, session.run(None, {"obs": obs, **states})))
        return outputs["actions"], {name: outputs[name.replace("_in", "_out")] for name in state_names}

    return run


def _torchscript_runner(path, graph_states):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript; the file must load
        module = torch.jit.load(path)

    def run(obs, states):
        states = states or {name: np.zeros(shape, np.float32) for name, shape in graph_states.items()}
        with torch.no_grad():
            out = module(torch.as_tensor(obs), *(torch.as_tensor(value) for value in states.values()))
        if not isinstance(out, tuple):
            return out.numpy(), {}
        return out[0].numpy(), {name: value.numpy() for name, value in zip(states, out[1:])}

    return run


@pytest.mark.parametrize("framework", ["torch", "jax"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_exported_onnx_computes_the_agents_deterministic_action(framework, case, tmp_path):
    agent_class, models = CASES[case]
    obs_space = gym.spaces.Box(-np.inf, np.inf, (5,), np.float32)
    agent = _agent(framework, agent_class, models, obs_space, gym.spaces.Box(-1, 1, (3,), np.float32))
    paths = agent.export(str(tmp_path))
    assert set(paths) == ({"onnx", "torchscript", "json"} if framework == "torch" else {"onnx", "json"})
    recurrent = agent_class == "PPO_RNN"
    _compare(agent, framework, _onnx_runner(paths["onnx"]), 5, recurrent)
    if framework == "torch":  # TorchScript, from a fresh agent in the same state
        agent = _agent(framework, agent_class, models, obs_space, gym.spaces.Box(-1, 1, (3,), np.float32))
        rnn = models["policy"].get("rnn")
        states = (
            {}
            if rnn is None
            else {
                name: (rnn["num_layers"], BATCH, rnn["hidden_size"])
                for name in (["h_in", "c_in"] if rnn["type"] == "LSTM" else ["h_in"])
            }
        )
        _compare(agent, framework, _torchscript_runner(paths["torchscript"], states), 5, recurrent)


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_clip_mean_actions_is_exported_as_the_action_bounds(framework, tmp_path):
    """The clip case's mean (4 * ACTIONS) leaves [-1, 1] for most observations: the file clamps it as the agent does."""
    agent_class, models = CASES["grammar_clip_mean_actions"]
    agent = _agent(
        framework,
        agent_class,
        models,
        gym.spaces.Box(-np.inf, np.inf, (5,), np.float32),
        gym.spaces.Box(-1, 1, (3,), np.float32),
    )
    session = onnxruntime.InferenceSession(agent.export(str(tmp_path), formats=["onnx"])["onnx"])
    exported = session.run(None, {"obs": _observation_batches(5)[0]})[0]
    assert np.abs(exported).max() == 1.0 and (np.abs(exported) == 1.0).mean() > 0.2 and (np.abs(exported) < 1.0).any()


@pytest.mark.parametrize("framework", ["torch", "jax"])
@pytest.mark.parametrize("grammar", ["old", "network"])
def test_discrete_policies_export_the_most_likely_action(framework, grammar, tmp_path):
    models = {
        **MLP,
        "policy": {"class": "CategoricalMixin", "hiddens": [16]}
        if grammar == "old"
        else {"class": "CategoricalMixin", **TWO_BLOCKS, "output": "ACTIONS - 0.5 * tanh(ACTIONS)"},
    }
    agent = _agent(framework, "PPO", models, gym.spaces.Box(-np.inf, np.inf, (4,), np.float32), gym.spaces.Discrete(3))
    session = onnxruntime.InferenceSession(agent.export(str(tmp_path), formats=["onnx"])["onnx"])
    obs = _observation_batches(4)[0]
    _, outputs = agent.act(_to(framework, obs), None, timestep=0, timesteps=0)
    exported = session.run(None, {"obs": obs})[0]
    assert exported.dtype == np.int64 and len(set(exported.tolist())) > 1
    np.testing.assert_array_equal(exported, np.asarray(outputs["mean_actions"]))


def test_both_frameworks_export_the_same_inputs_outputs_and_metadata(tmp_path):
    spec = tasks.spec("cartpole-pomdp")
    cfg = load_yaml(str(spec.agent_cfg))
    files = {}
    for framework in ("torch", "jax"):
        agent = _agent(framework, "PPO_RNN", cfg["models"], spec.single_observation_space, spec.single_action_space)
        files[framework] = agent.export(str(tmp_path / framework), formats=["onnx"], metadata=task_metadata(spec))
    described = {}
    for framework, paths in files.items():
        model = onnx.load(paths["onnx"])
        props = {entry.key: json.loads(entry.value) for entry in model.metadata_props}
        assert props == json.loads(Path(paths["json"]).read_text())  # inside the file and beside it: the same
        io = (
            [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in model.graph.input],
            [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in model.graph.output],
        )
        described[framework] = (
            io,
            {key: value for key, value in props.items() if key not in ("framework", "exported_at", "preprocessor")},
        )
        assert props["framework"] == framework and props["agent"] == "PPO_RNN"
    assert described["torch"] == described["jax"]
    io, props = described["torch"]
    assert io == (
        [("obs", ["batch", 2]), ("h_in", [1, "batch", 32])],
        [("actions", ["batch", 1]), ("h_out", [1, "batch", 32])],
    )
    assert props["task"] == "cartpole-pomdp" and props["control"]["period"] == pytest.approx(0.02)
    assert props["recurrent"]["type"] == "GRU" and props["action"]["joints"] == ["slider"]
    assert props["action"]["gear"] == [10.0] and props["observation"]["size"] == 2


# the Warp agent's models: one MLP trunk, shared or separate, the output expression folded into its layer
WARP_CASES = {
    "cartpole_shared": None,  # the task's own models section
    "separate_tanh_output": MLP,
    "grammar_2_tanh_gelu": GRAMMAR_CASES["grammar_2_tanh"][1],
}


@pytest.mark.parametrize("case", sorted(WARP_CASES))
def test_warp_agent_exports_onnx_computing_its_deterministic_action(case, tmp_path):
    spec = tasks.spec("cartpole")
    models = WARP_CASES[case] or load_yaml(str(spec.agent_cfg))["models"]
    agent = _agent("warp", "PPO", models, spec.single_observation_space, spec.single_action_space)
    assert (agent.policy is agent.value) == (case == "cartpole_shared")
    paths = agent.export(str(tmp_path), metadata=task_metadata(spec))
    assert set(paths) == {"onnx", "json"}
    _compare(agent, "warp", _onnx_runner(paths["onnx"]), 4, recurrent=False)
    with pytest.raises(
        ExportError, match=r"^--format: torchscript is for torch agents; this run's agent is warp \(export onnx\)$"
    ):
        agent.export(str(tmp_path / "ts"), formats=["torchscript"])


def test_the_warp_and_torch_agents_export_the_same_inputs_outputs_and_metadata_of_a_task(tmp_path):
    spec = tasks.spec("cartpole")
    models = load_yaml(str(spec.agent_cfg))["models"]
    described = {}
    for framework in ("torch", "warp"):  # torch's and JAX's are the same (above); JAX's compile would double the time
        agent = _agent(framework, "PPO", models, spec.single_observation_space, spec.single_action_space)
        paths = agent.export(str(tmp_path / framework), formats=["onnx"], metadata=task_metadata(spec))
        model = onnx.load(paths["onnx"])
        props = {entry.key: json.loads(entry.value) for entry in model.metadata_props}
        assert props["framework"] == framework and props["agent"] == "PPO"
        assert props["preprocessor"]["count"] == 1234.0 and props["preprocessor"]["mean"] == pytest.approx(
            np.random.default_rng(1).normal(0, 2, 4).tolist(), rel=1e-6
        )
        io = (
            [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in model.graph.input],
            [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in model.graph.output],
        )
        described[framework] = (
            io,
            {key: value for key, value in props.items() if key not in ("framework", "exported_at", "preprocessor")},
        )
    assert described["torch"] == described["warp"]
    assert described["warp"][0] == ([("obs", ["batch", 4])], [("actions", ["batch", 1])])


def _run_folder(tmp_path, framework, task="cartpole"):
    """A run folder as launch/train.py writes it, with the agent's checkpoint as best.pt."""
    spec = tasks.spec(task)
    cfg = load_yaml(str(spec.agent_cfg))
    agent = _agent(
        framework, cfg["agent"]["class"], cfg["models"], spec.single_observation_space, spec.single_action_space
    )
    run = tmp_path / f"run_{framework}"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    (run / "launch.yaml").write_text(
        yaml.safe_dump(
            {"task": task, "backend": "mjx" if framework == "jax" else "warp", "framework": framework, "seed": 42}
        )
    )
    agent.save(str(run / "checkpoints" / "best.pt"))
    return run, agent


@pytest.mark.parametrize("framework", ["torch", "jax", "warp"])
def test_export_script_exports_a_runs_checkpoint_with_the_task_metadata(framework, tmp_path):
    run, agent = _run_folder(tmp_path, framework)
    result = export_script.export_run(str(run))
    assert result["files"]["onnx"] == str(run / "exported" / "policy.onnx")
    metadata = json.loads((run / "exported" / "policy.json").read_text())
    assert metadata["task"] == "cartpole" and metadata["run"]["checkpoint"] == str(run / "checkpoints" / "best.pt")
    assert metadata["preprocessor"]["count"] == 1234.0 and metadata["simtrain_version"]
    _compare(agent, framework, _onnx_runner(result["files"]["onnx"]), 4, recurrent=False)


def test_export_errors_are_one_line(tmp_path):
    run, _ = _run_folder(tmp_path, "jax")
    with pytest.raises(ExportError, match="^--format: torchscript is for torch agents; this run's agent is jax"):
        export_script.export_run(str(run), formats=["torchscript"])
    with pytest.raises(ValueError, match="^--checkpoint: .*last.pt does not exist; choose best, last or the path"):
        export_script.export_run(str(run), "last")
    with pytest.raises(ExportError, match="^--format: 'tflite' is not allowed"):
        export_script.export_run(str(run), formats=["tflite"])
    result = run_launch_script("export", "--run", str(run), "--format", "torchscript", timeout=300)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "error: --format: torchscript is for torch agents; this run's agent is jax (export onnx)"
    )


def test_train_export_writes_each_seeds_policy_from_its_checkpoint(tmp_path):
    result = run_launch_script(
        "train",
        "--num-envs",
        "8",
        "--num-seeds",
        "2",
        "--timesteps",
        "32",
        "--headless",
        "--no-stop-when-solved",
        "--torch-threads",
        "1",
        "--runs-dir",
        str(tmp_path),
        "--export",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(summary["exported"]) == 2
    for seed, files in zip(summary["seeds"], summary["exported"]):
        folder = Path(seed["run_dir"])
        assert files == {
            "onnx": str(folder / "exported" / "policy.onnx"),
            "torchscript": str(folder / "exported" / "policy.pt"),
            "json": str(folder / "exported" / "policy.json"),
        }
        checkpoint = json.loads(Path(files["json"]).read_text())["run"]["checkpoint"]
        assert checkpoint in (str(folder / "checkpoints" / "best.pt"), str(folder / "checkpoints" / "last.pt"))
        agent, _, _ = export_script.load_agent(str(folder), Path(checkpoint).stem)
        _compare(agent, "torch", _onnx_runner(files["onnx"]), 4, recurrent=False)


@pytest.mark.parametrize(
    "source",
    [
        "OBSERVATIONS[:, 1:5:2]",
        "STATES[..., -2:] * 3 - 1",
        "concatenate([-OBSERVATIONS[:, :2], 2 / (1 + OBSERVATIONS[:, 4:])])",
        "OBSERVATIONS[:, -3:-1] + OBSERVATIONS[:, 0:2]",
        "concatenate([OBSERVATIONS[:, ::2], OBSERVATIONS]) / 4",
    ],
)
def test_the_onnx_writer_evaluates_input_expressions_as_numpy_does(source):
    """The writer's expressions on their own (no agent): a block without layers passes its input to an identity head."""
    from toolkit.export.onnx_writer import build_model
    from toolkit.export.policy_graph import Block, Dense, PolicyGraph
    from toolkit.model_grammar import parse_expression

    expr = parse_expression(source, "network[0].input", ("concatenate",))
    obs = _observation_batches(5)[0]
    expected = np.asarray(
        expr.compile({}, lambda arrays: np.concatenate(arrays, -1))({"OBSERVATIONS": obs, "STATES": obs})
    )
    size = expected.shape[1]
    graph = PolicyGraph(
        observation_size=5,
        normalizer=None,
        rnn=None,
        blocks=[Block("inputs", expr, [])],
        head=Dense(np.eye(size, dtype=np.float32), np.zeros(size, np.float32)),
        action_kind="continuous",
    )
    session = onnxruntime.InferenceSession(build_model(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"obs": obs})[0], expected, rtol=1e-6, atol=1e-6)
