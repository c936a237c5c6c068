"""The one place that chooses a trainer's compiled path: for agents registered with one (toolkit.registry's
`compiled`, today toolkit.jax's PPO and PPO_RNN on an MJX env), one program per rollout and one per update replace
the step-by-step loop. Nothing framework-specific is imported here."""

from __future__ import annotations

from ..config import check
from ..registry import entry_of


def compiled_loop(required: bool | None, env, agents: list, scopes: list[slice]):
    """The compiled rollout-and-update loop of `agents` on `env`, or None for the step-by-step loop.

    required: the trainer's `compiled` setting; True makes it required (a ConfigError says why it cannot apply),
    None takes it where it is the faster path, False never."""
    entry = entry_of(agents[0])
    program = entry.compiled if entry is not None else None
    one_class = all(type(agent) is type(agents[0]) for agent in agents)
    if required is False or program is None or getattr(env, "framework", "torch") != "jax" or not one_class:
        check(not required, "trainer", "compiled", True, "needs an MJX env with JAX PPO agents (all of one class)")
        return None
    reason = program.unsupported_reason(env, agents, scopes)
    check(not (required and reason), "trainer", "compiled", True, reason)
    if reason or (required is None and not program.is_faster(env, agents)):
        return None
    return program(env, agents)
