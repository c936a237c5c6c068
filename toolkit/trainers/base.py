"""The training loop every trainer shares: collect a step, record it (agents update when a rollout is complete),
report, checkpoint, stop. Its collaborators each live in their own module: Reporter (reporting.py), Checkpoints
(checkpointing.py), PreemptionSignals (preemption.py), stop conditions and TrainStats (stats.py), the compiled path's
choice (compiled_path.py); the ranks of a distributed run are a `cluster` with `is_main` and `any_rank`."""

from __future__ import annotations

import atexit
import dataclasses
from dataclasses import dataclass
from typing import Any

from envs.vec_env import DEFAULT_MAX_FRACTION

from ..config import check, from_dict
from .checkpointing import Checkpoints
from .compiled_path import compiled_loop
from .episode_stats import EnvLog, EpisodeStats
from .preemption import PREEMPTION_SIGNALS, PreemptionSignals
from .reporting import MetricsLogger, Progress, Reporter
from .scopes import concatenate, slice_tree, split_scopes
from .stats import NonfiniteTally, StopCondition, TrainStats, any_condition, info_scalars, summarize

__all__ = [
    "PREEMPTION_SIGNALS", "MetricsLogger", "OneProcess", "StopCondition", "TrainStats", "TrainerBase", "TrainerCfg",
    "concatenate", "slice_tree", "split_scopes",
]  # fmt: skip


@dataclass
class TrainerCfg:
    timesteps: int = 100000
    headless: bool = False
    render_interval: int = 1
    disable_progressbar: bool | None = False  # None: disable when stdout is not a terminal
    close_environment_at_exit: bool = True
    # skrl's: the info key whose one-element entries are averaged into each report (stats.log, env/<name> in wandb).
    # simtrain's envs put their reward terms in info["log"] (Isaac Lab's key), recorded whatever this says; episode
    # returns and lengths always come from info["episode"]; another key adds that entry's scalars
    environment_info: str = "episode"
    stochastic_evaluation: bool = False
    # MJX env + JAX PPO agents: a rollout and an update are one compiled program each (None: where it is the faster
    # path, see toolkit.jax.compiled.compiled_is_faster; False: step by step; True: required, an error says why
    # when the env or agents cannot take it)
    compiled: bool | None = None
    # a world whose physics state, observations or reward go NaN or inf is reset at once and counted (nonfinite/* in
    # the report); more than this fraction of the worlds blown up in one update stops the run with one line
    max_nonfinite_fraction: float = DEFAULT_MAX_FRACTION

    def __post_init__(self):
        fraction = self.max_nonfinite_fraction  # its type is checked with the others' (config.validate)
        if isinstance(fraction, (int, float)) and not isinstance(fraction, bool):
            check(0 <= fraction <= 1, "trainer", "max_nonfinite_fraction", fraction,
                  "must be a fraction of the worlds between 0 and 1")  # fmt: skip


class OneProcess:
    """The ranks of a run in one process: its flags are everyone's, and it writes the run's files."""

    is_main = True

    @staticmethod
    def any_rank(flag: bool) -> bool:
        return bool(flag)


class TrainerBase:
    """train() and eval() of agents on a vectorized env (skrl's trainer). Subclasses say where the agents act and
    record: `_act_all`, `_record_all` and the save / load hooks (SequentialTrainer: in this process;
    ParallelTrainer: in worker processes)."""

    cfg_class: type = TrainerCfg
    preemption_signals: tuple = PREEMPTION_SIGNALS  # what train() takes as a request to checkpoint and stop

    def __init__(self, *, env, agents, scopes: list[int] | None = None, cfg: Any = None):
        """env: a wrapped VecEnv (envs.wrap_env) with `num_envs` worlds; agents: one agent or a list, each acting on
        its scope (`scopes`: world counts, default equal shares); cfg: a TrainerCfg or a mapping of its keys."""
        self.cfg = from_dict(self.cfg_class, cfg, "trainer")
        check(self.cfg.timesteps > 0, "trainer", "timesteps", self.cfg.timesteps, "must be > 0")
        self.env = env
        self.agents = list(agents) if isinstance(agents, (list, tuple)) else [agents]
        self.scopes = split_scopes(env.num_envs, len(self.agents), scopes)
        self.framework = getattr(env, "framework", "torch")
        self.timestep = 0  # where train() starts: a resumed run sets it
        self.observations = None  # the worlds' current observations, kept between train() calls
        self.states = None  # and their states (the critic's privileged observations; None for envs without them)
        self.stats = TrainStats()
        self.nonfinite = NonfiniteTally()  # the env's counts of blown-up worlds, read once per update
        # a distributed run's ranks (toolkit.distributed.Cluster, set by its follow(), which also gives each agent
        # its reducer): every rank stops at the same step, and rank 0 alone writes checkpoints (cluster.is_main)
        self.cluster = OneProcess()
        for agent in self.agents:
            agent.init(trainer_cfg=dataclasses.asdict(self.cfg))
        experiment = self.agents[0].cfg.experiment
        self.reporter = Reporter(experiment.write_interval, self.cfg.timesteps, self.cfg.disable_progressbar)
        self.checkpoints = Checkpoints(
            [agent.cfg.rollouts for agent in self.agents], experiment.checkpoint_interval, self.cfg.timesteps
        )
        self.preemption = PreemptionSignals()
        self.compiled_loop = compiled_loop(self.cfg.compiled, env, self.agents, self.scopes)
        self._info_keys = (
            ("log",) if self.cfg.environment_info in ("log", "episode") else ("log", self.cfg.environment_info)
        )
        if self.cfg.close_environment_at_exit:
            atexit.register(self._close_env)

    # ---- the collaborators' settings, under skrl's / the launchers' names ----
    @property
    def loggers(self) -> list[MetricsLogger]:
        return self.reporter.loggers

    @property
    def report_interval(self) -> int:
        return self.reporter.interval

    @report_interval.setter
    def report_interval(self, value: int) -> None:
        self.reporter.interval = value

    @property
    def checkpoint_interval(self) -> int:
        return self.checkpoints.interval

    @property
    def preempted(self) -> bool:
        return self.preemption.requested

    # ---- train and evaluate ----
    def train(self, stop: StopCondition | list[StopCondition] | None = None) -> TrainStats:
        """Train until `cfg.timesteps` or until a stop condition holds at a report, continuing from
        `self.timestep` and the worlds as they were (a second call, or a resumed run, goes on where it ended).
        SIGTERM, SIGUSR1 or SIGINT end it at the next update boundary, with a checkpoint. `stop`: callables of the
        TrainStats at each report (toolkit.conditions). Returns the last report's TrainStats."""
        self._set_training_mode(True)
        with self.preemption.installed(self.preemption_signals):
            return self._loop(training=True, stop=stop, description="train")

    def eval(self, stop: StopCondition | None = None, timesteps: int | None = None) -> TrainStats:
        """Run the agents without learning for `timesteps` (default cfg.timesteps) from fresh episodes: mean
        actions unless cfg.stochastic_evaluation. Returns the last report's TrainStats."""
        self._set_training_mode(False)
        self.observations = self.states = None  # evaluation episodes start fresh, and so does training after them
        try:
            return self._loop(training=False, stop=stop, description="eval", start=0, end=timesteps)
        finally:
            self.observations = self.states = None
            self._set_training_mode(True)

    def _loop(self, training: bool, stop, description: str, start: int | None = None, end: int | None = None):
        end = self.cfg.timesteps if end is None else end
        timestep = self.timestep if start is None else start
        episodes = [EpisodeStats() for _ in self.agents]
        env_log = EnvLog()
        stop = any_condition(stop)
        if self.observations is None:
            self.observations, _ = self.env.reset()
            self.states = self._env_states()
        compiled = self.compiled_loop if training else None
        with self.reporter.window(timestep, end, description) as progress:
            while timestep < end:
                if compiled is not None and timestep % compiled.rollouts == 0 and timestep + compiled.rollouts <= end:
                    # collect, record and update a whole rollout in two compiled calls
                    self.observations = compiled.iteration(
                        self.observations, timestep, end, episodes, env_log, states=self.states
                    )
                    self.states = compiled.states
                    done = timestep + compiled.rollouts
                else:
                    self._step(timestep, end, training, episodes, env_log)
                    done = timestep + 1
                if training:
                    self.timestep = done
                report_due = self.reporter.due(timestep, done, end)
                if (self.checkpoints.at_update_boundary(done) or done == end) if training else report_due:
                    self._check_worlds()  # the fraction of blown-up worlds is judged per update
                if report_due and self._report(progress, done, episodes, env_log, stop):
                    break
                if training and self.checkpoints.at_update_boundary(done) and self._checkpoint_or_preempt(done):
                    break
                timestep = done
        return self.stats

    def _step(self, timestep: int, timesteps: int, training: bool, episodes: list, env_log: EnvLog) -> None:
        """One step of every world: the agents act, the env steps, the agents record the transition (and update
        when their rollout is complete); episode ends and the env's log are tallied for the next report."""
        cfg, env = self.cfg, self.env
        observations, states = self.observations, self.states
        actions = self._act_all(observations, states, timestep, timesteps, training or cfg.stochastic_evaluation)
        next_observations, rewards, terminated, truncated, infos = env.step(actions)
        next_states = self._env_states()
        if not cfg.headless and timestep % cfg.render_interval == 0:
            env.render()
        self._record_all({"observations": observations, "states": states, "actions": actions, "rewards": rewards,
                          "next_observations": next_observations, "next_states": next_states,
                          "terminated": terminated, "truncated": truncated, "infos": infos},
                         timestep, timesteps, training)  # fmt: skip
        self._tally(infos, episodes, env_log)
        self.observations, self.states = next_observations, next_states

    def _tally(self, infos: dict, episodes: list[EpisodeStats], env_log: EnvLog) -> None:
        logged = {
            name: value
            for key in self._info_keys
            if isinstance(infos.get(key), dict)
            for name, value in info_scalars(infos[key]).items()
        }
        if logged:
            env_log.record(logged)
        if "episode" in infos:
            single = len(self.agents) == 1
            for scope, agent_episodes in zip(self.scopes, episodes):
                ended = infos["_episode"] if single else infos["_episode"][scope]
                agent_episodes.record(infos["episode"] if single else slice_tree(infos["episode"], scope), ended)

    def _report(self, progress: Progress, timestep: int, episodes: list, env_log: EnvLog, stop: StopCondition) -> bool:
        """Summarize the window into self.stats (with the counts of blown-up worlds) and show it; returns whether to
        stop (on every rank at once)."""
        self.stats = summarize(episodes, self._tracked_means(), env_log, timestep=timestep,
                               num_envs=self.env.num_envs, wall_s=progress.elapsed(),
                               steps_in_window=timestep - progress.start)  # fmt: skip
        self.stats.log.update(self.nonfinite.flush())
        progress.show(self.stats)
        return self.cluster.any_rank(stop(self.stats))

    def _check_worlds(self) -> None:
        """Read the env's counts of worlds that went NaN or inf (reset already) into the report's tally; more than
        trainer.max_nonfinite_fraction of them since the last check raises SimulationError, before any checkpoint
        of this update is written."""
        if hasattr(self.env, "check_finite"):
            self.nonfinite.record(self.env.check_finite(self.cfg.max_nonfinite_fraction) or {})

    def _checkpoint_or_preempt(self, timestep: int) -> bool:
        """At an update boundary: a preemption asked on any rank writes a checkpoint and stops the loop (returns
        True); otherwise a checkpoint when one is due."""
        if self.cluster.any_rank(self.preemption.requested):
            self.preemption.requested = True
            self.write_checkpoints(timestep)
            return True
        if self.checkpoints.due(timestep):
            self.write_checkpoints(timestep)
        return False

    # ---- checkpoints ----
    def write_checkpoints(self, timestep: int) -> list[str]:
        """Write each agent's checkpoint for `timestep` (with the worlds' state, so a resume continues them), and
        refresh its last.pt and, when the mean return improved, its best.pt. In a distributed run rank 0 alone
        writes (the others return [])."""
        if not self.cluster.is_main:
            return []
        env_state = self.env.state_dict() if hasattr(self.env, "state_dict") else None
        mean_returns = [stats.get("mean_return") for stats in self.stats.agents or [{}] * len(self.agents)]
        folders = [agent.experiment_dir for agent in self.agents]
        return self.checkpoints.write(timestep, folders, mean_returns, self._save_agent, env_state)

    def restore(self, paths: str | list[str]) -> int:
        """Load each agent's checkpoint and continue from its timestep and worlds; returns the timestep."""
        paths = [paths] if isinstance(paths, str) else list(paths)
        check(len(paths) == len(self.agents), "trainer", "checkpoints", paths,
              f"expected one per agent ({len(self.agents)})")  # fmt: skip
        extras = self._load_agents(paths)
        self.timestep = self.checkpoints.restored(extras)
        env_state = extras[0].get("env")
        if env_state is not None and hasattr(self.env, "load_state_dict"):
            self.observations = self.env.load_state_dict(env_state)
            self.states = self._env_states()
        return self.timestep

    def _env_states(self):
        """The env's states beside its last observations (skrl's env.state()); None for envs without a state space."""
        state = getattr(self.env, "state", None)
        return state() if callable(state) else None

    # ---- where the agents live (SequentialTrainer: in this process; ParallelTrainer: in workers) ----
    def _set_training_mode(self, enabled: bool) -> None:
        for agent in self.agents:
            agent.enable_training_mode(enabled, apply_to_models=True)

    def _act_all(self, observations, states, timestep: int, timesteps: int, stochastic: bool):
        """Every agent acts on its worlds' observations (and states); returns the actions of all worlds."""
        raise NotImplementedError

    def _record_all(self, transition: dict, timestep: int, timesteps: int, training: bool) -> None:
        """Every agent records its slice of the step's transition (and, when training, may update)."""
        raise NotImplementedError

    def _save_agent(self, index: int, path: str, extra: dict) -> None:
        self.agents[index].save(path, extra=extra)

    def _load_agents(self, paths: list[str]) -> list[dict]:
        return [agent.load(path) for agent, path in zip(self.agents, paths)]

    def _tracked_means(self) -> list[dict]:
        """Per agent, the mean of each value it tracked since the last report (then forgotten)."""
        means = []
        for agent in self.agents:
            means.append({tag: sum(values) / len(values) for tag, values in agent.tracking_data.items() if values})
            agent.tracking_data.clear()
        return means

    def _close_env(self) -> None:
        try:
            self.env.close()
        except Exception:  # the process is ending; a close error must not hide the real exit status
            pass
