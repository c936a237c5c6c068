"""MJX's programs compile once per world count: jit compiles one program per placement of its inputs (committed to a
device or not), minutes each for a legged robot's step, so every array that reaches the env's step and reset and
the compiled training loop must cross into them with one placement, whichever path made it (a reset, a step, random
or agent actions, a restored checkpoint)."""

import contextlib

import jax
import numpy as np

import envs
import tasks
from envs.convert import converter, to_device
from toolkit.jax import Runner

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"  # jax.monitoring's event, once per program built


@contextlib.contextmanager
def backend_compiles():
    """The names of the programs XLA builds inside the block (persistent-cache hits included: a program per
    placement is what is counted)."""
    names = []

    def listen(event, duration, **kwargs):
        if event == BACKEND_COMPILE:
            names.append(kwargs.get("fun_name", "?"))

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield names
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def _agent_cfg(tmp_path, compiled: bool, timesteps: int) -> dict:
    cfg = Runner.load_cfg_from_yaml(str(tasks.spec("cartpole").agent_cfg))
    cfg["agent"].update(rollouts=8)
    cfg["agent"]["experiment"].update(directory=str(tmp_path), checkpoint_interval=8, write_interval=8)
    cfg["trainer"].update(disable_progressbar=True, headless=True, timesteps=timesteps, compiled=compiled)
    return cfg


def test_mjx_step_reset_and_compiled_loop_compile_once_whatever_made_their_inputs(tmp_path):
    # a world count of its own: no other test's program of this shape
    env = envs.wrap_env(tasks.make("cartpole", "mjx", num_envs=5, seed=1, max_episode_steps=30), "jax")
    raw = env.unwrapped
    host = np.zeros((5, 1), np.float32)
    with backend_compiles() as built:
        env.reset()
        env.step(host)  # numpy actions (a user, play.py)
        env.step(to_device(converter("numpy", "jax")(host), env.device))  # committed ones (bench.py's pool)
        env.reset(seed=2)
        env.step(host)
        obs = raw.load_state_dict(raw.state_dict())  # a --resume
        env.step(host)
        raw.set_state(np.zeros((5, 2)), np.zeros((5, 2)))
        env.step(host)

        stepwise = Runner(env, _agent_cfg(tmp_path / "stepwise", compiled=False, timesteps=8))
        stepwise.run("train")  # the agent's actions, a rollout and its update
        compiled = Runner(env, _agent_cfg(tmp_path / "compiled", compiled=True, timesteps=16))
        compiled.run("train")  # two iterations: the second takes the first's outputs
        paths = compiled.trainer.write_checkpoints(16)
        compiled.trainer.restore(paths)  # the worlds and the agent from a checkpoint, as --resume
        compiled.trainer.cfg.timesteps = 24
        compiled.run("train")
        stepwise.trainer.restore(paths)  # the compiled run's checkpoint, continued step by step
        stepwise.trainer.cfg.timesteps = 24
        stepwise.run("train")
    assert obs.shape == (5, 4)
    counts = {name: built.count(f"jit({name})") for name in ("functional_step", "functional_reset", "_refresh")}
    counts.update({name: built.count(f"jit({name})") for name in ("_rollout_impl", "_update_all", "update_step")})
    assert counts == {
        "functional_step": 1,
        "functional_reset": 1,
        "_refresh": 1,
        "_rollout_impl": 1,
        "_update_all": 1,
        "update_step": 1,
    }, f"each program must compile once; built: {built}"
    # one placement of the inputs, not only one XLA program: a second would trace and lower the step again
    assert raw._step_fn._cache_size() == raw._reset_fn._cache_size() == 1
    loop = compiled.trainer.compiled_loop
    assert loop._rollout._cache_size() == loop._update._cache_size() == 1
