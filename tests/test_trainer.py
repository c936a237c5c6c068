"""SequentialTrainer: scopes split the worlds between agents; train, eval and stop conditions."""

import pytest
import torch

import envs
import tasks
from toolkit.config import ConfigError
from toolkit.torch import PPO, PPO_CFG, RandomMemory, RunningStandardScaler, build_models
from toolkit.trainers import SequentialTrainer


def _agent(env, tmp_path, num_envs=None, **cfg):
    models = build_models(
        {"policy": {"hiddens": [16]}, "value": {"class": "DeterministicMixin", "hiddens": [16]}},
        env.observation_space,
        env.action_space,
    )
    cfg = PPO_CFG(rollouts=8, observation_preprocessor=RunningStandardScaler, **cfg)
    cfg.experiment.directory, cfg.experiment.checkpoint_interval = str(tmp_path), 0
    return PPO(
        models=models,
        memory=RandomMemory(8, num_envs or env.num_envs),
        observation_space=env.observation_space,
        action_space=env.action_space,
        cfg=cfg,
    )


def test_scopes_give_each_agent_its_own_worlds(small_envs, tmp_path):
    env = envs.wrap_env(small_envs["warp"], "torch")
    agents = [_agent(env, tmp_path, num_envs=3), _agent(env, tmp_path, num_envs=1, mixed_precision=True)]
    trainer = SequentialTrainer(
        env=env, agents=agents, scopes=[3, 1], cfg={"timesteps": 32, "headless": True, "disable_progressbar": True}
    )
    stats = trainer.train()
    assert stats.timestep == 32 and stats.env_steps == 32 * 4
    for agent, scope in zip(agents, (3, 1)):
        assert agent.memory.get_tensor_by_name("observations").shape == (8, scope, 4)
        # the agent updated (4 rollouts of 8 steps) on observations of its own worlds only
        assert agent._observation_preprocessor.current_count == 1 + 32 * scope
    assert all("Loss / Policy loss" in agent_stats for agent_stats in stats.agents)
    assert 0.0 < stats.log["reward/alive"] <= 1.0  # the env's reward terms, averaged over the report window

    evaluation = trainer.eval()
    assert evaluation.timestep == 32 and all(agent.training for agent in agents)


def test_train_stops_when_the_stop_condition_holds_and_resumes_from_its_timestep(small_envs, tmp_path):
    env = envs.wrap_env(small_envs["warp"], "torch")
    trainer = SequentialTrainer(
        env=env, agents=_agent(env, tmp_path), cfg={"timesteps": 64, "headless": True, "disable_progressbar": True}
    )
    trainer.report_interval = 8
    stats = trainer.train(stop=lambda s: s.timestep >= 24)
    assert stats.timestep == 24 and trainer.timestep == 24
    assert trainer.train().timestep == 64


def test_scopes_that_do_not_cover_the_worlds_are_refused(small_envs, tmp_path):
    env = envs.wrap_env(small_envs["warp"], "torch")
    with pytest.raises(
        ConfigError,
        match=r"trainer.scopes: \[2, 1\] is not allowed; "
        r"expected 2 positive world counts that add up to num_envs \(4\)",
    ):
        SequentialTrainer(env=env, agents=[_agent(env, tmp_path), _agent(env, tmp_path)], scopes=[2, 1])
    with pytest.raises(ConfigError, match="trainer.timestep: unknown key"):
        SequentialTrainer(env=env, agents=_agent(env, tmp_path), cfg={"timestep": 10})


def test_nan_from_the_simulator_is_a_one_line_error(tmp_path):
    env = envs.wrap_env(tasks.make("cartpole", "warp", num_envs=2, seed=0), "torch")
    trainer = SequentialTrainer(
        env=env, agents=_agent(env, tmp_path), cfg={"timesteps": 8, "headless": True, "disable_progressbar": True}
    )
    env.unwrapped._qvel.fill_(float("nan"))
    original_reset = env.unwrapped.reset
    env.unwrapped.reset = lambda seed=None: (env.unwrapped._observations(), {})  # keep the NaN state
    try:
        with pytest.raises(
            envs.SimulationError,
            match=r"simulation: 100% of the worlds of task 'cartpole' \(2 of 2\) went NaN or inf in one update",
        ):
            trainer.train()
    finally:
        env.unwrapped.reset = original_reset
    assert torch.isfinite(env.unwrapped._qvel).all()  # the blown-up worlds were reset
