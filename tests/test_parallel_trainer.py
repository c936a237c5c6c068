"""ParallelTrainer: agents in their own processes on shared-memory tensors; failures end every process."""

import os
import signal
import threading
import time
from multiprocessing import resource_tracker

import pytest
import torch

import envs
import tasks
from toolkit.config import ConfigError
from toolkit.runner_cfg import load_yaml, parse_runner_cfg
from toolkit.torch import PPO, RandomMemory, Runner, build_models
from toolkit.trainers import ParallelTrainer, WorkerError

HEADLESS = {"headless": True, "disable_progressbar": True}


def _agent(env, worlds: int, directory, agent_cls=PPO, **overrides):
    cfg = load_yaml(str(tasks.spec("cartpole").agent_cfg))
    cfg["agent"].update(overrides)
    cfg["agent"]["experiment"].update(directory=str(directory), checkpoint_interval=0)
    parsed = parse_runner_cfg(cfg, Runner.resolve_class)
    models = build_models(parsed.models, env.observation_space, env.action_space, torch.device("cpu"))
    return agent_cls(
        models=models,
        memory=RandomMemory(parsed.agent.rollouts, worlds),
        observation_space=env.observation_space,
        action_space=env.action_space,
        cfg=parsed.agent,
    )


class FailingPPO(PPO):
    """Raises in its worker after a few steps (module level, so a spawned worker can unpickle it)."""

    def act(self, observations, states=None, *, timestep, timesteps):
        if timestep == 3:
            raise RuntimeError("act failed on purpose")
        return super().act(observations, states, timestep=timestep, timesteps=timesteps)


def _children() -> set[int]:
    """Live child processes of this process (from /proc: psutil is not a dependency). multiprocessing's resource
    tracker, which every spawn starts once and which ends with this process, is started first so that it counts
    as already there."""
    resource_tracker.ensure_running()
    me, children = str(os.getpid()), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me and fields[0] != "Z":
                children.add(int(entry))
    return children


@pytest.fixture(scope="module")
def parity_env(small_envs):
    return envs.wrap_env(small_envs["warp"], "torch")


@pytest.mark.slow
def test_two_agents_of_different_learning_rates_solve_cartpole_side_by_side(tmp_path):
    torch.manual_seed(0)
    env = envs.wrap_env(tasks.make("cartpole", "warp", num_envs=1024, seed=0), "torch")
    agents = [
        _agent(env, 512, tmp_path / "a", learning_rate=3e-4),
        _agent(env, 512, tmp_path / "b", learning_rate=1e-3),
    ]
    trainer = ParallelTrainer(env=env, agents=agents, scopes=[512, 512], cfg={"timesteps": 3200, **HEADLESS})
    try:
        stats = trainer.train(stop=lambda s: all((a["mean_return"] or 0) >= 475 for a in s.agents))
        assert all(a["mean_return"] >= 475 for a in stats.agents), stats.agents
        assert all("Loss / Policy loss" in a for a in stats.agents)  # the workers' tracked losses reach the report
        paths = trainer.write_checkpoints(trainer.timestep)
        assert trainer.eval(timesteps=50).timestep == 50
    finally:
        trainer.close()
    assert not trainer.processes
    for path, rate in zip(paths, (3e-4, 1e-3)):
        fresh = _agent(env, 512, tmp_path / "fresh", learning_rate=rate)
        assert fresh.load(path)["timestep"] == stats.timestep
        # the worker's optimizer state came with the checkpoint (the trainer's copy of the agent never stepped)
        assert fresh.optimizer.state_dict()["state"], path
        weights = dict(fresh.policy.named_parameters())
        for name, trained in agents[paths.index(path)].policy.named_parameters():
            assert torch.equal(weights[name], trained)  # parameters live in shared memory: this process sees them


def test_a_worker_that_raises_makes_train_raise_with_its_index_and_error(parity_env, tmp_path):
    before = _children()
    agents = [_agent(parity_env, 2, tmp_path), _agent(parity_env, 2, tmp_path, agent_cls=FailingPPO)]
    trainer = ParallelTrainer(env=parity_env, agents=agents, cfg={"timesteps": 64, **HEADLESS})
    with pytest.raises(WorkerError, match=r"(?s)agent 1's worker raised:.*RuntimeError: act failed on purpose"):
        trainer.train()
    assert not trainer.processes and _children() <= before


def test_a_killed_worker_makes_train_raise_within_seconds_and_leaves_no_process(parity_env, tmp_path):
    before = _children()
    trainer = ParallelTrainer(
        env=parity_env,
        agents=[_agent(parity_env, 2, tmp_path), _agent(parity_env, 2, tmp_path)],
        cfg={"timesteps": 10**7, **HEADLESS},
    )
    trainer.start()
    victim = trainer.processes[0].pid
    killed_at = []

    def kill_worker():
        killed_at.append(time.perf_counter())
        os.kill(victim, signal.SIGKILL)

    timer = threading.Timer(1.0, kill_worker)
    timer.start()
    with pytest.raises(WorkerError, match=r"agent 0's worker died \(exit code -9\)"):
        trainer.train()
    assert time.perf_counter() - killed_at[0] < 10
    timer.join()
    assert not trainer.processes and _children() <= before


def test_sigterm_checkpoints_every_agent_and_ends_the_workers(parity_env, tmp_path):
    before = _children()
    agents = [_agent(parity_env, 3, tmp_path / "a"), _agent(parity_env, 1, tmp_path / "b", learning_rate=1e-3)]
    trainer = ParallelTrainer(env=parity_env, agents=agents, scopes=[3, 1], cfg={"timesteps": 10**7, **HEADLESS})
    trainer.start()
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    stats = trainer.train()
    timer.join()
    assert trainer.preempted and stats.timestep % 16 == 0 and trainer.processes  # workers stay for a next call
    for agent in agents:
        checkpoint = os.path.join(agent.experiment_dir, "checkpoints", "last.pt")
        assert torch.load(checkpoint, weights_only=True)["extra"]["timestep"] == trainer.timestep
    # a second train() continues with the same workers; then the workers end on request
    trainer.cfg.timesteps = trainer.timestep + 16
    assert trainer.train().timestep == trainer.cfg.timesteps
    trainer.close()
    assert _children() <= before


def test_a_non_torch_env_is_refused(parity_env, tmp_path):
    class JaxEnv:
        num_envs, framework = 4, "jax"

    with pytest.raises(ConfigError, match="trainer.env.framework: 'jax' is not allowed; ParallelTrainer shares torch"):
        ParallelTrainer(env=JaxEnv(), agents=_agent(parity_env, 4, tmp_path), cfg={"close_environment_at_exit": False})
