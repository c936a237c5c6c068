"""SequentialTrainer: agents act, record and update one after the other in each step (skrl's API)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import TrainerBase, TrainerCfg, concatenate, slice_tree


@dataclass
class SequentialTrainerCfg(TrainerCfg):
    pass


class SequentialTrainer(TrainerBase):
    """train() and eval() (TrainerBase) with every agent in this process.

    SequentialTrainer(env=env, agents=agent_or_list, scopes=None, cfg={"timesteps": ...}): env, a wrapped VecEnv
    of N worlds; each agent acts on its scope (world counts, default equal shares); cfg: a SequentialTrainerCfg or
    a mapping of its keys. Each step, every agent's act() gets its (n, *obs_shape) observations and returns
    (n, *action_shape) actions, concatenated for env.step; then record_transition() and post_interaction(), where
    an agent updates when its rollout is complete. train() and eval() return a TrainStats."""

    cfg_class = SequentialTrainerCfg

    def _act_all(self, observations, states, timestep: int, timesteps: int, stochastic: bool):
        single = len(self.agents) == 1
        actions = []
        for agent, scope in zip(self.agents, self.scopes):
            agent.pre_interaction(timestep=timestep, timesteps=timesteps)
            sampled, outputs = agent.act(
                observations if single else observations[scope],
                states if single or states is None else states[scope],
                timestep=timestep,
                timesteps=timesteps,
            )
            actions.append(sampled if stochastic else outputs["mean_actions"])
        return concatenate(self.framework, actions)

    def _record_all(self, transition: dict, timestep: int, timesteps: int, training: bool) -> None:
        single = len(self.agents) == 1
        for agent, scope in zip(self.agents, self.scopes):
            part = transition if single else slice_tree(transition, scope)
            agent.record_transition(
                observations=part["observations"],
                states=part["states"],
                actions=part["actions"],
                rewards=part["rewards"],
                next_observations=part["next_observations"],
                next_states=part["next_states"],
                terminated=part["terminated"],
                truncated=part["truncated"],
                infos=part["infos"],
                timestep=timestep,
                timesteps=timesteps,
            )
        if training:
            for agent in self.agents:
                agent.post_interaction(timestep=timestep, timesteps=timesteps)
