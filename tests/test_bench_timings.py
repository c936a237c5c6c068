"""launch/bench.py's timings: how many steps run before each (the warm-ups, and what is refused), and the task
layer's cost measured inside the env's own steps."""

import time
import types

import pytest

import envs
import envs.warp_engine
import tasks

from .launch_scripts import load_launch_script

bench = load_launch_script("bench")


def _steps_at_each_clock_read(monkeypatch, env) -> list[int]:
    """The env's step count each time the bench reads its clock (the timing's start and end)."""
    steps, reads = [0], []
    step = env.step

    def counted(actions):
        steps[0] += 1
        return step(actions)

    monkeypatch.setattr(env, "step", counted)
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: reads.append(steps[0]) or len(reads)))
    return reads


def test_raw_timing_starts_after_its_warmup_steps(monkeypatch, small_envs):
    env = envs.wrap_env(small_envs["warp"], "torch")
    reads = _steps_at_each_clock_read(monkeypatch, env)
    bench.sim_rate(env, 5, warmup=2)
    assert reads == [2, 7]


def test_training_timing_starts_after_its_warmup_steps(monkeypatch, small_envs):
    env = envs.wrap_env(small_envs["warp"], "torch")
    reads = _steps_at_each_clock_read(monkeypatch, env)
    bench.train_rate(env, "cartpole", 16, framework="torch", warmup=3)
    assert reads == [3, 19]  # 3 steps of warm-up, then the 16 timed (their rollout's update among them)
    env = envs.wrap_env(small_envs["warp"], "torch")
    reads = _steps_at_each_clock_read(monkeypatch, env)
    bench.train_rate(env, "cartpole", 16, framework="torch")
    assert reads == [16, 32]  # default: a warm-up as long as the timing


class _WorldBuilt(Exception):
    pass


def test_a_warmup_that_would_time_a_compile_is_one_line_before_any_world(monkeypatch):
    def make(*args, **kwargs):
        raise _WorldBuilt

    monkeypatch.setattr(tasks, "make", make)
    with pytest.raises(ValueError, match=r"^--warmup-steps: 0 is not allowed; must be at least 1"):
        bench.parse(["--warmup-steps", "0"])
    with pytest.raises(ValueError, match=r"^--train-warmup: 0 is not allowed; must be at least 1"):
        bench.parse(["--train-warmup", "0"])
    rollouts = bench._rollouts(bench.parse([]), "cartpole", "jax")
    short = bench.parse(["--backend", "mjx", "--train-warmup", str(rollouts - 1)])
    with pytest.raises(ValueError, match=rf"^--train-warmup: {rollouts - 1} is not allowed with the jax agent; "):
        bench.measure(short, "cartpole", "mjx", 16)
    with pytest.raises(_WorldBuilt):  # a whole rollout is enough, and the torch agent needs none
        bench.measure(bench.parse(["--backend", "mjx", "--train-warmup", str(rollouts)]), "cartpole", "mjx", 16)
    with pytest.raises(_WorldBuilt):
        bench.measure(bench.parse(["--train-warmup", "1"]), "cartpole", "mjx", 16, framework="torch")


def test_layer_cost_inside_the_steps_is_the_time_outside_the_physics_call(monkeypatch, small_envs):
    """A slow physics call makes the layer cheap next to it; a slow layer (its terms) makes it dear."""
    raw = small_envs["warp"]
    env = envs.wrap_env(raw, "torch")
    physics, evaluate = raw._physics, envs.warp_engine.evaluate_step

    def slow_physics():
        physics()
        time.sleep(0.5)  # ten times the layer's worst seen under load (cartpole's terms took up to ~30 ms in CI)

    monkeypatch.setattr(raw, "_physics", slow_physics)
    assert bench.layer_cost_in_steps(env, 4, warmup=1) < 0.5
    monkeypatch.setattr(raw, "_physics", physics)  # the physics as it is (cartpole: milliseconds)
    monkeypatch.setattr(envs.warp_engine, "evaluate_step", lambda *a, **k: time.sleep(0.1) or evaluate(*a, **k))
    assert bench.layer_cost_in_steps(env, 4, warmup=1) > 1.0
    assert "_run" not in vars(raw)  # the env's own _run again
