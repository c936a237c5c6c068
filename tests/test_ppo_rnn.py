"""Recurrent PPO (torch): hidden states reset exactly at episode ends when acting and in the update's sequence
replay, in training and in evaluation; checkpoints; configuration errors."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
import tasks
from tests.launch_scripts import run_launch_script
from toolkit.checkpoint import CheckpointError
from toolkit.config import ConfigError
from toolkit.runner_cfg import parse_runner_cfg
from toolkit.torch import PPO, PPO_CFG, PPO_RNN, RandomMemory, Runner, build_models, build_recurrent_models

OBS = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
ACT = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
STEPS, WORLDS, LENGTH = 8, 3, 4
# episode ends (terminated or truncated) after these (step, world): inside a sequence, on the last step of a
# sequence (the next sequence's stored state must be zero), on the first step of one, and two in a row
TERMINATED = {(1, 0), (3, 1), (4, 2)}
TRUNCATED = {(5, 0), (4, 1), (5, 2)}


def _models(cell="GRU", separate=False):
    spec = {
        "separate": separate,
        "policy": {"hiddens": [8], "rnn": {"type": cell, "num_layers": 2, "hidden_size": 5, "sequence_length": LENGTH}},
        "value": {
            "class": "DeterministicMixin",
            "hiddens": [8],
            "rnn": {"type": cell, "num_layers": 1, "hidden_size": 4, "sequence_length": LENGTH},
        },
    }
    return build_recurrent_models(spec, OBS, ACT, WORLDS)


def _agent(cell="GRU", separate=False, **cfg):
    torch.manual_seed(0)
    agent = PPO_RNN(
        models=_models(cell, separate),
        memory=RandomMemory(STEPS, WORLDS),
        observation_space=OBS,
        action_space=ACT,
        cfg=PPO_CFG(rollouts=STEPS, mini_batches=2, **cfg),
    )
    agent.init(trainer_cfg={"timesteps": 0})
    return agent


def _done_mask(pattern, step):
    return torch.tensor([(step, world) in pattern for world in range(WORLDS)])


def _rollout(agent, observations):
    for step in range(STEPS):
        actions, _ = agent.act(observations[step], None, timestep=step, timesteps=STEPS)
        agent.record_transition(
            observations=observations[step],
            states=None,
            actions=actions,
            rewards=torch.ones(WORLDS),
            next_observations=observations[step + 1],
            next_states=None,
            terminated=_done_mask(TERMINATED, step),
            truncated=_done_mask(TRUNCATED, step),
            infos={},
            timestep=step,
            timesteps=STEPS,
        )


def _reference_values(model, observations):
    """Each world alone, step by step, its state zeroed after each of its episode ends."""
    values = torch.zeros(STEPS, WORLDS)
    with torch.no_grad():
        for world in range(WORLDS):
            state = model.initial_state(1)
            for step in range(STEPS):
                _, value, state = model(observations[step, world : world + 1], state)
                values[step, world] = value[0]
                if (step, world) in TERMINATED | TRUNCATED:
                    state = model.initial_state(1)
    return values


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_acting_resets_each_worlds_state_exactly_where_its_episode_ended(cell):
    agent = _agent(cell)
    observations = torch.randn(STEPS + 1, WORLDS, 3)
    _rollout(agent, observations)
    torch.testing.assert_close(agent.memory.tensors["values"], _reference_values(agent.policy, observations))
    stored = agent.memory.tensors["rnn_policy_0"]  # the state each step started from: zero right after an end
    for step in range(1, STEPS):
        for world in range(WORLDS):
            ended = (step - 1, world) in TERMINATED | TRUNCATED
            assert bool(stored[step, world].abs().sum() == 0) == ended, (step, world)


@pytest.mark.parametrize("separate", [False, True])
@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_sequence_replay_reproduces_the_rollout_and_depends_on_the_resets(cell, separate):
    agent = _agent(cell, separate)
    observations = torch.randn(STEPS + 1, WORLDS, 3)
    _rollout(agent, observations)
    batch, initial = agent._rollout_sequences()
    assert batch["observations"].shape == (STEPS // LENGTH * WORLDS, LENGTH, 3)
    with torch.no_grad():
        params, values, _ = agent._step(
            batch["observations"], {r: tuple(s.transpose(0, 1) for s in v) for r, v in initial.items()}, batch["starts"]
        )
        replayed = agent.head.log_prob(params, batch["actions"].flatten(0, 1))
        torch.testing.assert_close(replayed, batch["log_prob"].flatten(0, 1), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(values, batch["values"].flatten(0, 1), rtol=1e-5, atol=1e-5)
        # without the resets inside sequences the replay is another policy: the test sees a missing reset
        params, _, _ = agent._step(
            batch["observations"],
            {r: tuple(s.transpose(0, 1) for s in v) for r, v in initial.items()},
            torch.zeros_like(batch["starts"]),
        )
        assert not torch.allclose(agent.head.log_prob(params, batch["actions"].flatten(0, 1)), replayed, atol=1e-4)


def test_update_learns_from_sequences_and_keeps_the_next_states():
    agent = _agent()
    observations = torch.randn(STEPS + 1, WORLDS, 3)
    _rollout(agent, observations)
    before = [p.detach().clone() for p in agent.policy.parameters()]
    next_states = agent._rnn_states["policy"][0].clone()
    agent.update(timestep=STEPS, timesteps=STEPS)
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.policy.parameters()))
    torch.testing.assert_close(
        agent._rnn_states["policy"][0], next_states
    )  # an update does not touch the worlds' memory
    assert np.isfinite(agent.tracking_data["Loss / Policy loss"][-1])


def test_evaluation_resets_states_at_episode_ends_and_at_mode_switches():
    agent = _agent()
    agent.enable_training_mode(False)
    observations = torch.randn(2, WORLDS, 3)
    agent.act(observations[0], None, timestep=0, timesteps=1)
    agent.record_transition(
        observations=observations[0],
        states=None,
        actions=None,
        rewards=torch.ones(WORLDS),
        next_observations=observations[1],
        next_states=None,
        terminated=torch.tensor([True, False, False]),
        truncated=torch.tensor([False, False, True]),
        infos={},
        timestep=0,
        timesteps=1,
    )
    norms = agent._rnn_states["policy"][0].abs().sum((0, 2))
    assert norms[0] == 0 and norms[2] == 0 and norms[1] > 0
    agent.enable_training_mode(True)  # the trainer reset every world: no memory of the evaluation survives
    assert agent._states(WORLDS)["policy"][0].abs().sum() == 0


def test_specification_lists_every_state_like_skrl():
    agent = _agent("LSTM", separate=True)
    assert agent.policy.get_specification() == {"rnn": {"sequence_length": LENGTH, "sizes": [(2, WORLDS, 5)] * 2}}
    assert agent.get_specification()["rnn"]["sizes"] == [(2, WORLDS, 5), (2, WORLDS, 5), (1, WORLDS, 4), (1, WORLDS, 4)]


def test_checkpoint_round_trip_restores_networks_and_world_states(tmp_path):
    agent = _agent(value_preprocessor=None)
    observations = torch.randn(STEPS + 1, WORLDS, 3)
    _rollout(agent, observations)
    agent.update(timestep=STEPS, timesteps=STEPS)
    path = str(tmp_path / "agent.pt")
    agent.save(path)
    restored = _agent(value_preprocessor=None)
    restored.load(path)
    torch.testing.assert_close(restored._rnn_states["policy"][0], agent._rnn_states["policy"][0], rtol=0, atol=0)
    _, out = agent.act(observations[-1], None, timestep=0, timesteps=1)
    _, out_restored = restored.act(observations[-1], None, timestep=0, timesteps=1)
    torch.testing.assert_close(out["mean_actions"], out_restored["mean_actions"], rtol=0, atol=0)
    assert restored.optimizer.state_dict()["state"]
    feed_forward = PPO(models=build_models(None, OBS, ACT), memory=None, observation_space=OBS, action_space=ACT)
    with pytest.raises(CheckpointError, match="is not a simtrain torch PPO checkpoint"):
        feed_forward.load(path)


def test_recurrent_agent_checkpoint_loads_and_evaluates_on_cartpole_pomdp(tmp_path):
    env = envs.wrap_env(tasks.make("cartpole-pomdp", "warp", num_envs=8, seed=0, max_episode_steps=40), "torch")
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec("cartpole-pomdp").agent_cfg))
    cfg["trainer"].update(timesteps=64, headless=True, disable_progressbar=True, close_environment_at_exit=False)
    cfg["agent"]["experiment"].update(directory=str(tmp_path), checkpoint_interval=64)
    runner = Runner(env, cfg)
    runner.run("train")
    checkpoint = runner.agent.experiment_dir + "/checkpoints/last.pt"
    fresh = Runner(env, cfg)
    fresh.agent.load(checkpoint)
    stats = fresh.run("eval", timesteps=100)
    assert stats.episodes >= 8 and stats.mean_length > 0


def test_configuration_errors_name_the_field():
    with pytest.raises(
        ConfigError, match=r"agent.rollouts: 6 is not allowed; must be a multiple of rnn.sequence_length \(4\)"
    ):
        PPO_RNN(
            models=_models(),
            memory=RandomMemory(6, WORLDS),
            observation_space=OBS,
            action_space=ACT,
            cfg={"rollouts": 6},
        )
    with pytest.raises(
        ValueError,
        match="models: policy is a SharedModel; PPO_RNN needs models from toolkit.torch.build_recurrent_models",
    ):
        PPO_RNN(models=build_models({"separate": False}, OBS, ACT), observation_space=OBS, action_space=ACT)
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec("cartpole-pomdp").agent_cfg))
    cfg["agent"]["class"] = "PPO"
    with pytest.raises(
        ConfigError, match="models.policy.rnn: .* is not allowed; recurrent models need agent class PPO_RNN"
    ):
        parse_runner_cfg(cfg, Runner.resolve_class)
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec("cartpole-pomdp").agent_cfg))
    cfg["models"]["policy"]["rnn"]["type"] = "Transformer"
    with pytest.raises(
        ConfigError, match="models.policy.rnn.type: 'Transformer' is not allowed; choose one of RNN, GRU, LSTM"
    ):
        parse_runner_cfg(cfg, Runner.resolve_class)


def test_play_evaluates_a_recurrent_run(tmp_path):
    import json

    train = run_launch_script(
        "train",
        "--task",
        "cartpole-pomdp",
        "--num-envs",
        "8",
        "--timesteps",
        "32",
        "--headless",
        "--no-stop-when-solved",
        "--runs-dir",
        str(tmp_path),
    )
    assert train.returncode == 0, train.stderr[-2000:]
    run_dir = json.loads(train.stdout.strip().splitlines()[-1])["run_dir"]
    play = run_launch_script("play", "--run", run_dir, "--checkpoint", "last", "--episodes", "4", "--num-envs", "2")
    assert play.returncode == 0, play.stderr[-2000:]
    assert json.loads(play.stdout.strip().splitlines()[-1])["episodes"] >= 4


# ---- JAX ----


def _jax_agent(cell="GRU", separate=False, **cfg):
    import toolkit.jax as tj

    spec = {
        "separate": separate,
        "policy": {"hiddens": [8], "rnn": {"type": cell, "num_layers": 2, "hidden_size": 5, "sequence_length": LENGTH}},
        "value": {
            "class": "DeterministicMixin",
            "hiddens": [8],
            "rnn": {"type": cell, "num_layers": 1, "hidden_size": 4, "sequence_length": LENGTH},
        },
    }
    agent = tj.PPO_RNN(
        models=tj.build_recurrent_models(spec, OBS, ACT, WORLDS),
        memory=tj.RandomMemory(STEPS, WORLDS),
        observation_space=OBS,
        action_space=ACT,
        cfg=PPO_CFG(rollouts=STEPS, mini_batches=2, **cfg),
    )
    agent.init(trainer_cfg={"timesteps": 0})
    return agent


def _jax_rollout(agent, observations):
    import jax.numpy as jnp

    for step in range(STEPS):
        actions, _ = agent.act(jnp.asarray(observations[step]), None, timestep=step, timesteps=STEPS)
        agent.record_transition(
            observations=None,
            states=None,
            actions=actions,
            rewards=jnp.ones(WORLDS),
            next_observations=jnp.asarray(observations[step + 1]),
            next_states=None,
            terminated=jnp.asarray(_done_mask(TERMINATED, step).numpy()),
            truncated=jnp.asarray(_done_mask(TRUNCATED, step).numpy()),
            infos={},
            timestep=step,
            timesteps=STEPS,
        )


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_jax_acting_resets_each_worlds_state_exactly_where_its_episode_ended(cell):
    agent = _jax_agent(cell)
    observations = np.random.default_rng(0).normal(size=(STEPS + 1, WORLDS, 3)).astype(np.float32)
    _jax_rollout(agent, observations)
    rollout = agent.memory.stacked()
    model, params = agent.model, agent.params
    for world in range(WORLDS):  # each world alone, step by step, its state zeroed after each of its episode ends
        state = model.initial_state(1)
        for step in range(STEPS):
            obs = agent._normalize(agent.preprocessor_states, observations[step, world : world + 1], False)[1]
            stored = np.asarray(rollout["rnn/policy/0"][step][:, world])
            np.testing.assert_allclose(stored, np.asarray(state["policy"][0][:, 0]), atol=1e-6)
            _, _, state = model(params, obs, state)
            if (step, world) in TERMINATED | TRUNCATED:
                state = model.initial_state(1)


@pytest.mark.parametrize("separate", [False, True])
@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_jax_sequence_replay_reproduces_the_rollout_and_depends_on_the_resets(cell, separate):
    import jax
    import jax.numpy as jnp

    agent = _jax_agent(cell, separate, value_preprocessor=None, observation_preprocessor=None)
    observations = np.random.default_rng(1).normal(size=(STEPS + 1, WORLDS, 3)).astype(np.float32)
    _jax_rollout(agent, observations)
    rollout = agent.memory.stacked()
    _, batch = agent.prepare_batch(
        agent.params, agent.preprocessor_states, rollout, jnp.asarray(observations[-1]), agent.rnn_states
    )
    assert batch["observations"].shape == (STEPS // LENGTH * WORLDS, LENGTH, 3)
    states = jax.tree.map(lambda s: jnp.swapaxes(s, 0, 1), batch["rnn"])
    dist, values, _ = agent.model(agent.params, batch["observations"], states, batch["starts"])
    replayed = agent.model.head.log_prob(dist, batch["actions"].reshape(-1, 2))
    np.testing.assert_allclose(replayed, batch["log_prob"].reshape(-1), atol=1e-5)
    np.testing.assert_allclose(
        values, rollout["values"].reshape(STEPS // LENGTH, LENGTH, WORLDS).swapaxes(1, 2).reshape(-1), atol=1e-5
    )
    dist, _, _ = agent.model(agent.params, batch["observations"], states, jnp.zeros_like(batch["starts"]))
    assert not np.allclose(agent.model.head.log_prob(dist, batch["actions"].reshape(-1, 2)), replayed, atol=1e-4)
    loss, stats = agent._loss(agent.params, batch)  # a fresh policy: ratio 1, no KL
    assert float(stats[3]) == pytest.approx(0.0, abs=1e-6)


def test_jax_evaluation_resets_states_and_checkpoint_round_trip(tmp_path):
    import jax.numpy as jnp

    agent = _jax_agent()
    observations = np.random.default_rng(2).normal(size=(STEPS + 1, WORLDS, 3)).astype(np.float32)
    _jax_rollout(agent, observations)
    agent.update(timestep=STEPS, timesteps=STEPS)
    path = str(tmp_path / "agent.npz")
    agent.save(path, extra={"timestep": STEPS})
    restored = _jax_agent()
    assert restored.load(path)["timestep"] == STEPS
    np.testing.assert_array_equal(restored.rnn_states["policy"][0], agent.rnn_states["policy"][0])
    _, out = agent.act(jnp.asarray(observations[0]), None, timestep=0, timesteps=1)
    _, out_restored = restored.act(jnp.asarray(observations[0]), None, timestep=0, timesteps=1)
    np.testing.assert_array_equal(out["mean_actions"], out_restored["mean_actions"])

    restored.enable_training_mode(False)  # the trainer reset every world
    assert float(jnp.abs(restored.rnn_states["policy"][0]).sum()) == 0
    restored.act(jnp.asarray(observations[0]), None, timestep=0, timesteps=1)
    restored.record_transition(
        observations=None,
        states=None,
        actions=None,
        rewards=jnp.ones(WORLDS),
        next_observations=None,
        next_states=None,
        terminated=jnp.asarray([True, False, False]),
        truncated=jnp.asarray([False, False, True]),
        infos={},
        timestep=0,
        timesteps=1,
    )
    norms = np.abs(np.asarray(restored.rnn_states["policy"][0])).sum((0, 2))
    assert norms[0] == 0 and norms[2] == 0 and norms[1] > 0
