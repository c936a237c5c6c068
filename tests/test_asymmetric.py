"""Asymmetric actor-critic (skrl's `states`): a task's privileged critic group reaches the value model on both
frameworks and trainers, in memory and in the compiled MJX loop; the state preprocessor survives a checkpoint; the
policy (and what export writes) reads observations only; tasks without a critic group give states None.

The task is cartpole with a critic group of its own: the noise-free physics state and two quantities the
observations lack, 7 numbers against 4 observations, so a value model fed the observations would have the wrong
input width and fail to build or to run."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
import tasks
from envs.mjx_engine import MjxVecEnv
from envs.warp_engine import WarpVecEnv

STATE_SIZE, OBS_SIZE, WORLDS, ROLLOUTS = 7, 4, 8, 4


def _critic_states(xp, s):
    return xp.concatenate([s.qpos, s.qvel, s.qpos[:, 1:2] ** 2, xp.cos(s.qpos[:, 1:2]), s.ctrl], axis=-1)


SPEC = dataclasses.replace(
    tasks.spec("cartpole"),
    states=_critic_states,
    single_state_space=gym.spaces.Box(-np.inf, np.inf, (STATE_SIZE,), np.float32),
)


def _cfg(**trainer):
    return {
        "seed": 1,
        "models": {
            "separate": True,
            "policy": {"class": "GaussianMixin", "hiddens": [16], "hidden_activation": "elu"},
            "value": {"class": "DeterministicMixin", "hiddens": [16], "hidden_activation": "elu"},
        },
        "memory": {"class": "RandomMemory", "memory_size": -1},
        "agent": {
            "class": "PPO",
            "rollouts": ROLLOUTS,
            "learning_epochs": 2,
            "mini_batches": 2,
            "observation_preprocessor": "RunningStandardScaler",
            "state_preprocessor": "RunningStandardScaler",
            "value_preprocessor": "RunningStandardScaler",
            "experiment": {"write_interval": 0, "checkpoint_interval": 0},
        },
        "trainer": {
            "class": "SequentialTrainer",
            "timesteps": 2 * ROLLOUTS,
            "headless": True,
            "disable_progressbar": True,
            "close_environment_at_exit": False,
            **trainer,
        },
    }


@pytest.fixture(scope="module")
def warp_env():
    return envs.wrap_env(WarpVecEnv(SPEC, WORLDS, device="cpu", seed=0), "torch")


def test_the_env_hands_out_states_beside_observations(warp_env):
    env = warp_env
    assert env.state_space.shape == (STATE_SIZE,)
    obs, info = env.reset(seed=0)
    assert obs.shape == (WORLDS, OBS_SIZE) and env.state().shape == (WORLDS, STATE_SIZE)
    torch.testing.assert_close(env.state(), info["states"])
    obs, _, _, _, info = env.step(torch.zeros((WORLDS, 1)))
    assert info["states"] is env.state() and info["final_states"].shape == (WORLDS, STATE_SIZE)
    raw = env.unwrapped
    torch.testing.assert_close(env.state()[:, :2], raw._qpos)  # the critic's own terms, not the observations
    # after a restore the states are those of the restored worlds
    saved = env.state_dict()
    env.step(torch.ones((WORLDS, 1)))
    env.load_state_dict(saved)
    torch.testing.assert_close(env.state()[:, :2], torch.as_tensor(saved["qpos"]))


def test_tasks_without_a_critic_group_give_no_states():
    env = envs.wrap_env(tasks.make("cartpole", "warp", num_envs=2, device="cpu"), "torch")
    _, info = env.reset()
    assert env.state_space is None and env.state() is None and "states" not in info
    _, _, _, _, info = env.step(torch.zeros((2, 1)))
    assert env.state() is None and "final_states" not in info


def test_torch_value_model_reads_the_states_and_the_state_preprocessor_round_trips(warp_env, tmp_path):
    from toolkit.torch import Runner

    cfg = _cfg()
    cfg["agent"]["experiment"]["directory"] = str(tmp_path)
    runner = Runner(warp_env, cfg)
    agent = runner.agent
    assert agent.asymmetric
    assert agent.value.trunk[0].in_features == STATE_SIZE and agent.policy.trunk[0].in_features == OBS_SIZE
    seen = []
    agent.value.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape[-1]))
    runner.trainer.train()
    assert seen and set(seen) == {STATE_SIZE}  # acting, bootstrapping and the update all fed it states
    assert agent.memory.tensors["states"].shape == (ROLLOUTS, WORLDS, STATE_SIZE)
    scaler = agent._state_preprocessor
    assert float(scaler.current_count) > 2 * ROLLOUTS * WORLDS - 1
    path = str(tmp_path / "agent.pt")
    agent.save(path)
    assert "state_preprocessor" in torch.load(path, weights_only=True)
    other = Runner(warp_env, _cfg()).agent
    assert not torch.equal(other._state_preprocessor.running_mean, scaler.running_mean)
    other.load(path)
    for name, value in scaler.state_dict().items():
        torch.testing.assert_close(other._state_preprocessor.state_dict()[name], value)
    # eval: the policy acts on observations alone (no states needed once it is not training)
    agent.enable_training_mode(False, apply_to_models=True)
    actions, _ = agent.act(warp_env.reset()[0], None, timestep=0, timesteps=1)
    assert actions.shape == (WORLDS, 1)


def test_torch_parallel_trainer_takes_the_states(warp_env, tmp_path):
    from toolkit.torch import Runner
    from toolkit.trainers import ParallelTrainer

    cfg = _cfg()
    cfg["agent"]["experiment"]["directory"] = str(tmp_path)
    agent = Runner(warp_env, cfg).agent
    trainer_cfg = {key: value for key, value in cfg["trainer"].items() if key != "class"}
    trainer = ParallelTrainer(env=warp_env, agents=[agent], cfg=trainer_cfg)
    try:
        trainer.train()
        path = str(tmp_path / "parallel.pt")
        trainer._save_agent(0, path, {})
    finally:
        trainer.close()
    # the worker's state preprocessor saw every step's states (2 rollouts of the worlds, plus its initial count)
    saved = torch.load(path, weights_only=True)["state_preprocessor"]
    assert float(saved["current_count"]) > 2 * ROLLOUTS * WORLDS - 1


def test_shared_models_are_refused_with_a_state_space(warp_env):
    from toolkit.config import ConfigError
    from toolkit.torch import Runner

    cfg = _cfg()
    cfg["models"]["separate"] = False
    with pytest.raises(ConfigError, match="models.separate: False is not allowed for an env with a state space"):
        Runner(warp_env, cfg)


def test_ppo_rnn_keeps_a_symmetric_critic_with_a_state_space(warp_env):
    from toolkit.torch import Runner

    cfg = _cfg()
    cfg["agent"]["class"] = "PPO_RNN"
    for role in ("policy", "value"):
        cfg["models"][role]["rnn"] = {"type": "GRU", "hidden_size": 8, "sequence_length": ROLLOUTS}
    runner = Runner(warp_env, cfg)
    assert not runner.agent.asymmetric
    runner.trainer.train()


@pytest.fixture(scope="module")
def mjx_env():
    return envs.wrap_env(MjxVecEnv(SPEC, WORLDS, device="cpu", seed=0), "jax")


def test_jax_value_network_reads_the_states_step_by_step_then_compiled(mjx_env, tmp_path):
    import jax.numpy as jnp

    from toolkit.jax import Runner

    cfg = _cfg(compiled=False)
    cfg["agent"]["experiment"]["directory"] = str(tmp_path)
    cfg["trainer"]["timesteps"] = ROLLOUTS
    runner = Runner(mjx_env, cfg)
    agent, trainer = runner.agent, runner.trainer
    assert agent.asymmetric
    assert agent.params["value_trunk"][0]["w"].shape == (STATE_SIZE, 16)
    assert agent.params["policy_trunk"][0]["w"].shape == (OBS_SIZE, 16)
    # the value depends on the states, not on the observations
    obs, states = jnp.ones((2, OBS_SIZE)), jnp.ones((2, STATE_SIZE))
    value = agent.value_step(agent.params, agent.preprocessor_states, agent.inputs(obs, states))
    assert np.allclose(value, agent.value_step(agent.params, agent.preprocessor_states, agent.inputs(obs * 3, states)))
    assert not np.allclose(
        value, agent.value_step(agent.params, agent.preprocessor_states, agent.inputs(obs, states * 3))
    )
    trainer.train()  # one rollout and update step by step
    counts = [float(agent.preprocessor_states["state"]["count"])]
    from toolkit.trainers.compiled_path import compiled_loop

    trainer.cfg.timesteps = 2 * ROLLOUTS
    trainer.compiled_loop = compiled_loop(True, mjx_env, trainer.agents, trainer.scopes)
    trainer.train()  # one more in the compiled MJX loop
    counts.append(float(agent.preprocessor_states["state"]["count"]))
    assert counts[0] >= ROLLOUTS * WORLDS and counts[1] >= counts[0] + ROLLOUTS * WORLDS, counts
    assert trainer.compiled_loop is not None and trainer.states.shape == (WORLDS, STATE_SIZE)
    np.testing.assert_allclose(
        np.asarray(trainer.states), np.asarray(mjx_env.unwrapped.critic_states()), rtol=1e-6, atol=1e-6
    )
    path = str(tmp_path / "agent.pt")
    agent.save(path)
    other = Runner(mjx_env, _cfg()).agent
    other.load(path)
    for name, value in agent.preprocessor_states["state"].items():
        np.testing.assert_allclose(np.asarray(other.preprocessor_states["state"][name]), np.asarray(value))


def test_export_of_an_asymmetric_torch_agent_reads_observations_only(warp_env, tmp_path):
    import onnxruntime as ort

    from toolkit.torch import Runner

    agent = Runner(warp_env, _cfg()).agent
    agent.enable_training_mode(False, apply_to_models=True)
    paths = agent.export(str(tmp_path / "exported"), formats=("onnx",))
    session = ort.InferenceSession(paths["onnx"])
    (given,) = session.get_inputs()
    assert given.shape[-1] == OBS_SIZE
    obs = np.random.default_rng(0).normal(size=(3, OBS_SIZE)).astype(np.float32)
    expected = agent.act(torch.as_tensor(obs), None, timestep=0, timesteps=1)[1]["mean_actions"].numpy()
    np.testing.assert_allclose(session.run(None, {given.name: obs})[0], expected, rtol=1e-5, atol=1e-5)
