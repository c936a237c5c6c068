"""The Warp agent (toolkit.warp) against the torch agent on the same inputs and parameters: GAE, the Gaussian's
log-probability and entropy, PPO's clipped losses and their gradients, gradient clipping and Adam's step; its
checkpoints; and the env's arrays reaching it without copies."""

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import warp as wp

import envs
import toolkit.torch as ttorch
import toolkit.warp as twarp
from toolkit.config import ConfigError
from toolkit.torch.gae import compute_gae as torch_gae
from toolkit.warp import losses
from toolkit.warp.interop import as_warp

OBS, ACT = 4, 2
SPACES = dict(observation_space=gym.spaces.Box(-np.inf, np.inf, (OBS,)), action_space=gym.spaces.Box(-1.0, 1.0, (ACT,)))
MODELS = {
    "separate": False,
    "policy": {
        "class": "GaussianMixin",
        "hiddens": [16, 8],
        "hidden_activation": ["elu", "tanh"],
        "min_log_std": -1.0,
        "max_log_std": 0.5,
    },
    "value": {"class": "DeterministicMixin", "hiddens": [16, 8], "hidden_activation": ["elu", "tanh"]},
}
AGENT = {
    "rollouts": 4,
    "learning_epochs": 1,
    "mini_batches": 1,
    "learning_rate": 3e-3,
    "grad_norm_clip": 0.05,
    "ratio_clip": 0.2,
    "value_clip": 0.1,
    "entropy_loss_scale": 0.01,
    "value_loss_scale": 2.0,
}


def _close(warp_value, torch_value, atol=1e-5, rtol=1e-4):
    np.testing.assert_allclose(np.asarray(warp_value), torch_value.detach().cpu().numpy(), atol=atol, rtol=rtol)


def _torch_linears(model):
    """The torch model's layers in the Warp model's parameter order: trunk, mean head, log std, value head."""
    trunk = [m for m in model.trunk.modules() if isinstance(m, torch.nn.Linear)]
    head = getattr(model, "head", None)
    out = getattr(model, "value_out", None) or getattr(model, "out", None)
    return [*trunk, *([head.mean, head.log_std] if head is not None else []), *([out] if out is not None else [])]


def _copy_params(torch_model, warp_model):
    flat = []
    for part in _torch_linears(torch_model):
        if isinstance(part, torch.nn.Linear):
            flat += [part.weight.detach().numpy().ravel(), part.bias.detach().numpy().ravel()]
        else:
            flat.append(part.detach().numpy().ravel())
    flat = np.concatenate(flat).astype(np.float32)
    assert flat.shape == warp_model.params.shape
    warp_model.params.assign(flat)


def _torch_grads(torch_model):
    flat = []
    for part in _torch_linears(torch_model):
        tensors = [part.weight, part.bias] if isinstance(part, torch.nn.Linear) else [part]
        flat += [(t.grad if t.grad is not None else torch.zeros_like(t)).numpy().ravel() for t in tensors]
    return np.concatenate(flat)


def test_gae_matches_the_torch_agent_and_never_crosses_an_episode_end():
    rng = np.random.default_rng(0)
    steps, worlds = 9, 6
    rewards, values = (
        rng.normal(size=(steps, worlds)).astype(np.float32),
        rng.normal(size=(steps, worlds)).astype(np.float32),
    )
    dones = rng.random((steps, worlds)) < 0.2
    last = rng.normal(size=worlds).astype(np.float32)
    advantages, returns = wp.zeros((steps, worlds)), wp.zeros((steps, worlds))
    twarp.compute_gae(
        wp.array(rewards),
        wp.array(values),
        wp.array(dones.astype(np.uint8), dtype=wp.uint8),
        wp.array(last),
        0.97,
        0.9,
        advantages,
        returns,
    )
    expected_adv, expected_ret = torch_gae(
        torch.tensor(rewards), torch.tensor(values), torch.tensor(dones), torch.tensor(last), 0.97, 0.9
    )
    _close(advantages.numpy(), expected_adv)
    _close(returns.numpy(), expected_ret)
    # an episode end stops the flow: the advantage at a done step is its one-step TD error
    t, w = np.argwhere(dones[:-1])[0]
    assert advantages.numpy()[t, w] == pytest.approx(rewards[t, w] - values[t, w], abs=1e-6)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gaussian_log_prob_and_entropy_match_torch(reduction):
    rng = np.random.default_rng(1)
    batch = 7
    mean = rng.normal(size=(batch, 3)).astype(np.float32)
    actions = rng.normal(size=(batch, 3)).astype(np.float32)
    log_std = np.array([-3.0, 0.3, 1.0], np.float32)  # the first and last outside [-2, 0.8]: clamped
    head = ttorch.models.GaussianHead(4, 3, min_log_std=-2.0, max_log_std=0.8, reduction=reduction)
    head.log_std.data = torch.tensor(log_std)
    params = (torch.tensor(mean), head.log_std.clamp(-2.0, 0.8).expand(batch, 3))
    expected_log_prob = head.log_prob(params, torch.tensor(actions))
    expected_entropy = head.entropy(params)[0].detach()

    warp_params = wp.array(log_std)
    out = wp.zeros(batch)
    wp.launch(
        losses.gaussian_log_prob,
        dim=batch,
        inputs=[wp.array(mean), warp_params, 0, 1, -2.0, 0.8, int(reduction == "mean"), wp.array(actions)],
        outputs=[out],
    )
    _close(out.numpy(), expected_log_prob)
    sums, grad = wp.zeros(4), wp.zeros(3)
    wp.launch(losses.entropy_term, dim=1, inputs=[warp_params, 0, 3, 1, -2.0, 0.8, -1.0], outputs=[sums, grad])
    assert sums.numpy()[2] == pytest.approx(float(expected_entropy), rel=1e-6)
    # its gradient: one per log std inside the clamp, none for the clamped ones
    np.testing.assert_allclose(grad.numpy(), [0.0, 1.0, 0.0])


def test_sampled_actions_have_the_log_prob_of_their_distribution():
    batch = 4096
    mean = np.zeros((batch, 2), np.float32)
    params = wp.array(np.array([math.log(0.5), 0.0], np.float32))
    actions, log_prob = wp.zeros((batch, 2)), wp.zeros(batch)
    wp.launch(
        losses.gaussian_sample,
        dim=batch,
        inputs=[wp.array(mean), params, 0, 1, -20.0, 2.0, 0, wp.array([123], dtype=wp.int32), 1],
        outputs=[actions, log_prob],
    )
    sampled = actions.numpy()
    np.testing.assert_allclose(sampled.std(0), [0.5, 1.0], rtol=0.05)
    expected = (
        torch.distributions.Normal(torch.zeros(2), torch.tensor([0.5, 1.0])).log_prob(torch.tensor(sampled)).sum(-1)
    )
    _close(log_prob.numpy(), expected)


def _warp_agent(**agent_cfg):
    models = twarp.build_models(
        {**MODELS, "separate": True}, SPACES["observation_space"], SPACES["action_space"], "cpu"
    )
    return twarp.PPO(models=models, cfg={**AGENT, **agent_cfg}, **SPACES)


def _agents(separate: bool, **agent_cfg):
    torch.manual_seed(0)
    models = {**MODELS, "separate": separate}
    cfg = {**AGENT, **agent_cfg}
    torch_models = ttorch.build_models(models, SPACES["observation_space"], SPACES["action_space"])
    warp_models = twarp.build_models(models, SPACES["observation_space"], SPACES["action_space"], "cpu")
    # a trained-looking log std: one entry clamped at max_log_std (no gradient), one inside
    torch_models["policy"].head.log_std.data = torch.tensor([0.9, -0.4])
    _copy_params(torch_models["policy"], warp_models["policy"])
    if separate:
        _copy_params(torch_models["value"], warp_models["value"])
    torch_agent = ttorch.PPO(models=torch_models, cfg=cfg, **SPACES)
    warp_agent = twarp.PPO(models=warp_models, cfg=cfg, **SPACES)
    return torch_agent, warp_agent


def _minibatch(torch_agent, batch=64):
    rng = np.random.default_rng(2)
    obs = torch.tensor(rng.normal(size=(batch, OBS)).astype(np.float32))
    actions = torch.tensor(rng.normal(size=(batch, ACT)).astype(np.float32))
    with torch.no_grad():
        dist, values = torch_agent._policy_value(obs)
        log_prob = torch_agent.head.log_prob(dist, actions)
    # old log-probabilities and values away from the current ones: both clips are active for some samples
    return {
        "observations": obs,
        "actions": actions,
        "log_prob": log_prob + torch.tensor(rng.normal(scale=0.3, size=batch).astype(np.float32)),
        "advantages": torch.tensor(rng.normal(size=batch).astype(np.float32)),
        "values": values + torch.tensor(rng.normal(scale=0.2, size=batch).astype(np.float32)),
        "returns": torch.tensor(rng.normal(size=batch).astype(np.float32)),
    }


@pytest.mark.parametrize("separate", [False, True], ids=["shared", "separate"])
def test_clipped_losses_gradients_and_adam_step_match_the_torch_agent(separate):
    torch_agent, warp_agent = _agents(separate)
    mb = _minibatch(torch_agent)
    ratio = (
        torch_agent.head.log_prob(torch_agent._policy_value(mb["observations"])[0], mb["actions"]) - mb["log_prob"]
    ).exp()
    assert ((ratio < 0.8) | (ratio > 1.2)).any() and ((ratio > 0.8) & (ratio < 1.2)).any()  # the clip matters here

    for step in range(3):  # three steps: Adam's moments and bias corrections, and the clip of a larger gradient
        policy_loss, value_loss, entropy_loss, kl = torch_agent._minibatch_losses(mb)
        torch_agent.optimizer.zero_grad()
        (policy_loss + value_loss + entropy_loss).backward()
        params = [p for group in torch_agent.optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, AGENT["grad_norm_clip"])

        warp_agent.minibatch_losses({name: as_warp(value.contiguous()) for name, value in mb.items()})
        warp_agent.minibatch_backward()
        sums = warp_agent._losses.numpy()
        np.testing.assert_allclose(
            sums, [float(x.detach()) for x in (policy_loss, value_loss, entropy_loss, kl)], rtol=1e-4, atol=1e-6
        )
        norm = math.sqrt(float(warp_agent.optimizer.grad_square_sum().numpy()[0]))
        coef = min(1.0, AGENT["grad_norm_clip"] / (norm + 1e-6))
        warp_grads = (
            np.concatenate([warp_agent.policy.grad.numpy()] + ([warp_agent.value.grad.numpy()] if separate else []))
            * coef
        )
        torch_grads = np.concatenate(
            [_torch_grads(torch_agent.policy)] + ([_torch_grads(torch_agent.value)] if separate else [])
        )
        np.testing.assert_allclose(warp_grads, torch_grads, rtol=1e-3, atol=1e-6)

        torch_agent.optimizer.step()
        warp_agent.optimizer.step(AGENT["grad_norm_clip"])
        for torch_model, warp_model in ((torch_agent.policy, warp_agent.policy), (torch_agent.value, warp_agent.value)):
            flat = twarp.Model.__new__(twarp.Model)
            flat.params = wp.zeros_like(warp_model.params)
            _copy_params(torch_model, flat)
            np.testing.assert_allclose(warp_model.params.numpy(), flat.params.numpy(), rtol=1e-4, atol=1e-6)


def test_adam_matches_torch_adam_with_changing_learning_rates():
    rng = np.random.default_rng(3)
    start = rng.normal(size=50).astype(np.float32)
    torch_param = torch.nn.Parameter(torch.tensor(start))
    torch_adam = torch.optim.Adam([torch_param], lr=1e-2)
    params = wp.array(start)
    grad = wp.zeros_like(params)
    adam = twarp.Adam([{"params": params, "grad": grad}], lr=1e-2)
    for step, lr in enumerate([1e-2, 1e-2, 3e-3, 5e-2]):
        g = rng.normal(size=50).astype(np.float32) * (step + 1)
        torch_param.grad = torch.tensor(g)
        torch_adam.param_groups[0]["lr"] = adam.param_groups[0]["lr"] = lr
        torch_adam.step()
        grad.assign(g)
        adam.grad_square_sum()
        adam.step()
        _close(params.numpy(), torch_param)


def test_running_standard_scaler_matches_torch():
    rng = np.random.default_rng(4)
    torch_scaler, warp_scaler = ttorch.RunningStandardScaler(3), twarp.RunningStandardScaler(3)
    for batch in (rng.normal(2.0, 3.0, size=(100, 3)), rng.normal(-1.0, 0.5, size=(37, 3))):
        batch = batch.astype(np.float32)
        expected = torch_scaler(torch.tensor(batch), train=True)
        _close(warp_scaler(wp.array(batch), train=True).numpy(), expected)
    _close(warp_scaler(wp.array(batch), inverse=True).numpy(), torch_scaler(torch.tensor(batch), inverse=True))
    state = warp_scaler.state_dict()
    assert float(state["current_count"][0]) == pytest.approx(1 + 100 + 37)


def test_kl_adaptive_lr_follows_the_torch_rule():
    params = wp.zeros(3)
    adam = twarp.Adam([{"params": params, "grad": wp.zeros_like(params)}], lr=1e-3)
    torch_adam = torch.optim.Adam([torch.nn.Parameter(torch.zeros(3))], lr=1e-3)
    warp_scheduler, torch_scheduler = (
        twarp.KLAdaptiveLR(adam, max_lr=1e-2),
        ttorch.KLAdaptiveLR(torch_adam, max_lr=1e-2),
    )
    for kl in (0.001, 0.001, 0.05, 0.008, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0):
        warp_scheduler.step(kl)
        torch_scheduler.step(kl)
        assert adam.param_groups[0]["lr"] == pytest.approx(torch_adam.param_groups[0]["lr"])


def test_checkpoint_round_trip_is_an_npz_without_pickle(tmp_path):
    scalers = dict(observation_preprocessor=twarp.RunningStandardScaler, value_preprocessor=twarp.RunningStandardScaler)
    agent = _warp_agent(**scalers)
    agent._observation_preprocessor.update(wp.array(np.random.default_rng(5).normal(size=(20, OBS)).astype(np.float32)))
    agent.optimizer.param_groups[0]["lr"] = 7e-4
    agent.optimizer.steps = 3
    path = str(tmp_path / "agent.pt")
    agent.save(path, extra={"timestep": 48, "env": {"qpos": np.arange(3.0)}})
    with np.load(path, allow_pickle=False) as data:
        assert "policy/params" in data.files and "observation_preprocessor/current_count" in data.files
    fresh = _warp_agent(**scalers)
    extra = fresh.load(path)
    assert extra["timestep"] == 48 and np.array_equal(extra["env"]["qpos"], np.arange(3.0))
    for key, value in agent.state_arrays().items():
        np.testing.assert_array_equal(fresh.state_arrays()[key], value, err_msg=key)
    assert fresh.optimizer.param_groups[0]["lr"] == 7e-4 and fresh.optimizer.steps == 3
    obs = wp.array(np.ones((5, OBS), np.float32))
    agent.training = fresh.training = False
    np.testing.assert_array_equal(
        agent.act(obs, timestep=0, timesteps=1)[0].numpy(), fresh.act(obs, timestep=0, timesteps=1)[0].numpy()
    )


def test_unsupported_settings_are_one_line_errors_naming_torch():
    with pytest.raises(ConfigError, match=r"^agent.mixed_precision: .*--framework torch"):
        _warp_agent(mixed_precision=True)
    rnn = {**MODELS, "policy": {**MODELS["policy"], "rnn": {"type": "GRU"}}}
    with pytest.raises(ConfigError, match=r"^models.policy.rnn: .*--framework torch"):
        twarp.build_models(rnn, SPACES["observation_space"], SPACES["action_space"])
    blocks = {
        **MODELS,
        "separate": True,
        "value": {
            "class": "DeterministicMixin",
            "network": [
                {"name": "a", "input": "OBSERVATIONS", "layers": [8]},
                {"name": "b", "input": "a", "layers": [8]},
            ],
            "output": "ONE",
        },
    }
    with pytest.raises(ConfigError, match=r"^models.value.network: .*--framework torch"):
        twarp.build_models(blocks, SPACES["observation_space"], SPACES["action_space"])


def test_output_expressions_fold_into_the_output_layer():
    models = {
        **MODELS,
        "policy": {
            "class": "GaussianMixin",
            "network": [{"name": "net", "input": "OBSERVATIONS", "layers": [8], "activations": "relu"}],
            "output": "2 * tanh(ACTIONS) - 0.5",
        },
    }
    torch_models = ttorch.build_models(models, SPACES["observation_space"], SPACES["action_space"])
    warp_models = twarp.build_models(models, SPACES["observation_space"], SPACES["action_space"])
    _copy_params(torch_models["policy"], warp_models["policy"])
    obs = np.random.default_rng(6).normal(size=(5, OBS)).astype(np.float32)
    mean, _ = torch_models["policy"](torch.tensor(obs))
    _close(warp_models["policy"].forward(wp.array(obs), value=False).mean[1].numpy(), mean)


def test_the_warp_env_hands_its_arrays_to_the_agent_without_copies(small_envs):
    env = envs.wrap_env(small_envs["warp"], "torch")  # what train.py gives --framework warp
    agent = twarp.Runner(
        env,
        {
            "models": MODELS,
            "agent": {**AGENT, "observation_preprocessor": None},
            "trainer": {"timesteps": 8, "headless": True},
        },
    ).agent
    agent.init()
    observations, _ = env.reset()
    assert as_warp(observations).ptr == observations.data_ptr()  # the agent reads the env's memory
    actions, outputs = agent.act(observations, timestep=0, timesteps=8)
    assert (
        actions.data_ptr() == agent._buffer("actions", (env.num_envs, env.action_space.shape[0])).ptr
    )  # and hands its own back
    next_observations, rewards, terminated, truncated, infos = env.step(actions)
    for tensor in (rewards, terminated, truncated):
        assert as_warp(tensor).ptr == tensor.data_ptr()
    agent.record_transition(
        observations=observations,
        states=None,
        actions=actions,
        rewards=rewards,
        next_observations=next_observations,
        next_states=None,
        terminated=terminated,
        truncated=truncated,
        infos=infos,
        timestep=0,
        timesteps=8,
    )
    np.testing.assert_array_equal(agent.memory.tensors["observations"].numpy()[0], observations.numpy())
    np.testing.assert_array_equal(agent.memory.tensors["rewards"].numpy()[0], rewards.numpy())
    env.reset()


def test_the_skrl_runner_yaml_builds_a_warp_agent_that_the_rl8_trainer_steps(small_envs):
    from toolkit.runner_cfg import load_yaml
    from toolkit.trainers.stepwise import Trainer

    env = envs.wrap_env(small_envs["warp"], "torch")
    cfg = load_yaml(str(Path(__file__).parent / "data" / "skrl_runner_example.yaml"))  # skrl-runner.txt's YAML
    cfg["trainer"] = {"timesteps": 32, "headless": True, "close_environment_at_exit": False}
    agent = twarp.Runner(env, cfg).agent
    assert isinstance(agent, twarp.PPO) and agent.policy is agent.value  # the file's separate: False
    stats = Trainer(env, agent).step()  # one rollout of 16 steps and one update
    assert stats.timestep == 16 and np.isfinite(stats.agents[0]["Loss / Value loss"])
    env.reset()


def test_a_time_limit_bootstraps_with_the_value_of_the_true_final_state():
    agent = _warp_agent(time_limit_bootstrap=True, discount_factor=0.9)
    agent.memory = twarp.RandomMemory(4, 3)
    agent.init()
    rng = np.random.default_rng(7)
    observations = torch.tensor(rng.normal(size=(3, OBS)).astype(np.float32))
    final = torch.tensor(rng.normal(size=(3, OBS)).astype(np.float32))
    rewards = torch.tensor([1.0, 2.0, 3.0])
    final_values = wp.zeros(3)
    agent._values_of(as_warp(final), final_values)
    for truncated, terminated in (
        ([True, False, True], [False, False, True]),
        ([False, False, False], [True, False, False]),
    ):
        actions, _ = agent.act(observations, timestep=0, timesteps=4)
        agent.record_transition(
            observations=observations,
            states=None,
            actions=actions,
            rewards=rewards,
            next_observations=observations,
            next_states=None,
            terminated=torch.tensor(terminated),
            truncated=torch.tensor(truncated),
            infos={"final_obs": final},
            timestep=0,
            timesteps=4,
        )
        recorded = agent.memory.tensors["rewards"].numpy()[agent.memory.memory_index - 1]
        # only a truncation that is not also a termination bootstraps
        expected = rewards.numpy() + 0.9 * final_values.numpy() * (np.array(truncated) & ~np.array(terminated))
        np.testing.assert_allclose(recorded, expected, rtol=1e-6)
        dones = agent.memory.tensors["dones"].numpy()[agent.memory.memory_index - 1]
        np.testing.assert_array_equal(dones, np.array(truncated) | np.array(terminated))
