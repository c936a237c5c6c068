"""Each gymnasium-v5 task on each engine gives gymnasium's observation, reward, terminated and truncated.

Method: one-step parity along a 100-step gymnasium trajectory. Before each step both sides are put in
gymnasium's state (our `set_state`, gymnasium's `set_state`, which runs mj_forward on both sides), then take the
same action; we compare what the step returns. The trajectory goes through at least one episode end (a
termination, or a shortened time limit for the tasks that rarely fall: half-cheetah and ant) and the reset after
it, whose first observation is compared too.

Why not one 100-step rollout per side: MJX and MuJoCo Warp step in float32 with their own collision and solver
code, against C MuJoCo in float64. Without contacts (the pendulums) the trajectories stay close; with contacts,
a 1e-6 difference in when a foot touches grows into a different gait within tens of steps, and a comparison
after 100 steps measures chaos, not the port. The stated tolerances are per step, from the same state.
"""

import gymnasium as gym
import numpy as np
import pytest

import envs
import tasks

STEPS = 100

# task -> (gymnasium id, gymnasium.make kwargs, our overrides, obs atol, obs rtol, reward atol)
# Tolerances: float32 physics against float64; constraint forces (double pendulum), com quantities and contact
# forces (humanoid) come from iterative solvers and agree to their tolerance, hence the relative term; ant's
# observed contact forces (clipped to +-1) agree to 5e-3 on MJX (1e-5 on MuJoCo Warp).
CASES = {
    "inverted-pendulum": ("InvertedPendulum-v5", {}, {}, 1e-4, 1e-4, 1e-5),
    "inverted-double-pendulum": ("InvertedDoublePendulum-v5", {}, {}, 2e-3, 1e-3, 1e-3),
    "hopper": ("Hopper-v5", {}, {}, 2e-3, 1e-3, 5e-3),
    "walker2d": ("Walker2d-v5", {}, {}, 2e-3, 1e-3, 5e-3),
    "half-cheetah": ("HalfCheetah-v5", {"max_episode_steps": 60}, {"max_episode_steps": 60}, 2e-3, 1e-3, 5e-3),
    "ant": ("Ant-v5", {"max_episode_steps": 60}, {"max_episode_steps": 60}, 5e-3, 1e-3, 5e-3),
    "humanoid": ("Humanoid-v5", {}, {}, 2e-2, 2e-2, 2e-2),
    "reacher": ("Reacher-v5", {}, {}, 1e-4, 1e-4, 1e-4),
}


def _gymnasium_trajectory(gym_id, kwargs, action_space, seed=0):
    """Yields (qpos, qvel, action) before each step, then what gymnasium's step returned; resets as gymnasium does."""
    env = gym.make(gym_id, **kwargs)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    base = env.unwrapped
    for _ in range(STEPS):
        qpos, qvel = base.data.qpos.copy(), base.data.qvel.copy()
        base.set_state(qpos, qvel)  # mj_forward, as our set_state does: the same derived fields on both sides
        action = rng.uniform(action_space.low, action_space.high).astype(np.float32)
        out = env.step(action)
        reset_obs = None
        if out[2] or out[3]:
            reset_obs, _ = env.reset()
            reset_state = (base.data.qpos.copy(), base.data.qvel.copy())
        else:
            reset_state = None
        yield qpos, qvel, action, out, reset_obs, reset_state
    env.close()


@pytest.fixture(scope="module")
def engines():
    made = {}

    def get(task, backend):
        if (task, backend) not in made:
            made[(task, backend)] = tasks.make(task, backend, num_envs=1, seed=0, **CASES[task][2])
        return made[(task, backend)]

    return get


# MJX compiles each task's RK4 step for minutes on a 2-core CPU (measured at load average 12: 2-16 min a task); the
# two largest contact models (4-7 min each) run by hand, not in CI
LONG_ON_MJX = {"ant", "humanoid"}


def _case(task: str, backend: str):
    marks = [] if backend == "warp" else [pytest.mark.slow] + ([pytest.mark.long] if task in LONG_ON_MJX else [])
    return pytest.param(task, backend, marks=marks, id=f"{task}-{backend}")


@pytest.mark.parametrize(
    "task, backend", [_case(task, backend) for task in sorted(CASES) for backend in ("warp", "mjx")]
)
def test_one_step_parity_with_gymnasium_along_a_trajectory(engines, task, backend):
    gym_id, gym_kwargs, _, obs_atol, obs_rtol, reward_atol = CASES[task]
    env = engines(task, backend)
    to_numpy = envs.convert.converter(env.framework, "numpy")
    episode_ends = 0
    for step, (
        qpos,
        qvel,
        action,
        (g_obs, g_reward, g_terminated, g_truncated, _),
        reset_obs,
        reset_state,
    ) in enumerate(_gymnasium_trajectory(gym_id, gym_kwargs, env.single_action_space)):
        env.set_state(qpos[None], qvel[None])
        obs, reward, terminated, truncated, info = env.step(
            envs.convert.converter("numpy", env.framework)(action[None])
        )
        final_obs = to_numpy(info["final_obs"])[0]
        where = f"{task} on {backend}, step {step}"
        np.testing.assert_allclose(final_obs, g_obs, atol=obs_atol, rtol=obs_rtol, err_msg=where)
        np.testing.assert_allclose(to_numpy(reward)[0], g_reward, atol=reward_atol, rtol=1e-3, err_msg=where)
        assert bool(to_numpy(terminated)[0]) == g_terminated, where
        assert bool(to_numpy(truncated)[0]) == g_truncated, where
        if reset_obs is not None:
            episode_ends += 1
            # our engine reset the world on its own: its first observation is of its own reset state; put it in
            # gymnasium's reset state and the observations agree
            assert bool(to_numpy(info["_episode"])[0])
            ours = to_numpy(env.set_state(reset_state[0][None], reset_state[1][None]))[0]
            np.testing.assert_allclose(ours, reset_obs, atol=obs_atol, rtol=obs_rtol, err_msg=f"{where} (reset)")
    assert episode_ends >= 1, f"{task}: the trajectory never ended an episode"
