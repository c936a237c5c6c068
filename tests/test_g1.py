"""g1-flat on MuJoCo Warp: the humanoid's task state, joint targets and fall termination, on the same layer as
go1-flat (its layout against the compiled model is in test_locomotion.py)."""

import numpy as np
import torch

import tasks
from tasks.g1_flat import mdp

WORLDS = 4


def test_g1_steps_with_joint_targets_and_a_fallen_world_is_reset():
    env = tasks.make("g1-flat", "warp", num_envs=WORLDS, seed=0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (WORLDS, mdp.POLICY.size) == (WORLDS, 99)
    action = torch.full((WORLDS, 29), 0.2)
    obs, reward, terminated, truncated, info = env.step(action)
    assert torch.isfinite(obs).all() and torch.isfinite(reward).all()
    torch.testing.assert_close(env._ctrl, torch.tensor(mdp.EVENTS.layout.default_pose) + mdp.ACTION_SCALE * action)
    torch.testing.assert_close(env._task_state["last_action"], action)
    height = env._qpos[:, 2]
    assert ((height > 0.6) & (height < 0.8)).all(), height  # still standing after 20 ms
    qpos, qvel = env._qpos.numpy().copy(), env._qvel.numpy().copy()
    qpos[1, 3:7] = [0.0, 1.0, 0.0, 0.0]  # world 1 upside down
    env.set_state(qpos, qvel)
    _, _, terminated, _, info = env.step(torch.zeros((WORLDS, 29)))
    assert terminated.tolist() == [False, True, False, False]
    assert abs(float(env._qpos[1, 2]) - mdp.EVENTS.layout.base_height) < 1e-6  # reset: standing height, upright
    np.testing.assert_allclose(env._qpos[1, 4:6].numpy(), 0.0)
    np.testing.assert_array_equal(env._task_state["last_action"][1].numpy(), 0.0)
    env.check_finite()
