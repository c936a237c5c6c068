"""Faults that must lose nothing and corrupt nothing, in the library: non-finite updates and checkpoints, run
folders claimed atomically, metrics cut back on resume, non-finite actions and rewards reported, config files that
cannot run code, configuration mistakes caught before a world is built."""

import errno
import json
import os
import threading
from pathlib import Path

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import envs
from toolkit.checkpoint import NonFiniteError, atomic_copy, nonfinite_entry
from toolkit.config import ConfigError
from toolkit.run_dir import cut_metrics, new_run_dir, release_run_dir
from toolkit.train_config import TrainConfig

from . import test_jax_agent, test_ppo

ROOT = Path(__file__).resolve().parents[1]


# ---- non-finite losses, gradients and parameters (torch and JAX) ----
def _fill(agent, rewards, obs_factory):
    rng = np.random.default_rng(0)
    for step in range(4):
        obs = obs_factory(rng.normal(size=(3, 3)).astype(np.float32))
        actions, _ = agent.act(obs, None, timestep=step, timesteps=4)
        agent.record_transition(
            observations=obs,
            states=None,
            actions=actions,
            rewards=rewards,
            next_observations=obs,
            next_states=None,
            terminated=rewards != rewards,
            truncated=rewards != rewards,
            infos={},
            timestep=step,
            timesteps=4,
        )


def test_torch_update_with_a_nan_reward_stops_before_any_step_and_names_the_agent_and_the_loss():
    agent = test_ppo._agent()
    before = {name: tensor.clone() for name, tensor in agent.policy.state_dict().items()}
    _fill(agent, torch.full((3,), float("nan")), torch.as_tensor)
    with pytest.raises(
        NonFiniteError, match=r"^agent PPO \(.*\): non-finite (policy|value) loss at timestep 3; the update was stopped"
    ):
        agent.update(timestep=3, timesteps=4)
    for name, tensor in agent.policy.state_dict().items():
        assert torch.equal(tensor, before[name]), name  # no optimizer step was taken


def test_torch_update_with_a_huge_learning_rate_stops_and_no_checkpoint_holds_its_numbers(tmp_path):
    agent = test_ppo._agent({"learning_rate": 1e20, "grad_norm_clip": 0.0, "learning_epochs": 4})
    _fill(agent, torch.ones(3), torch.as_tensor)
    with pytest.raises(NonFiniteError, match="non-finite (policy loss|value loss|gradient|parameter)"):
        agent.update(timestep=3, timesteps=4)
    with torch.no_grad():
        next(agent.policy.parameters())[0] = float("inf")  # however it got there, it is never saved
    path = tmp_path / "agent_4.pt"
    with pytest.raises(NonFiniteError, match=f"non-finite value in policy.*; checkpoint {path} was not written"):
        agent.save(str(path))
    assert not path.exists() and not list(tmp_path.iterdir())  # no temporary file left either


def test_jax_update_with_a_nan_reward_keeps_the_last_good_parameters_and_names_the_loss():
    agent = test_jax_agent._agent()
    before = [np.asarray(leaf) for leaf in jax.tree.leaves(agent.params)]
    _fill(agent, jnp.full((3,), jnp.nan), jnp.asarray)
    with pytest.raises(NonFiniteError, match=r"^agent PPO \(.*\): non-finite (policy|value) loss at timestep 3"):
        agent.update(timestep=3, timesteps=4)
    after = [np.asarray(leaf) for leaf in jax.tree.leaves(agent.params)]
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)


def test_jax_update_with_a_huge_learning_rate_stops_and_its_checkpoint_is_refused(tmp_path):
    from toolkit.jax import PPO, PPO_CFG, RandomMemory, build_models

    cfg = PPO_CFG(rollouts=4, learning_rate=1e20, grad_norm_clip=0.0, learning_epochs=4)
    models = build_models(
        {"policy": {"hiddens": [8]}, "value": {"class": "DeterministicMixin", "hiddens": [8]}},
        test_jax_agent.OBS,
        test_jax_agent.ACT,
    )
    agent = PPO(
        models=models,
        memory=RandomMemory(4, 3),
        observation_space=test_jax_agent.OBS,
        action_space=test_jax_agent.ACT,
        cfg=cfg,
    )
    agent.init(trainer_cfg={})
    _fill(agent, jnp.ones(3), jnp.asarray)
    with pytest.raises(NonFiniteError, match="non-finite (policy loss|value loss|gradient|parameter) at timestep 3"):
        agent.update(timestep=3, timesteps=4)
    assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(agent.params))  # the last good ones
    agent.params = jax.tree.map(lambda x: x * jnp.nan, agent.params)
    with pytest.raises(NonFiniteError, match="checkpoint .* was not written"):
        agent.save(str(tmp_path / "agent.pt"))
    assert not list(tmp_path.iterdir())


def test_nonfinite_entry_names_the_first_bad_array():
    assert (
        nonfinite_entry({"a": np.ones(2), "b": {"c": [torch.zeros(1), torch.tensor([1.0, float("inf")])]}}) == "b.c.1"
    )
    assert nonfinite_entry({"rng": torch.zeros(4, dtype=torch.uint8), "x": 1.0, "y": jnp.ones(3)}) is None


# ---- checkpoints on a failing disk ----
def test_a_failed_copy_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    source, target = tmp_path / "agent_8.pt", tmp_path / "last.pt"
    source.write_bytes(b"new")
    target.write_bytes(b"old")
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    atomic_copy(str(source), str(target))
    assert target.read_bytes() == b"new" and synced  # flushed to disk before the rename

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    target.write_bytes(b"old")
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        atomic_copy(str(source), str(target))
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["agent_8.pt", "last.pt"]


# ---- run folders ----
def test_runs_started_in_the_same_second_each_claim_their_own_folder(tmp_path):
    claimed, start = [], threading.Barrier(8)

    def claim():
        start.wait()
        claimed.append(new_run_dir(str(tmp_path), "cartpole", "same-name"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(claimed)) == 8 and all(os.path.isdir(path) for path in claimed)


def test_an_unwritable_runs_dir_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"^--runs-dir: '.*file' is not allowed; cannot create a run folder in it \("):
        new_run_dir(str(tmp_path / "file"), "cartpole", "x")


def test_a_released_run_folder_is_removed_only_while_it_holds_no_results(tmp_path):
    early = Path(new_run_dir(str(tmp_path), "cartpole", "early"))
    (early / "config.yaml").write_text("{}")
    (early / "checkpoints").mkdir()
    assert release_run_dir(str(early)) and not early.exists()
    trained = Path(new_run_dir(str(tmp_path), "cartpole", "trained"))
    (trained / "metrics.jsonl").write_text("{}\n")
    assert not release_run_dir(str(trained)) and trained.exists()


def test_metrics_are_cut_back_to_the_checkpoint_and_a_torn_last_line_is_dropped(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [json.dumps({"timestep": step}) for step in (16, 32, 48, 64)]
    path.write_text("\n".join(rows) + '\n{"timestep": 8')
    assert cut_metrics(str(path), 32) == 3
    assert [json.loads(line)["timestep"] for line in path.read_text().splitlines()] == [16, 32]


# ---- non-finite actions and rewards reach no simulator silently ----
def test_nan_actions_are_counted_and_reported(small_envs):
    env = envs.wrap_env(small_envs["warp"], "torch")
    env.reset()
    actions = torch.zeros(env.num_envs, *env.action_space.shape)
    actions[:2] = float("nan")
    for _ in range(3):
        env.step(actions)
    with pytest.raises(envs.SimulationError, match=r"^actions: 6 world-steps were given NaN or inf actions"):
        env.check_finite()
    env.check_finite()  # counted once


def test_a_gymnasium_env_whose_reward_is_nan_is_reported():
    def make():
        return gym.wrappers.TransformReward(gym.make("CartPole-v1"), lambda reward: float("nan"))

    vector_env = gym.vector.SyncVectorEnv([make, make], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    env = envs.wrap_env(vector_env, "torch")
    env.reset(seed=0)
    env.step(torch.zeros(2, dtype=torch.long))
    with pytest.raises(envs.SimulationError, match=r"^simulation: 2 world-steps of task .* produced NaN or inf"):
        env.check_finite()


def test_the_readme_gymnasium_example_runs_and_the_wrap_env_advice_is_the_same():
    readme = (ROOT / "README.md").read_text()
    call = readme[readme.index('gym.make_vec("CartPole-v1"') :]
    call = call[: call.index("`")]
    env = envs.wrap_env(eval(call, {"gym": gym}), "torch")
    assert env.num_envs == 32
    with pytest.raises(ValueError, match="vectorization_mode='sync', vector_kwargs=") as error:
        envs.wrap_env(gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync"))
    advice = str(error.value)[str(error.value).index("gymnasium.make_vec") :].replace("gymnasium.", "gym.")
    env = envs.wrap_env(eval(advice.replace("id, num_envs", "'CartPole-v1', 2"), {"gym": gym}), "torch")
    assert env.num_envs == 2


# ---- rl8 TrainConfig: a file names an env factory, never code ----
def test_train_config_env_cls_runs_no_arbitrary_import_path(monkeypatch):
    import subprocess

    called = []
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: called.append(args))
    with pytest.raises(ConfigError, match=r"^TrainConfig.env_cls: 'subprocess.run' is not allowed; choose tasks.make"):
        TrainConfig(env_cls="subprocess.run", env_config={"args": ["true"]}).build()
    assert not called
    trainer = TrainConfig(env_cls="CartPole-v1", num_envs=4, horizon=8).build()
    assert trainer.env.num_envs == 4
    trainer = TrainConfig(
        env_cls=lambda num_envs: gym.make_vec(
            "CartPole-v1",
            num_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        ),
        num_envs=2,
    ).build()
    assert trainer.env.num_envs == 2


# ---- configuration mistakes that used to surface only once the env was built ----
@pytest.mark.parametrize(
    "agent, message",
    [
        (
            {"learning_rate_scheduler": "KLAdaptiveLR", "learning_rate_scheduler_kwargs": {"kl_treshold": 0.01}},
            "agent.learning_rate_scheduler_kwargs.kl_treshold: unknown key of KLAdaptiveLR; allowed: kl_threshold",
        ),
        (
            {"experiment": {"write_interval": -1}},
            "agent.experiment.write_interval: -1 is not allowed; must be 'auto' or >= 0",
        ),
        ({"experiment": 5}, "agent.experiment: int is not allowed; expected a mapping"),
        ({"learning_rate": 1e39}, "agent.learning_rate: 1e+39 is not allowed; must be > 0 and finite in float32"),
    ],
)
def test_agent_configuration_mistakes_are_one_line_errors(agent, message):
    from toolkit.runner_cfg import parse_runner_cfg
    from toolkit.torch import Runner

    with pytest.raises(ConfigError) as error:
        parse_runner_cfg({"models": {}, "agent": agent, "trainer": {}}, Runner.resolve_class)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
