"""The Warp agent's graph capture (agent.graph_capture): the captured path (acting, recording and every update epoch
replayed as graphs, which Warp captures on the CPU as on CUDA) learns the same parameters as launching the kernels
one by one with host decisions; its captured sequences allocate nothing and read nothing back on the host."""

import gymnasium as gym
import numpy as np
import pytest
import torch
import warp as wp

import toolkit.warp as twarp
from toolkit.warp import update_control

OBS, ACT, ENVS, ROLLOUTS = 5, 2, 8, 4
SPACES = dict(observation_space=gym.spaces.Box(-np.inf, np.inf, (OBS,)), action_space=gym.spaces.Box(-1.0, 1.0, (ACT,)))
MODELS = {
    "separate": True,
    "policy": {"class": "GaussianMixin", "hiddens": [16, 8], "hidden_activation": ["elu", "tanh"]},
    "value": {"class": "DeterministicMixin", "hiddens": [16, 8], "hidden_activation": ["elu", "tanh"]},
}
AGENT = {
    "rollouts": ROLLOUTS,
    "learning_epochs": 3,
    "mini_batches": 4,
    "learning_rate": 3e-3,
    "learning_rate_scheduler": twarp.KLAdaptiveLR,
    "learning_rate_scheduler_kwargs": {"kl_threshold": 0.002},
    "observation_preprocessor": twarp.RunningStandardScaler,
    "value_preprocessor": twarp.RunningStandardScaler,
    "random_timesteps": 2,
    "time_limit_bootstrap": True,
    "entropy_loss_scale": 0.01,
    "kl_threshold": 0.003,
}


class _DeviceOrder:
    """The capture path's minibatch orders, handed to the host path in place of numpy's permutation (the same
    shuffles, so that the two paths' updates are comparable step for step)."""

    def __init__(self, seed: int):
        self.seed, self.counter = seed, wp.zeros(2, dtype=wp.int64)

    def permutation(self, size: int) -> np.ndarray:
        order = wp.zeros(size, dtype=wp.int32)
        wp.launch(
            update_control.shuffle_order,
            dim=size,
            inputs=[self.seed, self.counter, 1, update_control.half_bits(size), size],
            outputs=[order],
        )
        wp.launch(update_control.advance, dim=1, inputs=[self.counter, 1])
        return order.numpy()


def _agent(graph_capture: bool, seed: int = 3, **cfg) -> twarp.PPO:
    models = twarp.build_models(MODELS, SPACES["observation_space"], SPACES["action_space"], "cpu", seed=seed)
    agent = twarp.PPO(
        models=models,
        memory=twarp.RandomMemory(ROLLOUTS, ENVS),
        cfg={**AGENT, **cfg, "graph_capture": graph_capture},
        seed=seed,
        **SPACES,
    )
    agent.init()
    if not graph_capture:
        agent._shuffle = _DeviceOrder(seed)
    return agent


def _train(agent: twarp.PPO, updates: int, data_seed: int = 0) -> list[dict]:
    """`updates` rollouts of random observations, rewards and episode ends, each followed by an update; returns
    what each update tracked and the parameters after it."""
    rng = np.random.default_rng(data_seed)
    history = []
    timestep = 0
    for _ in range(updates):
        for _ in range(ROLLOUTS):
            observations = torch.tensor(rng.normal(size=(ENVS, OBS)).astype(np.float32))
            actions, _ = agent.act(observations, timestep=timestep, timesteps=100)
            next_observations = torch.tensor(rng.normal(size=(ENVS, OBS)).astype(np.float32))
            agent.record_transition(
                observations=observations,
                states=None,
                actions=actions,
                rewards=torch.tensor(rng.normal(size=ENVS).astype(np.float32)),
                next_observations=next_observations,
                next_states=None,
                terminated=torch.tensor(rng.random(ENVS) < 0.1),
                truncated=torch.tensor(rng.random(ENVS) < 0.1),
                infos={"final_obs": torch.tensor(rng.normal(size=(ENVS, OBS)).astype(np.float32))},
                timestep=timestep,
                timesteps=100,
            )
            timestep += 1
        agent.tracking_data.clear()
        agent.update(timestep=timestep, timesteps=100)
        tracked = {key: float(np.mean(values)) for key, values in agent.tracking_data.items()}
        history.append({**tracked, "steps": agent.optimizer.steps, **agent.state_arrays()})
    return history


@pytest.fixture(scope="module")
def captured_history():
    agent = _agent(graph_capture=True)
    history = _train(agent, updates=3)
    assert len(agent._graphs) == 1 + ROLLOUTS + 2 + 1  # act (random, then sampled), one per slot, prepare, epoch
    return history


def test_the_captured_update_matches_the_host_decided_one(captured_history):
    host = _train(_agent(graph_capture=False), updates=3)
    for update, (captured, eager) in enumerate(zip(captured_history, host)):
        assert captured.keys() == eager.keys()
        for key, value in eager.items():
            np.testing.assert_allclose(captured[key], value, rtol=1e-5, atol=1e-6, err_msg=f"update {update}: {key}")
    # the KL early stop and the KL-adaptive learning rate took effect (the comparison covered them)
    assert host[-1]["steps"] < 3 * 3 * 4 and host[-1]["Learning / Learning rate"] != AGENT["learning_rate"]


def test_replaying_the_graphs_equals_launching_their_kernels_and_allocates_or_syncs_nothing(
    captured_history, monkeypatch
):
    agent = _agent(graph_capture=True)
    agent._graphs.capture = False  # the same sequences, launched one by one after their warm-up
    events = []

    def probe(name, original):
        def wrapped(*args, **kwargs):
            if agent._graphs.region is not None:
                events.append((name, agent._graphs.region))
            return original(*args, **kwargs)

        return wrapped

    allocator = type(wp.get_device("cpu").get_allocator())
    monkeypatch.setattr(allocator, "allocate", probe("allocation", allocator.allocate))
    for name in ("numpy", "list", "assign", "fill_"):
        monkeypatch.setattr(wp.array, name, probe(f"array.{name}", getattr(wp.array, name)))
    for name in ("synchronize", "synchronize_device", "synchronize_stream"):
        monkeypatch.setattr(wp, name, probe(name, getattr(wp, name)))
    eager = _train(agent, updates=3)
    assert not events, events[:5]
    for captured, launched in zip(captured_history, eager):
        for key, value in launched.items():
            np.testing.assert_array_equal(captured[key], value, err_msg=key)


def test_a_non_finite_loss_is_the_same_error_on_both_paths():
    messages = []
    for graph_capture in (True, False):
        agent = _agent(graph_capture)
        params = agent.value.params.numpy()
        params[-1] = np.nan  # the value head's bias
        agent.value.params.assign(params)
        with pytest.raises(Exception) as error:
            _train(agent, updates=1)
        messages.append(str(error.value).split("): ", 1)[1])  # after the agent's name (its run folder)
    assert messages[0] == messages[1] and "non-finite" in messages[0]


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1000])
def test_the_device_minibatch_order_is_a_new_permutation_every_epoch(size):
    order = _DeviceOrder(seed=5)
    first, second = order.permutation(size), order.permutation(size)
    assert sorted(first) == list(range(size)) and sorted(second) == list(range(size))
    if size >= 64:
        assert (first != second).mean() > 0.9 and (first != np.arange(size)).mean() > 0.9


def test_graph_capture_is_a_flag_of_the_agent_configuration():
    from toolkit.runner_flags import flag_paths

    assert ("agent", "graph_capture") in flag_paths()
    assert twarp.PPO_CFG().graph_capture is True
