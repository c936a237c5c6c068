"""A skrl Runner file as Isaac Lab ships one per task (agents/skrl_ppo_cfg.yaml, the model-instantiator grammar of
skrl 1.x/2.x) loads in both Runners with skrl's meaning for each key, and trains cartpole on both engines."""

import copy
import json
from pathlib import Path

import pytest
import torch
import yaml

import envs
import tasks
from tests.launch_scripts import run_launch_script
from toolkit.conditions import MeanReturnReached
from toolkit.model_grammar import ACTIVATIONS
from toolkit.runner_cfg import parse_runner_cfg, resolved_yaml
from toolkit.torch import Runner as TorchRunner

SKRL_YAML = Path(__file__).parent / "data" / "skrl_model_instantiator_cartpole.yaml"
SOLVED = 475.0  # cartpole's solved return


@pytest.fixture(scope="module")
def skrl_cfg():
    return TorchRunner.load_cfg_from_yaml(str(SKRL_YAML))


def _runner(framework: str):
    if framework == "torch":
        return TorchRunner
    from toolkit.jax import Runner

    return Runner


def test_every_key_takes_skrls_meaning(skrl_cfg):
    cfg = parse_runner_cfg(copy.deepcopy(skrl_cfg), TorchRunner.resolve_class)
    agent = cfg.agent
    # state_preprocessor: null (with _kwargs: null) is "no observation preprocessor"; lambda is gae_lambda
    assert (
        agent.observation_preprocessor is None
        and agent.value_preprocessor is None
        and agent.observation_preprocessor_kwargs == {}
    )
    assert (
        agent.gae_lambda == 0.95
        and agent.mini_batches == 8
        and agent.value_clip == 0.2
        and agent.rewards_shaper is None
    )
    assert agent.experiment.write_interval == "auto" and agent.experiment.checkpoint_interval == "auto"
    assert cfg.models.separate is False and cfg.models.policy.network[0]["input"] == "STATES"
    assert cfg.trainer == {"timesteps": 2400, "environment_info": "log"}


def test_the_resolved_configuration_keeps_the_newer_grammar_and_loads_again(skrl_cfg):
    resolved = resolved_yaml(parse_runner_cfg(copy.deepcopy(skrl_cfg), TorchRunner.resolve_class))
    policy = resolved["models"]["policy"]
    assert policy["network"] == skrl_cfg["models"]["policy"]["network"] and policy["output"] == "ACTIONS"
    assert "hiddens" not in policy and "output_scale" not in resolved["models"]["value"]
    assert resolved_yaml(parse_runner_cfg(copy.deepcopy(resolved), TorchRunner.resolve_class)) == resolved


@pytest.mark.parametrize("framework, backend", [("torch", "warp"), ("jax", "mjx")])
def test_auto_intervals_and_the_envs_log(skrl_cfg, small_envs, tmp_path, monkeypatch, framework, backend):
    """write_interval / checkpoint_interval auto: timesteps / 100 and / 10 (skrl's); environment_info: log puts the
    env's info["log"] (its reward terms) in each report."""
    monkeypatch.chdir(tmp_path)
    env = small_envs[backend]
    env.reset()
    cfg = copy.deepcopy(skrl_cfg)
    cfg["trainer"].update(timesteps=320, headless=True, disable_progressbar=True)
    runner = _runner(framework)(envs.wrap_env(env, framework), cfg)
    trainer = runner.trainer
    assert (
        trainer.report_interval == 3 and trainer.checkpoint_interval == 32
    )  # 320 / 100; 320 / 10 on an update boundary
    reports = []
    trainer.loggers.append(reports.append)
    stats = runner.run("train")
    assert stats.timestep == 320 and len(reports) == len(range(3, 321, 3)) + 1
    assert 0.0 < stats.log["reward/alive"] <= 1.0
    checkpoints = sorted(p.name for p in (Path(runner.agent.experiment_dir) / "checkpoints").iterdir())
    assert len([name for name in checkpoints if name.startswith("agent_")]) == 10


class _ExtraInfo:
    """An env whose info has another entry: one scalar (logged) and a per-world array (left out, as skrl does)."""

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):
        return getattr(self._env, name)

    def step(self, actions):
        observations, rewards, terminated, truncated, info = self._env.step(actions)
        info = {**info, "extras": {"bonus": torch.tensor(2.0), "per_world": torch.zeros(self._env.num_envs)}}
        return observations, rewards, terminated, truncated, info


@pytest.mark.parametrize(
    "environment_info, logged", [("extras", {"reward/alive", "bonus"}), ("episode", {"reward/alive"})]
)
def test_environment_info_names_the_info_entry_to_log(
    skrl_cfg, small_envs, tmp_path, monkeypatch, environment_info, logged
):
    monkeypatch.chdir(tmp_path)
    small_envs["warp"].reset()
    cfg = copy.deepcopy(skrl_cfg)
    cfg["agent"]["experiment"].update(write_interval=32, checkpoint_interval=0)  # one record, at the end
    cfg["trainer"].update(timesteps=32, environment_info=environment_info, headless=True, disable_progressbar=True)
    runner = TorchRunner(_ExtraInfo(envs.wrap_env(small_envs["warp"], "torch")), cfg)
    reports = []
    runner.trainer.loggers.append(reports.append)
    stats = runner.run("train")
    # besides the trainer's own counts of blown-up worlds (nonfinite/*), which every report carries
    assert {key for key in stats.log if not key.startswith("nonfinite/")} == logged and len(reports) == 1
    assert {"nonfinite/worlds", "nonfinite/fraction"} <= set(stats.log)
    if "bonus" in logged:
        assert stats.log["bonus"] == pytest.approx(2.0)


@pytest.mark.slow
@pytest.mark.parametrize("framework, backend", [("torch", "warp"), ("jax", "mjx")])
def test_the_isaac_lab_style_file_solves_cartpole(skrl_cfg, tmp_path, monkeypatch, framework, backend):
    """The file as it is (Isaac Lab's cartpole settings: 8 epochs x 8 minibatches, no preprocessors) reaches the
    solved return within its own trainer length (2400 timesteps); 256 worlds keep it short on a CPU."""
    monkeypatch.chdir(tmp_path)
    if framework == "torch":
        torch.set_num_threads(1)
    env = envs.wrap_env(tasks.make("cartpole", backend, num_envs=256, seed=0), framework)
    cfg = copy.deepcopy(skrl_cfg)
    cfg["trainer"].update(headless=True, disable_progressbar=True)
    runner = _runner(framework)(env, cfg)
    stats = runner.run("train", stop=MeanReturnReached(SOLVED))
    assert stats.mean_return >= SOLVED and stats.timestep <= 2400, (stats.timestep, stats.mean_return)


def _train_command(tmp_path, *args):
    return run_launch_script(
        "train",
        "--task",
        "cartpole",
        "--backend",
        "warp",
        "--agent-cfg",
        str(SKRL_YAML),
        "--num-envs",
        "16",
        "--headless",
        "--runs-dir",
        str(tmp_path / "runs"),
        *args,
        cwd=tmp_path,
    )


def test_train_py_takes_the_file_and_its_grammar_errors_are_one_line(tmp_path):
    result = _train_command(
        tmp_path,
        "--timesteps",
        "32",
        "--no-stop-when-solved",
        "--models.policy.network",
        "[{name: net, input: STATES, layers: [16], activations: [tanh]}]",
        "--models.policy.output",
        "2 * tanh(ACTIONS)",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    config = yaml.safe_load(
        (Path(json.loads(result.stdout.strip().splitlines()[-1])["run_dir"]) / "config.yaml").read_text()
    )
    assert (
        config["models"]["policy"]["network"][0]["layers"] == [16]
        and config["models"]["policy"]["output"] == "2 * tanh(ACTIONS)"
    )
    bad = _train_command(tmp_path, "--models.policy.output", "sin(ACTIONS)")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        "error: models.policy.output: 'sin(ACTIONS)' is not allowed; sin(...) is not a "
        "function here; allowed: " + ", ".join(ACTIVATIONS)
    )
