"""Mistakes that break or slow the CUDA paths, caught on the CPU: a tensor a term makes on the host, a host read in
the torch step loop, an implicit upload in the compiled MJX loop, actions handed over on another device."""

import contextlib
import json
import os

import jax
import numpy as np
import pytest
import torch

import envs
import tasks
from envs.finite_check import FiniteCheck
from envs.mdp_step import evaluate_step
from tests.launch_scripts import run_launch_script
from toolkit.jax import Runner as JaxRunner
from toolkit.torch import Runner as TorchRunner
from toolkit.trainers.episode_stats import EnvLog, EpisodeStats

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _meta(tensor: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(tensor, device="meta")


@pytest.mark.parametrize("task", tasks.names())
def test_task_terms_make_their_tensors_on_the_state_device(task):
    """Every term evaluated on tensors of the 'meta' device: a term that builds a tensor on the CPU (which on CUDA
    fails, or copies every step) or reads a value on the host (.item(), float()) raises here."""
    env = tasks.make(task, "warp", num_envs=2)
    spec = env.task

    class MetaFields:
        def __getattr__(self, name):
            return _meta(getattr(env._fields, name))

    def meta(value):
        if isinstance(value, dict):
            return {key: meta(item) for key, item in value.items()}
        return _meta(value) if isinstance(value, torch.Tensor) else value

    state = env._state()
    state = state._replace(
        **{name: meta(getattr(state, name)) for name in state._fields if name not in ("data", "before")},
        data=MetaFields(),
        before=None,
    )
    if spec.tracked is not None:
        state = state._replace(before=spec.tracked(torch, state))
    if spec.advance is not None:
        task_state, kicked_qvel = spec.advance(torch, state)
        assert kicked_qvel is None or kicked_qvel.device.type == "meta"
        state = state._replace(task=task_state)
    result = evaluate_step(
        torch,
        spec,
        state,
        torch.zeros(2, device="meta"),
        torch.zeros(2, dtype=torch.int32, device="meta"),
        FiniteCheck(spec),
    )
    for name in ("obs", "reward", "terminated", "truncated", "nonfinite", "nonfinite_sources"):
        assert getattr(result, name).device.type == "meta", name
    assert all(value.device.type == "meta" for value in result.log.values())
    uniform = torch.empty((2, spec.reset_uniforms), device="meta")
    if spec.finish_reset is not None:
        assert all(x.device.type == "meta" for x in spec.finish_reset(torch, state.qpos, state.qvel, uniform))
    if spec.reset_state is not None:
        assert all(x.device.type == "meta" for x in spec.reset_state(torch, uniform).values())


@contextlib.contextmanager
def _host_reads_raise():
    """torch.Tensor's ways of reading a value on the host raise (what set_sync_debug_mode('error') does on CUDA)."""

    def refuse(name):
        def method(self, *args, **kwargs):
            raise AssertionError(f"Tensor.{name}() in the step loop: on CUDA it waits for the device")

        return method

    names = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__")
    saved = {name: getattr(torch.Tensor, name) for name in names}
    try:
        for name in names:
            setattr(torch.Tensor, name, refuse(name))
        yield
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)


def _runner(Runner, env, tmp_path, **trainer):
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec("cartpole").agent_cfg))
    cfg["agent"]["experiment"].update(directory=str(tmp_path), checkpoint_interval=0)
    cfg["trainer"].update(headless=True, disable_progressbar=True, timesteps=cfg["agent"]["rollouts"], **trainer)
    runner = Runner(env, cfg)
    runner.run("train")  # warm-up: compiled, allocated, one update done
    return runner


def test_torch_step_loop_never_reads_the_device_on_the_host(small_envs, tmp_path):
    """A rollout of act, MuJoCo Warp's step and record, as SequentialTrainer runs it, with host reads refused."""
    env = envs.wrap_env(small_envs["warp"], "torch")
    runner = _runner(TorchRunner, env, tmp_path)
    agent, observations = runner.agent, runner.trainer.observations
    episodes, env_log = EpisodeStats(), EnvLog()
    with _host_reads_raise():
        for timestep in range(40):  # episodes of 30 steps: resets happen inside
            agent.pre_interaction(timestep=timestep, timesteps=100)
            actions, _ = agent.act(observations, None, timestep=timestep, timesteps=100)
            next_observations, rewards, terminated, truncated, infos = env.step(actions)
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
                timestep=timestep,
                timesteps=100,
            )
            episodes.record(infos["episode"], infos["_episode"])
            env_log.record(infos["log"])
            observations = next_observations
    assert episodes.flush() > 0


def test_compiled_mjx_loop_uploads_nothing_from_the_host(small_envs, tmp_path):
    """Iterations of the compiled rollout-and-update loop under JAX's transfer guard: a Python number handed to a
    program or an eager indexing (which uploads its index) raises here as on a GPU."""
    env = envs.wrap_env(small_envs["mjx"], "jax")
    runner = _runner(JaxRunner, env, tmp_path, compiled=True)
    compiled, observations = runner.trainer.compiled_loop, runner.trainer.observations
    rollouts = compiled.rollouts
    episodes, env_log = [EpisodeStats()], EnvLog()
    with jax.transfer_guard_host_to_device("disallow"):
        for iteration in range(1, 4):
            observations = compiled.iteration(observations, iteration * rollouts, 4 * rollouts, episodes, env_log)
    assert episodes[0].flush() > 0 and env_log.flush()


def test_warp_env_moves_actions_to_its_device(small_envs):
    """Actions made elsewhere (numpy, a tensor on another device) are moved, not refused or read as garbage."""
    env = small_envs["warp"]
    env.reset(seed=0)
    from_numpy = env.step(np.zeros((env.num_envs, 1), np.float32))[0].clone()
    env.reset(seed=0)
    from_torch = env.step(torch.zeros((env.num_envs, 1)))[0]
    assert torch.equal(from_numpy, from_torch)


@pytest.mark.slow
def test_gpu_check_runs_its_checks_on_the_cpu(tmp_path):
    """The GPU check's driver and checks, on the CPU with few worlds (on CUDA they add the sync debug mode, the
    captured graphs and NCCL); one JSON object per check and a non-zero exit on failure."""
    out = tmp_path / "checks.jsonl"
    completed = run_launch_script(
        "gpu_check",
        "--device",
        "cpu",
        "--num-envs",
        "8",
        "--tasks",
        "cartpole",
        "--steps",
        "3",
        "--jobs",
        "2",
        "--checks",
        "step",
        "warp_graph",
        "warp_agent_graph",
        "sync_free_rollout",
        "transfer_guard",
        "--out",
        str(out),
        timeout=1200,
        env=dict(os.environ, WANDB_MODE="offline"),
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = [json.loads(line) for line in out.read_text().splitlines()]
    checks = {"environment", "step", "warp_graph", "warp_agent_graph", "sync_free_rollout", "transfer_guard"}
    assert {r["check"] for r in results} == checks
    assert all(r["ok"] for r in results) and len(results) == 7
    assert "6 passed, 0 failed" in completed.stdout
    bad = run_launch_script("gpu_check", "--checks", "nope", timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: --checks: 'nope'")
