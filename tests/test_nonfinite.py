"""NaN and inf never reach the agent: a world whose physics state, observations or reward go non-finite is reset at
once and counted by source; training goes on with finite losses, and stops with one line only when more than
trainer.max_nonfinite_fraction of the worlds blew up in one update."""

import dataclasses
import json
import os

import gymnasium as gym
import jax
import numpy as np
import pytest
import torch

import envs
import tasks
from envs.convert import converter
from tasks.cartpole import mdp
from tasks.mdp_tables import ObservationGroup, ObsTerm
from toolkit.config import ConfigError

WORLDS = 8
NAN_OBSERVATION_WORLDS = (0, 3)  # their "probe" observation is NaN at every step (and at reset)
INF_REWARD_WORLD = 1  # its "probe" reward term is inf at every step
KICKED_WORLD = 2  # an infinite velocity kick: its physics blows up every other step


def _world(xp, s):
    return xp.cumsum(xp.ones_like(s.qpos[:, 0]), 0) - 1


def _probe_observation(xp, s):
    nan = (_world(xp, s) == NAN_OBSERVATION_WORLDS[0]) | (_world(xp, s) == NAN_OBSERVATION_WORLDS[1])
    return xp.where(nan[:, None], float("nan"), s.qvel[:, :1])


def _reward(xp, s):
    terms = mdp.reward(xp, s)
    return {**terms, "probe": xp.where(_world(xp, s) == INF_REWARD_WORLD, float("inf"), 0.0 * terms["alive"])}


def _kick(xp, s):
    return {}, xp.where((_world(xp, s) == KICKED_WORLD)[:, None], float("inf"), s.qvel)


EXPLODING = dataclasses.replace(
    tasks.spec("cartpole"),
    name="cartpole-exploding",
    observations=ObservationGroup(
        (
            ObsTerm("joints", lambda xp, s: xp.concatenate([s.qpos, s.qvel], axis=-1), 4),
            ObsTerm("probe", _probe_observation, 1),
        )
    ),
    single_observation_space=gym.spaces.Box(-np.inf, np.inf, (5,), np.float32),
    reward=_reward,
    advance=_kick,
    max_episode_steps=30,
)


@pytest.fixture(scope="module")
def exploding_envs():
    """The exploding cart-pole on both engines (compiled once for this module)."""
    return {backend: envs.make_engine(EXPLODING, backend, WORLDS, None, 0) for backend in envs.BACKENDS}


@pytest.mark.parametrize("backend", envs.BACKENDS)
def test_blown_up_worlds_are_reset_zeroed_and_counted_by_source(backend, exploding_envs):
    env = exploding_envs[backend]
    to_numpy, to_env = converter(env.framework, "numpy"), converter("numpy", env.framework)
    obs, _ = env.reset()
    assert np.isfinite(to_numpy(obs)).all()  # a term that is NaN on a fresh state gives zeros
    env.check_finite()
    for step in range(6):
        obs, reward, terminated, _, info = env.step(to_env(np.zeros((WORLDS, 1), np.float32)))
        for name, value in (("obs", obs), ("reward", reward), ("final_obs", info["final_obs"])):
            assert np.isfinite(to_numpy(value)).all(), (name, step)
        assert np.isfinite(to_numpy(info["episode"]["r"])).all()
        assert all(np.isfinite(float(to_numpy(value))) for value in info["log"].values())
        ended = set(np.flatnonzero(to_numpy(terminated)))
        assert {*NAN_OBSERVATION_WORLDS, INF_REWARD_WORLD} <= ended and (KICKED_WORLD in ended) == (step % 2 == 1)
    counts = env.check_finite()
    assert counts == {
        "nonfinite/worlds": 6 * 3 + 3,
        "nonfinite/fraction": 4 / WORLDS,
        "nonfinite/obs/probe": 6 * 2,
        "nonfinite/reward/probe": 6,
        "nonfinite/state/qpos": 3,
        "nonfinite/state/qvel": 3,
    }
    assert env.check_finite() == {"nonfinite/worlds": 0, "nonfinite/fraction": 0.0}  # read once, then cleared
    env.step(to_env(np.zeros((WORLDS, 1), np.float32)))
    with pytest.raises(
        envs.SimulationError,
        match=r"^simulation: 38% of the worlds of task 'cartpole-exploding' \(3 of 8\) went NaN or inf in one update, "
        r"most from obs/probe, above trainer.max_nonfinite_fraction 0.25; ",
    ):
        env.check_finite(0.25)


RUNAWAY_WORLD = 1  # its pole is kicked to a finite 1000 rad/s: exploding physics that has not gone NaN yet
RUNAWAY_SPEED, RUNAWAY_BOUND = 1000.0, 100.0


def _runaway_kick(xp, s):
    runaway = (_world(xp, s) == RUNAWAY_WORLD)[:, None] & (xp.cumsum(xp.ones_like(s.qvel), -1) == 2)
    return {}, xp.where(runaway, RUNAWAY_SPEED, s.qvel)


RUNAWAY = dataclasses.replace(
    tasks.spec("cartpole"), name="cartpole-runaway", advance=_runaway_kick, max_physics_value=RUNAWAY_BOUND
)


@pytest.mark.parametrize("backend", envs.BACKENDS)
def test_finite_physics_beyond_the_bound_counts_as_blown_up(backend):
    """Exploding physics stays finite for a few steps (go1-rough on MJX handed the agent rewards of 5.7e26, which its
    running statistics squared into inf): a |qvel| beyond max_physics_value is reset, zeroed and counted like NaN."""
    env = envs.make_engine(RUNAWAY, backend, 4, None, 0)
    to_numpy, to_env = converter(env.framework, "numpy"), converter("numpy", env.framework)
    env.reset()
    env.check_finite()
    for step in range(6):
        obs, reward, terminated, _, info = env.step(to_env(np.zeros((4, 1), np.float32)))
        for name, value in (("obs", obs), ("reward", reward), ("final_obs", info["final_obs"])):
            assert (np.abs(to_numpy(value)) <= RUNAWAY_BOUND).all(), (name, step)
        assert bool(to_numpy(terminated)[RUNAWAY_WORLD]) == (step % 2 == 1)
    assert env.check_finite() == {"nonfinite/worlds": 3, "nonfinite/fraction": 1 / 4, "nonfinite/state/qvel": 3}


def test_a_physics_bound_that_is_not_positive_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"^max_physics_value: 0 is not allowed; must be a number > 0 "):
        dataclasses.replace(RUNAWAY, max_physics_value=0)


def _runner_cfg(Runner, tmp_path, **trainer):
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec("cartpole").agent_cfg))
    cfg["agent"].update(rollouts=8)
    cfg["agent"]["experiment"].update(directory=str(tmp_path), checkpoint_interval=8, write_interval=8)
    cfg["trainer"].update(disable_progressbar=True, headless=True, timesteps=16, **trainer)
    return cfg


def _losses_finite(stats) -> bool:
    losses = {tag: value for tag, value in stats.agents[0].items() if tag.startswith("Loss")}
    return bool(losses) and all(np.isfinite(value) for value in losses.values())


def test_torch_training_on_warp_goes_on_with_finite_losses_then_stops_above_the_fraction(exploding_envs, tmp_path):
    from toolkit.torch import Runner

    env = envs.wrap_env(exploding_envs["warp"], "torch")
    runner = Runner(env, _runner_cfg(Runner, tmp_path))
    seen = []
    record = runner.agent.record_transition

    def recording(**transition):  # everything the agent is handed
        seen.append(
            all(
                bool(torch.isfinite(transition[name]).all())
                for name in ("observations", "rewards", "next_observations")
            )
        )
        seen.append(bool(torch.isfinite(transition["infos"]["final_obs"]).all()))
        return record(**transition)

    runner.agent.record_transition = recording
    stats = runner.run("train")
    assert stats.timestep == 16 and all(seen) and len(seen) == 32
    assert _losses_finite(stats)
    assert stats.log["nonfinite/obs/probe"] == 8 * 2 and stats.log["nonfinite/reward/probe"] == 8
    assert stats.log["nonfinite/fraction"] == 0.5 and stats.log["nonfinite/worlds"] >= 8 * 3

    checkpoints = tmp_path / os.listdir(tmp_path)[0] / "checkpoints"
    written = {path.name: path.read_bytes() for path in checkpoints.iterdir()}
    assert "agent_16.pt" in written
    runner.trainer.cfg.max_nonfinite_fraction = 0.25
    runner.trainer.cfg.timesteps = 32
    with pytest.raises(
        envs.SimulationError,
        match=r"task 'cartpole-exploding' .* most from obs/probe, above trainer.max_nonfinite_fraction 0.25",
    ):
        runner.run("train")
    assert {path.name: path.read_bytes() for path in checkpoints.iterdir()} == written  # nothing lost, nothing added


@pytest.mark.parametrize(
    "compiled", [pytest.param(False, marks=pytest.mark.long), True], ids=["step_by_step", "compiled"]
)  # step by step: the env's step is the one the first test checks, and the trainer's loop the Warp test's
def test_jax_training_on_mjx_goes_on_with_finite_losses_then_stops_above_the_fraction(
    compiled, exploding_envs, tmp_path
):
    from toolkit.jax import Runner

    env = envs.wrap_env(exploding_envs["mjx"], "jax")
    runner = Runner(env, _runner_cfg(Runner, tmp_path, compiled=compiled))
    stats = runner.run("train")
    assert (runner.trainer.compiled_loop is not None) == compiled
    assert stats.timestep == 16 and _losses_finite(stats)
    assert stats.log["nonfinite/obs/probe"] == 8 * 2 and stats.log["nonfinite/reward/probe"] == 8
    assert stats.log["nonfinite/fraction"] == 0.5
    assert np.isfinite(np.asarray(runner.trainer.observations)).all()
    assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(runner.agent.params))
    runner.trainer.cfg.max_nonfinite_fraction = 0.25
    runner.trainer.cfg.timesteps = 32
    with pytest.raises(envs.SimulationError, match=r"task 'cartpole-exploding' .* most from obs/probe"):
        runner.run("train")


def test_a_timestep_that_blows_up_every_world_stops_the_run_naming_the_physics(tmp_path):
    from toolkit.torch import Runner

    def huge_timestep(model):
        model.opt.timestep = 1e30

    env = envs.wrap_env(tasks.make("cartpole", "warp", num_envs=4, seed=0, edit_model=huge_timestep), "torch")
    with pytest.raises(
        envs.SimulationError,
        match=r"^simulation: 100% of the worlds of task 'cartpole' \(4 of 4\) went NaN or inf in one update, most from "
        r"state/q(pos|vel), above trainer.max_nonfinite_fraction 0.5; lower the timestep",
    ):
        Runner(env, _runner_cfg(Runner, tmp_path)).run("train")


@pytest.mark.parametrize("value", [-0.1, 1.5, True, "half"])
def test_a_fraction_outside_0_to_1_is_a_one_line_error(value, tmp_path):
    from toolkit.torch import Runner

    env = envs.wrap_env(tasks.make("cartpole", "warp", num_envs=2, seed=0), "torch")
    allowed = "expected float" if isinstance(value, (bool, str)) else "must be a fraction of the worlds between 0 and 1"
    with pytest.raises(ConfigError, match=rf"^trainer.max_nonfinite_fraction: {value!r} is not allowed; {allowed}$"):
        Runner(env, _runner_cfg(Runner, tmp_path, max_nonfinite_fraction=value))


def test_bench_times_the_check_against_the_same_worlds_without_it(tmp_path):
    from tests.launch_scripts import run_launch_script

    result = run_launch_script(
        "bench", "--backend", "warp", "--num-envs", "16", "--sim-steps", "20", "--train-timesteps", "0",
        "--no-finite-check", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["unchecked_env_steps_per_s"] > 0
    assert row["finite_check_cost"] == pytest.approx(
        row["unchecked_env_steps_per_s"] / row["sim_env_steps_per_s"] - 1, abs=2e-3
    )


def test_with_the_check_off_non_finite_values_pass_through():
    """What the bench's unchecked row times is the step without the check (and why it is on by default)."""
    env = envs.make_engine(EXPLODING, "warp", WORLDS, None, 0)
    env.finite_check = False
    env.reset()
    _, reward, *_ = env.step(torch.zeros((WORLDS, 1)))
    assert not torch.isfinite(reward[INF_REWARD_WORLD]) and env.check_finite() == {
        "nonfinite/worlds": 0,
        "nonfinite/fraction": 0.0,
    }
