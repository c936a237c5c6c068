"""Runner: the YAML of skrl-runner.txt loads and trains as it is; bad files are one-line errors."""

import copy
from pathlib import Path

import pytest

import envs
import tasks
from toolkit.config import ConfigError
from toolkit.runner_cfg import parse_runner_cfg, resolved_yaml
from toolkit.torch import KLAdaptiveLR, Runner, RunningStandardScaler

resolve_class = Runner.resolve_class


SKRL_YAML = Path(__file__).parent / "data" / "skrl_runner_example.yaml"  # skrl-runner.txt's YAML, verbatim


@pytest.fixture(scope="module")
def skrl_cfg():
    return Runner.load_cfg_from_yaml(str(SKRL_YAML))


def test_older_skrl_keys_translate_to_ppo_cfg_fields(skrl_cfg):
    cfg = parse_runner_cfg(copy.deepcopy(skrl_cfg), resolve_class)
    agent = cfg.agent
    assert agent.gae_lambda == 0.95 and agent.learning_rate == 3e-4 and agent.mini_batches == 1
    assert agent.observation_preprocessor is RunningStandardScaler  # "state_preprocessor" in the older files
    assert agent.learning_rate_scheduler is KLAdaptiveLR and agent.learning_rate_scheduler_kwargs == {
        "kl_threshold": 0.008
    }
    assert agent.value_clip == 0.2 and agent.rewards_shaper is None  # clip_predicted_values True, scale 1
    assert cfg.models.separate is False and cfg.models.policy.hiddens == [32, 32]
    assert cfg.trainer == {"timesteps": 1600, "environment_info": "log"}


def test_resolved_configuration_holds_every_setting_and_loads_again(skrl_cfg):
    resolved = resolved_yaml(parse_runner_cfg(copy.deepcopy(skrl_cfg), resolve_class))
    assert resolved["agent"]["gae_lambda"] == 0.95 and resolved["agent"]["mixed_precision"] is False  # a default
    assert resolved["agent"]["observation_preprocessor"] == "RunningStandardScaler"
    assert (
        resolved["trainer"]["stochastic_evaluation"] is False
        and resolved["models"]["policy"]["class"] == "GaussianMixin"
    )
    assert resolved_yaml(parse_runner_cfg(copy.deepcopy(resolved), resolve_class)) == resolved
    scaled = copy.deepcopy(skrl_cfg)
    scaled["agent"]["rewards_shaper_scale"] = 0.1
    assert resolved_yaml(parse_runner_cfg(scaled, resolve_class))["agent"]["rewards_shaper_scale"] == 0.1


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda c: c["agent"].update(learning_rat=1e-3),
            "agent.learning_rat: unknown key; allowed: experiment, rollouts",
        ),
        (lambda c: c["agent"].update(rollouts="16"), "agent.rollouts: '16' is not allowed; expected int"),
        (
            lambda c: c.pop("trainer"),
            "trainer: section is missing or not a mapping; the runner needs sections models, agent and trainer",
        ),
        (lambda c: c.update(wandb={}), "wandb: unknown section; allowed: seed, models, memory, agent, trainer"),
        (lambda c: c["models"]["policy"].update(hiddens=[32, -1]), r"models.policy.hiddens: \[32, -1\] is not allowed"),
        (
            lambda c: c["models"]["policy"].update({"class": "BetaMixin"}),
            "models.policy.class: 'BetaMixin' is not allowed; choose one of GaussianMixin",
        ),
        (
            lambda c: c["agent"].update(state_preprocessor="Scaler"),
            "agent.observation_preprocessor: 'Scaler' is not allowed; choose one of RunningStandardScaler",
        ),
        (
            lambda c: c["agent"].update(learning_rate_scheduler="Nope"),
            "agent.learning_rate_scheduler: 'Nope' is not allowed",
        ),
        (lambda c: c["agent"]["experiment"].update(write_intervall=1), "agent.experiment.write_intervall: unknown key"),
    ],
)
def test_bad_runner_files_are_one_line_errors(skrl_cfg, edit, message):
    cfg = copy.deepcopy(skrl_cfg)
    edit(cfg)
    with pytest.raises(ConfigError, match=message) as error:
        parse_runner_cfg(cfg, resolve_class)
    assert "\n" not in str(error.value)


def test_missing_or_broken_yaml_files_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file: .*nope.yaml does not exist"):
        Runner.load_cfg_from_yaml(str(tmp_path / "nope.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("agent: [1, 2\n")
    with pytest.raises(ConfigError, match="config file: .*broken.yaml is not valid YAML"):
        Runner.load_cfg_from_yaml(str(broken))


@pytest.mark.slow
def test_the_skrl_runner_yaml_trains_cartpole_as_it_is(skrl_cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # its experiment writes under ./runs
    env = envs.wrap_env(tasks.make("cartpole", "warp", num_envs=1024, seed=0), "torch")
    runner = Runner(env, copy.deepcopy(skrl_cfg))
    first = []
    runner.trainer.loggers.append(lambda m: first.append(m["mean_return"]) if not first and m["mean_return"] else None)
    stats = runner.run("train")
    assert stats.timestep == 1600
    # its settings (tanh mean, KL-adaptive rate up to 1e-2, one minibatch) learn, if less well than the task's own
    assert stats.mean_return > max(100.0, 4 * first[0]), (first[0], stats.mean_return)
