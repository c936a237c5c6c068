"""PPO parts that peers get wrong: episode boundaries in GAE, time-limit bootstrapping, distributions,
preprocessor statistics, checkpoints, configuration errors."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from toolkit.checkpoint import CheckpointError
from toolkit.config import ConfigError
from toolkit.torch import PPO, PPO_CFG, RandomMemory, RunningStandardScaler, build_models
from toolkit.torch.gae import compute_gae
from toolkit.torch.models import CategoricalHead, GaussianHead

OBS = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
ACT = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def _reference_gae(rewards, values, dones, last_values, gamma, lam):
    steps, envs = rewards.shape
    advantages = np.zeros((steps, envs))
    for env in range(envs):
        running = 0.0
        for t in reversed(range(steps)):
            next_value = last_values[env] if t == steps - 1 else values[t + 1, env]
            if dones[t, env]:
                next_value, running = 0.0, 0.0
            delta = rewards[t, env] + gamma * next_value - values[t, env]
            running = delta + gamma * lam * running
            advantages[t, env] = running
    return advantages


def test_gae_never_crosses_an_episode_end():
    rewards = torch.tensor([[1.0, 0.5], [2.0, 0.5], [3.0, 0.5], [4.0, 0.5]])
    values = torch.tensor([[0.1, 1.0], [0.2, 1.0], [0.3, 1.0], [0.4, 1.0]])
    dones = torch.tensor([[False, False], [True, False], [False, True], [False, False]])
    last_values = torch.tensor([10.0, 20.0])
    advantages, returns = compute_gae(rewards, values, dones, last_values, 0.9, 0.8)
    expected = _reference_gae(rewards.numpy(), values.numpy(), dones.numpy(), last_values.numpy(), 0.9, 0.8)
    np.testing.assert_allclose(advantages.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(returns.numpy(), expected + values.numpy(), rtol=1e-6)
    # the step that ends an episode sees only its own reward: nothing from the episode after it
    assert advantages[1, 0] == pytest.approx(2.0 - 0.2)


def _agent(cfg=None, memory_size=4, num_envs=3, separate=True):
    models = build_models(
        {"separate": separate, "policy": {"hiddens": [8]}, "value": {"class": "DeterministicMixin", "hiddens": [8]}},
        OBS,
        ACT,
    )
    cfg = PPO_CFG(rollouts=memory_size, **(cfg or {}))
    agent = PPO(
        models=models, memory=RandomMemory(memory_size, num_envs), observation_space=OBS, action_space=ACT, cfg=cfg
    )
    agent.init(trainer_cfg={"timesteps": 0})
    return agent


def test_time_limit_bootstrap_uses_the_true_final_state_only_on_truncation():
    agent = _agent({"time_limit_bootstrap": True, "discount_factor": 0.5})
    obs = torch.zeros(3, 3)
    actions, _ = agent.act(obs, None, timestep=0, timesteps=1)
    final_obs = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    next_obs = torch.full((3, 3), -3.0)  # what the worlds were reset to: must not be used
    terminated = torch.tensor([False, True, True])
    truncated = torch.tensor([True, False, True])
    agent.record_transition(
        observations=obs,
        states=None,
        actions=actions,
        rewards=torch.ones(3),
        next_observations=next_obs,
        next_states=None,
        terminated=terminated,
        truncated=truncated,
        infos={"final_obs": final_obs},
        timestep=0,
        timesteps=1,
    )
    with torch.no_grad():
        final_value = agent.value(final_obs)[0]
    stored = agent.memory.get_tensor_by_name("rewards")[0]
    assert stored[0] == pytest.approx(1.0 + 0.5 * float(final_value), rel=1e-5)
    assert stored[1] == 1.0 and stored[2] == 1.0  # terminated: no bootstrap, even when also truncated


def test_gaussian_log_prob_and_entropy_match_torch_distributions():
    mean, log_std = torch.randn(5, 2), torch.randn(5, 2) * 0.3
    actions = torch.randn(5, 2) * 3  # far outside the action bounds: the log-prob is of the sampled action
    normal = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(GaussianHead.log_prob((mean, log_std), actions), normal.log_prob(actions).sum(-1))
    torch.testing.assert_close(GaussianHead.entropy((mean, log_std)), normal.entropy().sum(-1))


def test_categorical_log_prob_and_entropy_are_finite_for_extreme_logits():
    head = CategoricalHead(4, 3)
    with torch.no_grad():
        head.logits.weight.zero_()
        head.logits.bias.copy_(torch.tensor([1e4, -1e4, 0.0]))
    with torch.no_grad():
        log_probs = head(torch.zeros(2, 4))
    for action in range(3):
        assert torch.isfinite(CategoricalHead.log_prob(log_probs, torch.full((2,), action))).all()
    assert torch.isfinite(CategoricalHead.entropy(log_probs)).all()
    assert CategoricalHead.entropy(log_probs)[0] == pytest.approx(0.0, abs=1e-6)


def test_running_standard_scaler_matches_numpy_over_batches():
    scaler = RunningStandardScaler(3, epsilon=0.0, clip_threshold=1e9)
    data = np.random.default_rng(0).normal(2.0, 3.0, (3000, 3))
    for chunk in np.split(data, 6):
        scaler.update(torch.as_tensor(chunk))
    # the scaler starts from a pseudo-count of one sample at mean 0, variance 1 (skrl's convention)
    np.testing.assert_allclose(scaler.running_mean.numpy(), data.sum(0) / 3001, rtol=1e-9)
    assert float(scaler.current_count) == 3001
    assert np.all(np.abs(scaler.running_variance.numpy() - data.var(0)) / data.var(0) < 0.01)


def _trained_agent(tmp_path):
    agent = _agent({"observation_preprocessor": RunningStandardScaler, "value_preprocessor": RunningStandardScaler})
    for step in range(4):
        obs = torch.randn(3, 3) * 2 + 1
        actions, _ = agent.act(obs, None, timestep=step, timesteps=4)
        agent.record_transition(
            observations=obs,
            states=None,
            actions=actions,
            rewards=torch.randn(3),
            next_observations=obs,
            next_states=None,
            terminated=torch.zeros(3, dtype=torch.bool),
            truncated=torch.zeros(3, dtype=torch.bool),
            infos={},
            timestep=step,
            timesteps=4,
        )
        agent.post_interaction(timestep=step, timesteps=4)
    return agent


def test_checkpoint_round_trip_gives_identical_actions_and_statistics(tmp_path):
    agent = _trained_agent(tmp_path)
    path = str(tmp_path / "agent.pt")
    agent.save(path)
    restored = _agent({"observation_preprocessor": RunningStandardScaler, "value_preprocessor": RunningStandardScaler})
    restored.load(path)
    agent.enable_training_mode(False)
    restored.enable_training_mode(False)
    obs = torch.randn(3, 3)
    _, out = agent.act(obs, None, timestep=0, timesteps=1)
    _, out_restored = restored.act(obs, None, timestep=0, timesteps=1)
    torch.testing.assert_close(out["mean_actions"], out_restored["mean_actions"], rtol=0, atol=0)
    assert (
        float(restored._observation_preprocessor.current_count)
        == float(agent._observation_preprocessor.current_count)
        > 1
    )
    assert restored.optimizer.state_dict()["state"], "optimizer moments must be restored"


def test_truncated_and_foreign_checkpoints_are_clear_errors(tmp_path):
    agent = _trained_agent(tmp_path)
    good = tmp_path / "agent.pt"
    agent.save(str(good))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="cannot be read"):
        agent.load(str(truncated))
    other_obs = gym.spaces.Box(-np.inf, np.inf, (5,), np.float32)
    other = PPO(models=build_models(None, other_obs, ACT), memory=None, observation_space=other_obs, action_space=ACT)
    with pytest.raises(CheckpointError, match=r"observation_shape \[3\]; this agent needs \[5\]"):
        other.load(str(good))


def test_agent_config_errors_name_the_key_and_what_is_allowed():
    with pytest.raises(ConfigError, match="agent.rollout: unknown key; allowed: experiment, rollouts"):
        PPO(models={"policy": None}, cfg={"rollout": 16})
    with pytest.raises(ConfigError, match="agent.learning_epochs: 'eight' is not allowed; expected int"):
        PPO(models={"policy": None}, cfg={"learning_epochs": "eight"})
    with pytest.raises(ConfigError, match=r"agent.discount_factor: 1.5 is not allowed; must be in \[0, 1\]"):
        PPO(models={"policy": None}, cfg={"discount_factor": 1.5})
    assert math.isclose(PPO_CFG().value_loss_scale, 2.5)  # skrl's defaults
