"""The training loop's collaborators, each alone: report cadence and loggers, checkpoint files and intervals,
preemption signals, stop conditions, the compiled path's choice and the agent registry."""

import os
import signal
from types import SimpleNamespace

import pytest

from toolkit import registry
from toolkit.config import ConfigError
from toolkit.registry import AgentEntry, entry_of, find_agent, register_agent
from toolkit.trainers.checkpointing import Checkpoints
from toolkit.trainers.compiled_path import compiled_loop
from toolkit.trainers.episode_stats import EnvLog, EpisodeStats
from toolkit.trainers.preemption import PreemptionSignals
from toolkit.trainers.reporting import Reporter
from toolkit.trainers.stats import TrainStats, any_condition, summarize


def test_reporter_reports_on_interval_boundaries_and_write_interval_zero_keeps_reports_but_no_records(capsys):
    reporter = Reporter(write_interval=8, timesteps=64, disable_progressbar=True)
    assert [step for step in range(1, 65) if reporter.due(step - 1, step, 64)] == [8, 16, 24, 32, 40, 48, 56, 64]
    assert reporter.due(3, 5, 5)  # the end is always reported
    records = []
    reporter.loggers.append(records.append)
    with reporter.window(0, 64, "train") as progress:
        progress.show(TrainStats(timestep=64, env_steps=128, mean_return=1.5))
    assert [record["timestep"] for record in records] == [64]
    assert "timestep 64/64" in capsys.readouterr().out  # headless: a plain line at the end
    silent = Reporter(write_interval=0, timesteps=640, disable_progressbar=True)
    assert silent.interval == 6 and not silent.write_records  # auto's cadence: 640 / 100
    silent.loggers.append(records.append)
    with silent.window(0, 640, "train") as progress:
        progress.show(TrainStats(timestep=6))
    assert len(records) == 1


def test_summarize_averages_the_window_and_rates_its_steps():
    import torch

    episodes = EpisodeStats()
    episodes.record({"r": torch.tensor([1.0, 3.0]), "l": torch.tensor([10.0, 30.0])}, torch.tensor([True, True]))
    log = EnvLog()
    log.record({"reward/alive": torch.tensor(2.0)})
    stats = summarize([episodes], [{"Loss": 0.5}], log, timestep=20, num_envs=2, wall_s=2.0, steps_in_window=10)
    assert (stats.mean_return, stats.mean_length, stats.episodes) == (2.0, 20.0, 2)
    assert stats.env_steps == 40 and stats.env_steps_per_s == 10.0 and stats.log == {"reward/alive": 2.0}
    assert stats.agents == [{"mean_return": 2.0, "mean_length": 20.0, "Loss": 0.5}]


def test_checkpoints_fall_on_update_boundaries_and_keep_last_and_best(tmp_path):
    checkpoints = Checkpoints(rollouts=[16, 24], checkpoint_interval=50, timesteps=1000)
    assert checkpoints.update_period == 48 and checkpoints.interval == 96  # 50 rounded up to a boundary
    assert Checkpoints([16], "auto", 320).interval == 32 and Checkpoints([16], 0, 320).interval == 0
    assert checkpoints.due(192) and not checkpoints.due(48) and checkpoints.at_update_boundary(48)

    def save(index, path, extra):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(f"{index} {extra['timestep']} {extra['mean_return']}")

    folders = [str(tmp_path / "a"), str(tmp_path / "b")]
    checkpoints.write(96, folders, [1.0, None], save)
    checkpoints.write(192, folders, [0.5, 2.0], save)
    read = lambda folder, name: open(os.path.join(folder, "checkpoints", name)).read()  # noqa: E731
    assert read(folders[0], "last.pt") == "0 192 0.5" and read(folders[0], "best.pt") == "0 96 1.0"
    assert read(folders[1], "best.pt") == "1 192 2.0"
    assert checkpoints.restored([{"timestep": 192, "mean_return": 0.5}, {"timestep": 192}]) == 192
    assert checkpoints.best_returns == [0.5, float("-inf")]


def test_preemption_signals_set_the_flag_a_second_sigint_interrupts_and_handlers_come_back():
    before = signal.getsignal(signal.SIGUSR1)
    preemption = PreemptionSignals()
    with preemption.installed():
        os.kill(os.getpid(), signal.SIGUSR1)
        assert preemption.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGUSR1) is before
    with preemption.installed():
        assert not preemption.requested  # each training call starts unrequested
    with preemption.installed(()):  # a trainer whose preemption_signals are () (launch/bench.py) takes none
        assert signal.getsignal(signal.SIGUSR1) is before


def test_stop_conditions_combine():
    assert not any_condition(None)(TrainStats())
    conditions = any_condition([lambda s: s.timestep > 10, lambda s: s.episodes > 3])
    assert conditions(TrainStats(episodes=4)) and not conditions(TrainStats(timestep=5))


class _Agent:
    pass


class _Compiled:
    def __init__(self, env, agents):
        self.agents = agents

    @staticmethod
    def unsupported_reason(env, agents, scopes):
        return env.reason

    @staticmethod
    def is_faster(env, agents):
        return env.faster


def test_the_compiled_path_is_taken_from_the_registry_where_it_applies(monkeypatch):
    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))  # this test's registration ends with it
    register_agent(AgentEntry("TestCompiledAgent", "jax", _Agent, lambda spec, env, device: {}, compiled=_Compiled))
    env = SimpleNamespace(framework="jax", reason=None, faster=True)
    agents = [_Agent()]
    assert isinstance(compiled_loop(None, env, agents, []), _Compiled)
    assert compiled_loop(False, env, agents, []) is None
    assert compiled_loop(None, SimpleNamespace(framework="jax", reason=None, faster=False), agents, []) is None
    with pytest.raises(ConfigError, match="trainer.compiled: True is not allowed; no world state"):
        compiled_loop(True, SimpleNamespace(framework="jax", reason="no world state", faster=True), agents, [])
    with pytest.raises(ConfigError, match="trainer.compiled: True is not allowed; needs an MJX env with JAX PPO"):
        compiled_loop(True, SimpleNamespace(framework="torch"), [object()], [])


def test_agents_are_found_by_name_or_dotted_class_path_and_unknown_names_list_the_registered_ones():
    ppo = find_agent("torch", "PPO")
    assert ppo.class_path == "toolkit.torch.ppo.PPO" and ppo.averages_over_ranks and not ppo.recurrent
    assert find_agent("torch", "toolkit.torch.ppo_rnn.PPO_RNN").recurrent
    assert entry_of(ppo.agent_class) is ppo
    with pytest.raises(ConfigError, match=r"agent.class: 'A2C' is not allowed; choose one of PPO, PPO_RNN"):
        find_agent("torch", "A2C")
    with pytest.raises(ConfigError, match=r"agent.class: 'toolkit.jax.ppo.PPO' is not allowed"):
        find_agent("torch", "toolkit.jax.ppo.PPO")  # another framework's class
