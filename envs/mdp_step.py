"""The part of a step that is the same on every engine: MDP terms and episode bookkeeping.

Written against the array API shared by torch and jax.numpy, with no data-dependent branches, so it runs
inside a jitted MJX step and inside a captured CUDA stream alike.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .finite_check import FiniteCheck
from .task import MdpState, TaskSpec


class StepResult(NamedTuple):
    obs: Any  # observations of the state reached, before any reset
    reward: Any
    terminated: Any
    truncated: Any
    done: Any
    episode_return: Any  # running return including this step (valid as the final return where done)
    episode_length: Any
    nonfinite: Any  # per world: the physics state, an observation or the reward is NaN or inf (None: not checked)
    nonfinite_sources: Any  # (num_envs, sources + 1): which source it was, the last column any (FiniteCheck.names)
    states: Any  # the critic's privileged observations of the state reached (None for tasks without them)
    log: dict  # {"reward/<term>": mean over worlds of that weighted reward term, "termination/<term>": fraction of
    # worlds it ended}, device scalars


def reward_terms(xp, task: TaskSpec, state: MdpState) -> dict:
    """The task's reward as named weighted terms ({"reward": r} for a task that returns one array)."""
    terms = task.reward(xp, state)
    return terms if isinstance(terms, dict) else {"reward": terms}


def _any(conditions: dict):
    ended = None
    for condition in conditions.values():
        ended = condition if ended is None else ended | condition
    return ended


def evaluate_step(
    xp, task: TaskSpec, state: MdpState, episode_return, episode_length, check: FiniteCheck | None = None
) -> StepResult:
    """The step's terms and episode bookkeeping. With `check`, a world whose physics state, observations or reward
    are NaN or inf ends here (terminated, to be reset) and what it hands out is zeroed: observations, critic
    states, reward and reward terms (None: nothing is checked, for measuring the check's cost)."""
    obs = task.observations(xp, state)
    states = task.states(xp, state) if task.states is not None else None
    terms = reward_terms(xp, task, state)
    terminated = task.terminated(xp, state)
    ends = terminated if isinstance(terminated, dict) else {}
    terminated = _any(terminated) if isinstance(terminated, dict) else terminated
    nonfinite = sources = None
    if check is not None:
        sources = check.sources(xp, state.qpos, state.qvel, obs, states, terms)
        nonfinite = sources[:, -1]
        # a blown-up world ends its episode here and is reset; nothing of it reaches the agent but zeros
        terminated = terminated | nonfinite
        obs = xp.where(nonfinite[:, None], 0.0, obs)
        states = None if states is None else xp.where(nonfinite[:, None], 0.0, states)
        terms = {name: xp.where(nonfinite, 0.0, term) for name, term in terms.items()}
    reward = sum(terms.values())
    episode_length = episode_length + 1
    episode_return = episode_return + reward
    truncated = (episode_length >= task.max_episode_steps) & ~terminated
    log = {f"reward/{name}": term.mean() for name, term in terms.items()}
    log.update({f"termination/{name}": (ended * 1.0).mean() for name, ended in ends.items()})
    if task.metrics is not None:
        log.update(task.metrics(xp, state))
    return StepResult(
        obs,
        reward,
        terminated,
        truncated,
        terminated | truncated,
        episode_return,
        episode_length,
        nonfinite,
        sources,
        states,
        log,
    )


def push_history(xp, history, observations):
    """(observations with history, the history after this step): `history` (num_envs, H, d) holds the last H
    observations, oldest first; this step's `observations` (num_envs, d) enter it."""
    rolled = xp.concatenate([history[:, 1:], observations[:, None]], axis=1)
    return rolled.reshape(rolled.shape[0], -1), rolled


def fill_history(xp, history, observations):
    """The history of freshly reset worlds: H copies of their observation (and those observations with history)."""
    filled = history * 0.0 + observations[:, None]
    return filled.reshape(filled.shape[0], -1), filled
