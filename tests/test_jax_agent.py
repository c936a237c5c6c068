"""The JAX PPO agent: same API, configuration and checkpoint contents as the torch one; it learns on MJX (its
native engine) and on gymnasium vector envs."""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import tasks
from toolkit.checkpoint import CheckpointError
from toolkit.jax import PPO, PPO_CFG, RandomMemory, Runner, RunningStandardScaler, build_models
from toolkit.jax.models import CategoricalHead, GaussianHead
from toolkit.jax.ppo import compute_gae

from .test_ppo import _reference_gae

OBS = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
ACT = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
SOLVED = tasks.spec("cartpole").solved_return


def test_gae_matches_the_reference_and_never_crosses_an_episode_end():
    rng = np.random.default_rng(1)
    rewards, values = rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=(6, 3)).astype(np.float32)
    dones = rng.random((6, 3)) < 0.3
    last_values = rng.normal(size=3).astype(np.float32)
    advantages, returns = compute_gae(
        jnp.asarray(rewards), jnp.asarray(values), jnp.asarray(dones), jnp.asarray(last_values), 0.9, 0.8
    )
    np.testing.assert_allclose(
        np.asarray(advantages), _reference_gae(rewards, values, dones, last_values, 0.9, 0.8), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(np.asarray(returns), np.asarray(advantages) + values, rtol=1e-6)


def test_distributions_are_finite_and_correct():
    mean, log_std = jnp.zeros((1, 2)), jnp.log(jnp.full((1, 2), 2.0))
    actions = jnp.asarray([[1.0, -3.0]])
    expected = sum(-0.5 * (a / 2.0) ** 2 - np.log(2.0) - 0.5 * np.log(2 * np.pi) for a in (1.0, -3.0))
    assert float(GaussianHead.log_prob((mean, log_std), actions)[0]) == pytest.approx(expected, rel=1e-5)
    log_probs = jax.nn.log_softmax(jnp.asarray([[1e4, -1e4, 0.0]]))
    assert np.isfinite(np.asarray(CategoricalHead.entropy(log_probs))).all()
    assert np.isfinite(np.asarray(CategoricalHead.log_prob(log_probs, jnp.asarray([1])))).all()


def _agent(seed=0):
    cfg = PPO_CFG(rollouts=4, observation_preprocessor=RunningStandardScaler, value_preprocessor=RunningStandardScaler)
    models = build_models(
        {"policy": {"hiddens": [8]}, "value": {"class": "DeterministicMixin", "hiddens": [8]}}, OBS, ACT
    )
    agent = PPO(models=models, memory=RandomMemory(4, 3), observation_space=OBS, action_space=ACT, cfg=cfg, seed=seed)
    agent.init(trainer_cfg={})
    return agent


def test_checkpoint_round_trip_gives_identical_actions_statistics_and_optimizer(tmp_path):
    agent = _agent()
    rng = np.random.default_rng(0)
    for step in range(4):
        obs = jnp.asarray(rng.normal(size=(3, 3)), jnp.float32)
        actions, _ = agent.act(obs, None, timestep=step, timesteps=4)
        agent.record_transition(
            observations=obs,
            states=None,
            actions=actions,
            rewards=jnp.ones(3),
            next_observations=obs,
            next_states=None,
            terminated=jnp.zeros(3, bool),
            truncated=jnp.zeros(3, bool),
            infos={},
            timestep=step,
            timesteps=4,
        )
        agent.post_interaction(timestep=step, timesteps=4)
    path = str(tmp_path / "agent.pt")
    agent.save(path, extra={"timestep": 4, "env": {"qpos": np.ones((3, 2))}})
    restored = _agent(seed=1)
    extra = restored.load(path)
    assert extra["timestep"] == 4 and extra["env"]["qpos"].shape == (3, 2)
    agent.enable_training_mode(False)
    restored.enable_training_mode(False)
    obs = jnp.asarray(rng.normal(size=(3, 3)), jnp.float32)
    np.testing.assert_array_equal(
        np.asarray(agent.act(obs, None, timestep=0, timesteps=1)[1]["mean_actions"]),
        np.asarray(restored.act(obs, None, timestep=0, timesteps=1)[1]["mean_actions"]),
    )
    assert float(restored.preprocessor_states["observation"]["count"]) == 13.0  # 1 + 4 steps x 3 worlds
    assert restored.learning_rate == agent.learning_rate
    (tmp_path / "torch.pt").write_bytes(b"PK\x03\x04 not a simtrain jax checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        restored.load(str(tmp_path / "torch.pt"))


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [False, True], ids=["step_by_step", "compiled"])
def test_jax_ppo_solves_cartpole_on_mjx(compiled, tmp_path):
    env = envs.wrap_env(tasks.make("cartpole", "mjx", num_envs=1024, seed=0), "jax")
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec("cartpole").agent_cfg))
    cfg["seed"] = 0
    cfg["agent"]["experiment"].update(directory=str(tmp_path), checkpoint_interval=0)
    cfg["trainer"].update(disable_progressbar=True, headless=True, compiled=compiled)
    stats = Runner(env, cfg).run("train", stop=lambda s: s.mean_return is not None and s.mean_return >= SOLVED)
    assert stats.mean_return >= SOLVED, f"mean return {stats.mean_return} after {stats.env_steps} env steps"


@pytest.mark.slow
def test_jax_ppo_solves_gymnasium_cartpole_through_wrap_env(tmp_path):
    vector_env = gym.make_vec(
        "CartPole-v1",
        num_envs=32,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec("cartpole").agent_cfg))
    cfg["models"]["policy"]["class"] = "CategoricalMixin"
    cfg["agent"]["rollouts"] = 64
    cfg["agent"]["experiment"].update(directory=str(tmp_path), checkpoint_interval=0)
    cfg["trainer"].update(disable_progressbar=True, headless=True, timesteps=8000)
    stats = Runner(envs.wrap_env(vector_env, "jax"), cfg).run(
        "train", stop=lambda s: s.mean_return is not None and s.mean_return >= SOLVED
    )
    assert stats.mean_return >= SOLVED, f"mean return {stats.mean_return} after {stats.env_steps} env steps"


def test_jax_agent_drives_the_warp_engine_through_dlpack(small_envs, tmp_path):
    env = envs.wrap_env(small_envs["warp"], "jax")
    observations, _ = env.reset()
    assert isinstance(observations, jax.Array)
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec("cartpole").agent_cfg))
    cfg["agent"].update(rollouts=8)
    cfg["agent"]["experiment"].update(directory=str(tmp_path), checkpoint_interval=0)
    cfg["trainer"].update(disable_progressbar=True, headless=True, timesteps=32)
    stats = Runner(env, cfg).run("train")
    assert stats.timestep == 32 and stats.episodes > 0 and "Loss / Value loss" in stats.agents[0]
