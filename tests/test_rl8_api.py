"""rl8-style API: TrainConfig.from_file(...).build() gives a Trainer with step(), eval() and run(stop_conditions)."""

import json
import time

import pytest
import yaml

from toolkit import ConfigError, TrainConfig, TrainStats, conditions

CONFIG = {
    "env_cls": "tasks.make",
    "env_config": {"task": "cartpole", "backend": "warp", "max_episode_steps": 30},
    "num_envs": 4,
    "model_config": {"policy": {"hiddens": [16]}, "value": {"class": "DeterministicMixin", "hiddens": [16]}},
    "horizon": 8,
    "gamma": 0.98,
    "num_sgd_iters": 2,
    "sgd_minibatch_size": 16,
    "optimizer_config": {"lr": 1e-3},
    "seed": 3,
}


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "train.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return TrainConfig.from_file(path).build()


def test_from_file_maps_rl8_fields_onto_the_agent(trainer):
    cfg = trainer.agent.cfg
    assert (cfg.rollouts, cfg.discount_factor, cfg.learning_epochs, cfg.learning_rate) == (8, 0.98, 2, 1e-3)
    assert cfg.mini_batches == 2  # 4 worlds x 8 steps / 16 samples per minibatch


def test_step_collects_one_rollout_and_updates(trainer):
    before = trainer.timestep
    stats = trainer.step()
    assert stats.timestep == before + 8 and "Loss / Policy loss" in stats.agents[0]


def test_eval_runs_one_time_limit_without_learning(trainer):
    count = float(trainer.agent._observation_preprocessor.current_count)
    stats = trainer.eval()
    assert stats.timestep == 30 and stats.episodes >= 4
    assert float(trainer.agent._observation_preprocessor.current_count) == count  # nothing learned


@pytest.mark.parametrize("name", ["timesteps", "wall_time", "mean_return", "plateau"])
def test_run_stops_on_each_condition(trainer, name):
    start = trainer.timestep
    condition = {
        "timesteps": conditions.TimestepsReached((start + 24) * 4),
        "wall_time": conditions.WallTime(0.5),
        "mean_return": conditions.HitsUpperBound("mean_return", 1.0),
        "plateau": conditions.Plateaus("timestep", patience=2, rtol=100.0),  # never improves by 100x
    }[name]
    started = time.monotonic()
    stats = trainer.run(stop_conditions=[condition], steps_per_eval=1)
    assert stats.timestep > start and "eval" in stats.agents[0]
    if name == "timesteps":
        assert stats.timestep == start + 24  # the first step that reaches it
    elif name == "wall_time":
        assert time.monotonic() - started >= 0.5
    elif name == "mean_return":
        assert stats.mean_return >= 1.0
    else:
        assert stats.timestep == start + 3 * 8  # one step sets the best, two without improvement stop


def test_plateau_needs_patience_checks_without_improvement():
    plateau = conditions.Plateaus("mean_return", patience=2, rtol=0.1)
    values = [10.0, 20.0, 21.0, 21.5, 30.0, 30.0, 30.0]
    stops = [plateau(TrainStats(mean_return=v)) for v in values]
    assert stops == [False, False, False, True, False, False, True]
    assert conditions.MeanReturnReached(5)(TrainStats(mean_return=5)) and not conditions.MeanReturnReached(5)(
        TrainStats()
    )


def test_json_files_load_and_unknown_fields_are_refused(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"env_config": {"task": "cartpole"}, "horizon": 4}))
    assert TrainConfig.from_file(path).horizon == 4
    path.write_text(json.dumps({"horizn": 4}))
    with pytest.raises(ConfigError, match="TrainConfig.horizn: unknown key; allowed: env_cls, env_config"):
        TrainConfig.from_file(path)
    with pytest.raises(
        ConfigError, match="TrainConfig.env_cls: 'nowhere.make' is not allowed; choose tasks.make, a registered task"
    ):
        TrainConfig(env_cls="nowhere.make").build()
