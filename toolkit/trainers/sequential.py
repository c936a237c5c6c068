"""SequentialTrainer: agents act, record and update one after the other in each step (skrl's API)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .base import StopCondition, TrainerBase, TrainerCfg, TrainStats, concatenate, slice_tree
from .episode_stats import EpisodeStats


@dataclass
class SequentialTrainerCfg(TrainerCfg):
    pass


class SequentialTrainer(TrainerBase):
    cfg_class = SequentialTrainerCfg

    def train(self, stop: StopCondition | list[StopCondition] | None = None) -> TrainStats:
        """Train until `cfg.timesteps` or until a stop condition holds at a report, continuing from
        `self.timestep` and the worlds as they were (a second call, or a resumed run, goes on where it ended).
        SIGTERM or SIGUSR1 end it at the next update boundary, with a checkpoint."""
        for agent in self.agents:
            agent.enable_training_mode(True, apply_to_models=True)
        with self._preemption_signals():
            return self._loop(training=True, stop=stop, description="train")

    def eval(self, stop: StopCondition | None = None, timesteps: int | None = None) -> TrainStats:
        """Run the agents without learning for `timesteps` (default cfg.timesteps) from fresh episodes: mean
        actions unless cfg.stochastic_evaluation."""
        for agent in self.agents:
            agent.enable_training_mode(False, apply_to_models=True)
        self.observations = None  # evaluation episodes start fresh, and so does training after them
        try:
            return self._loop(training=False, stop=stop, description="eval", start=0, end=timesteps)
        finally:
            self.observations = None
            for agent in self.agents:
                agent.enable_training_mode(True, apply_to_models=True)

    def _loop(self, training: bool, stop, description: str, start: int | None = None, end: int | None = None) -> TrainStats:
        cfg, env, agents, scopes = self.cfg, self.env, self.agents, self.scopes
        timesteps = cfg.timesteps if end is None else end
        start = self.timestep if start is None else start
        single = len(agents) == 1
        episode_stats = [EpisodeStats() for _ in agents]
        stop = self._stop_condition(stop)
        if self.observations is None:
            self.observations, _ = env.reset()
        observations = self.observations
        started = time.perf_counter()
        bar = self._progress(start, timesteps, description)
        with bar:
            for timestep in range(start, timesteps):
                for agent in agents:
                    agent.pre_interaction(timestep=timestep, timesteps=timesteps)
                outputs = [agent.act(observations if single else observations[scope], None, timestep=timestep, timesteps=timesteps)
                           for agent, scope in zip(agents, scopes)]
                if training or cfg.stochastic_evaluation:
                    actions = concatenate(self.framework, [output[0] for output in outputs])
                else:
                    actions = concatenate(self.framework, [output[1]["mean_actions"] for output in outputs])
                next_observations, rewards, terminated, truncated, infos = env.step(actions)
                if not cfg.headless and timestep % cfg.render_interval == 0:
                    env.render()
                for agent, scope, episodes in zip(agents, scopes, episode_stats):
                    part = (lambda x: x) if single else (lambda x, s=scope: slice_tree(x, s))
                    agent_infos = part(infos)
                    agent.record_transition(
                        observations=part(observations), states=None, actions=part(actions), rewards=part(rewards),
                        next_observations=part(next_observations), next_states=None, terminated=part(terminated),
                        truncated=part(truncated), infos=agent_infos, timestep=timestep, timesteps=timesteps)
                    if "episode" in agent_infos:
                        episodes.record(agent_infos["episode"], agent_infos["_episode"])
                if training:
                    for agent in agents:
                        agent.post_interaction(timestep=timestep, timesteps=timesteps)
                observations = self.observations = next_observations
                done_steps = timestep + 1
                if training:
                    self.timestep = done_steps
                if done_steps % self.report_interval == 0 or done_steps == timesteps:
                    stats = self._report(episode_stats, done_steps, timesteps, started, start, bar)
                    if stop(stats):
                        break
                if training and done_steps % self.update_period == 0:
                    if self.preempted:
                        self.write_checkpoints(done_steps)
                        break
                    if self.checkpoint_interval and done_steps % self.checkpoint_interval == 0:
                        self.write_checkpoints(done_steps)
        return self.stats
