"""What a JAX agent's update does across processes: its reducer. `LocalReducer` is the one-process reducer every
agent starts with (each method returns its input, and the update is a plain `jax.jit`);
toolkit.jax.distributed.ProcessReducer is the jax.distributed one that `agent.distribute(reducer)` installs.

A reducer has four methods, each called from one visible place of the agent:
- `start(state) -> state`: rank 0's training state (params, opt_state, preprocessors) on every process, and the
  observation statistics each process's acting grows from until the next merge (PPO.distribute).
- `merge_statistics(preprocessors) -> preprocessors`: the observation (and critic-state) statistics that each
  process updated while acting on its own worlds, merged exactly into those of every world (PPO.update, before the
  update program runs).
- `layout_batch(batch, groups) -> batch`: inside the update program, the flat batch of (groups * worlds, ...)
  samples (group-major: steps, or recurrent sequences) laid out for the update's minibatches (PPO.prepare_batch).
- `compile_update(update_step) -> callable`: the program that runs `update_step` (same arguments and returns);
  across processes its inputs become one global batch, so its means, gradients and KL are those of every world.
"""

from __future__ import annotations

import jax


class LocalReducer:
    """One process: nothing to reduce."""

    distributed = False

    def start(self, state):
        return state

    def merge_statistics(self, preprocessors: dict) -> dict:
        return preprocessors

    def layout_batch(self, batch: dict, groups: int) -> dict:
        return batch

    def compile_update(self, update_step):
        return jax.jit(update_step)
