"""Simulator state reaches torch and JAX without a copy: the same memory, a write seen on both sides."""

import jax
import jax.numpy as jnp
import numpy as np
import torch

import envs
from envs.convert import converter


def test_warp_state_views_alias_the_simulator(small_envs):
    env = small_envs["warp"]
    qpos_wp, qpos_torch = env._data.qpos, env._qpos
    assert qpos_torch.data_ptr() == qpos_wp.ptr
    qpos_wp.assign(np.full(qpos_wp.shape, 0.123, dtype=np.float32))  # a write through warp...
    assert torch.allclose(qpos_torch, torch.tensor(0.123))  # ...is seen by torch
    qpos_torch.fill_(-0.5)  # and a write through torch is seen by warp
    assert np.allclose(qpos_wp.numpy(), -0.5)
    env.reset()


def test_jax_arrays_reach_torch_without_copy():
    array = jnp.arange(4096, dtype=jnp.float32).reshape(1024, 4) * 1.0
    tensor = converter("jax", "torch")(array)
    assert tensor.data_ptr() == array.unsafe_buffer_pointer()
    assert torch.equal(tensor, torch.arange(4096, dtype=torch.float32).reshape(1024, 4))


def test_torch_tensors_reach_jax_without_copy():
    tensor = torch.arange(4096, dtype=torch.float32).reshape(1024, 4)
    array = converter("torch", "jax")(tensor)
    assert array.unsafe_buffer_pointer() == tensor.data_ptr()
    tensor[0, 0] = 7.0  # the buffer is shared, so jax sees the write
    assert float(array[0, 0]) == 7.0


def test_mjx_env_observations_are_torch_views_of_jax_buffers(small_envs):
    env = envs.wrap_env(small_envs["mjx"], "torch")
    captured = {}
    to_torch = env._to_agent

    def spy(array):
        captured.setdefault("jax", array)
        return to_torch(array)

    env._to_agent = spy
    try:
        obs, _ = env.reset()
    finally:
        env._to_agent = to_torch
    assert isinstance(captured["jax"], jax.Array)
    assert obs.data_ptr() == captured["jax"].unsafe_buffer_pointer()
