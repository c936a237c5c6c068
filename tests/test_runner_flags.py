"""The Runner YAML's keys as tyro flags: every key (nested sections too) is one flag, values are YAML, and a flag
tyro does not know is one line naming the allowed keys."""

from dataclasses import dataclass

import tyro

from toolkit.runner_flags import apply_overrides, flag_paths, split_overrides, unknown_flag, with_override_flags


@dataclass
class _Args:
    task: str = "cartpole"


def test_every_configuration_key_is_a_flag_parsed_by_tyro_with_yaml_values():
    paths = flag_paths()
    assert len(paths) == len(set(paths))
    for path in [
        ("agent", "learning_rate"),
        ("agent", "experiment"),
        ("agent", "experiment", "write_interval"),
        ("models", "policy", "hiddens"),
        ("models", "policy", "rnn", "sequence_length"),
        ("agent", "class"),
        ("models", "policy", "class"),
        ("trainer", "compiled"),
        ("memory", "memory_size"),
        ("agent", "lambda"),
    ]:
        assert path in paths, path
    argv = [
        "--task",
        "hopper",
        "--agent.learning_rate",
        "5e-4",
        "--models.policy.hiddens=[16,16]",
        "--agent.experiment.write-interval",
        "8",
        "--agent.learning_rate_scheduler",
        "",
        "--trainer.compiled",
        "True",
    ]
    parsed, unknown = tyro.cli(with_override_flags(_Args), args=argv, return_unknown_args=True)
    args, overrides = split_overrides(parsed, _Args)
    assert unknown == [] and args == _Args(task="hopper")
    assert overrides == {
        ("agent", "learning_rate"): 5e-4,
        ("models", "policy", "hiddens"): [16, 16],
        ("agent", "experiment", "write_interval"): 8,
        ("agent", "learning_rate_scheduler"): None,
        ("trainer", "compiled"): True,
    }
    cfg = {"agent": {"experiment": {"directory": "runs"}}}
    apply_overrides(cfg, overrides)
    assert cfg["agent"]["experiment"] == {"directory": "runs", "write_interval": 8} and cfg["trainer"]["compiled"]


def test_unknown_flags_are_one_line_naming_what_is_allowed():
    assert unknown_flag("--agent.learning_rat").startswith(
        "agent.learning_rat: unknown key; allowed: experiment, rollouts"
    )
    assert unknown_flag("--agent.experiment.every=3").startswith(
        "agent.experiment.every: unknown key; allowed: directory"
    )
    assert unknown_flag("--lr").startswith("--lr: unknown flag; see --help")
    assert "agent.rollouts is not a section" in unknown_flag("--agent.rollouts.x")
