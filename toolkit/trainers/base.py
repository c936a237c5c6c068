"""What every trainer shares: configuration, agent scopes, reporting (progress bar or plain lines), stop checks."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from tqdm import tqdm

from ..checkpoint import atomic_copy
from ..config import check, from_dict
from ..experiment import resolve_interval
from .episode_stats import EnvLog, EpisodeStats


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


@dataclass
class TrainStats:
    """Where a run stands; handed to stop conditions and metric loggers."""

    timestep: int = 0  # vectorized steps taken (each steps every world once)
    env_steps: int = 0  # timestep * num_envs
    wall_s: float = 0.0
    env_steps_per_s: float = 0.0
    mean_return: float | None = None  # mean return of the episodes that ended in the last report window
    mean_length: float | None = None
    episodes: int = 0  # episodes ended so far
    agents: list[dict] = field(default_factory=list)  # per agent: mean_return, mean_length, tracking data
    log: dict = field(default_factory=dict)  # means of the env's info["log"] (reward terms) over the report window

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


StopCondition = Callable[[TrainStats], bool]
# what cluster schedulers send before they kill a job, and Ctrl-C (a second Ctrl-C interrupts at once)
PREEMPTION_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
MetricsLogger = Callable[[dict], None]


def split_scopes(num_envs: int, num_agents: int, scopes: list[int] | None) -> list[slice]:
    if not scopes:
        base, extra = divmod(num_envs, num_agents)
        scopes = [base + (1 if i < extra else 0) for i in range(num_agents)]
    check(len(scopes) == num_agents and sum(scopes) == num_envs and min(scopes) > 0, "trainer", "scopes", scopes,
          f"expected {num_agents} positive world counts that add up to num_envs ({num_envs})")
    bounds, start = [], 0
    for size in scopes:
        bounds.append(slice(start, start + size))
        start += size
    return bounds


def concatenate(framework: str, arrays: list):
    if len(arrays) == 1:
        return arrays[0]
    if framework == "torch":
        import torch

        return torch.cat(arrays)
    import jax.numpy as jnp

    return jnp.concatenate(arrays)


def slice_tree(tree: Any, scope: slice) -> Any:
    """Slice every batched array of an info dict to one agent's worlds."""
    if isinstance(tree, dict):
        return {key: slice_tree(value, scope) for key, value in tree.items()}
    if hasattr(tree, "shape") and len(tree.shape) > 0:
        return tree[scope]
    return tree


class TrainerBase:
    cfg_class: type = TrainerCfg
    preemption_signals: tuple = PREEMPTION_SIGNALS

    def __init__(self, *, env, agents, scopes: list[int] | None = None, cfg: Any = None):
        self.cfg = from_dict(self.cfg_class, cfg, "trainer")
        check(self.cfg.timesteps > 0, "trainer", "timesteps", self.cfg.timesteps, "must be > 0")
        self.env = env
        self.agents = list(agents) if isinstance(agents, (list, tuple)) else [agents]
        self.scopes = split_scopes(env.num_envs, len(self.agents), scopes)
        self.framework = getattr(env, "framework", "torch")
        self.loggers: list[MetricsLogger] = []
        self.timestep = 0  # where train() starts: a resumed run sets it
        self.observations = None  # the worlds' current observations, kept between train() calls
        self.states = None  # and their states (the critic's privileged observations; None for envs without them)
        self.stats = TrainStats()
        self.preempted = False
        self._compiled = None  # the compiled rollout-and-update loop, once a train() has built it
        self._env_log = EnvLog()
        # Under torchrun / jax.distributed every rank must stop at the same step: the launcher replaces this with
        # "does the flag hold on any rank" (a collective at each report and update boundary)
        self.any_rank: Callable[[bool], bool] = bool
        for agent in self.agents:
            agent.init(trainer_cfg=dataclasses.asdict(self.cfg))
        experiment = self.agents[0].cfg.experiment
        self.report_interval = resolve_interval(experiment.write_interval, self.cfg.timesteps, 100)
        # skrl's write_interval 0: no metric records. The reports behind them (stop conditions, the finite check, the
        # progress line) go on at auto's cadence, so nothing but the records is lost
        self._write_records = self.report_interval > 0
        if not self._write_records:
            self.report_interval = resolve_interval("auto", self.cfg.timesteps, 100)
        self._info_keys = ("log",) if self.cfg.environment_info in ("log", "episode") else ("log", self.cfg.environment_info)
        # checkpoints fall on update boundaries, where no rollout is half collected
        self.update_period = math.lcm(*(agent.cfg.rollouts for agent in self.agents))
        interval = resolve_interval(experiment.checkpoint_interval, self.cfg.timesteps, 10)
        self.checkpoint_interval = -(-interval // self.update_period) * self.update_period if interval > 0 else 0
        self._best_returns = [-math.inf] * len(self.agents)
        if self.cfg.close_environment_at_exit:
            atexit.register(self._close_env)

    def _close_env(self) -> None:
        try:
            self.env.close()
        except Exception:  # the process is ending; a close error must not hide the real exit status
            pass

    # ---- checkpoints and preemption ----
    def write_checkpoints(self, timestep: int) -> list[str]:
        """Write each agent's checkpoint for `timestep` (with the worlds' state, so a resume continues them), and
        refresh its last.pt and, when the mean return improved, its best.pt. Every file is replaced atomically."""
        env_state = self.env.state_dict() if hasattr(self.env, "state_dict") else None
        paths = []
        for index, (agent, stats) in enumerate(zip(self.agents, self.stats.agents or [{}] * len(self.agents))):
            folder = os.path.join(agent.experiment_dir, "checkpoints")
            path = os.path.join(folder, f"agent_{timestep}.pt")
            mean_return = stats.get("mean_return")
            self._save_agent(index, path, {"timestep": timestep, "env": env_state, "mean_return": mean_return})
            atomic_copy(path, os.path.join(folder, "last.pt"))
            if mean_return is not None and mean_return > self._best_returns[index]:
                self._best_returns[index] = mean_return
                atomic_copy(path, os.path.join(folder, "best.pt"))
            paths.append(path)
        return paths

    def restore(self, paths: str | list[str]) -> int:
        """Load each agent's checkpoint and continue from its timestep and worlds; returns the timestep."""
        paths = [paths] if isinstance(paths, str) else list(paths)
        check(len(paths) == len(self.agents), "trainer", "checkpoints", paths, f"expected one per agent ({len(self.agents)})")
        extras = self._load_agents(paths)
        self.timestep = int(extras[0].get("timestep") or 0)
        self._best_returns = [-math.inf if e.get("mean_return") is None else e["mean_return"] for e in extras]
        env_state = extras[0].get("env")
        if env_state is not None and hasattr(self.env, "load_state_dict"):
            self.observations = self.env.load_state_dict(env_state)
            self.states = self._env_states()
        return self.timestep

    def _env_states(self):
        """The env's states beside its last observations (skrl's env.state()); None for envs without a state space."""
        state = getattr(self.env, "state", None)
        return state() if callable(state) else None

    # ---- what a trainer does with its agents (SequentialTrainer: in this process; ParallelTrainer: in workers) ----
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

    # ---- train and evaluate ----
    def train(self, stop: StopCondition | list[StopCondition] | None = None) -> TrainStats:
        """Train until `cfg.timesteps` or until a stop condition holds at a report, continuing from
        `self.timestep` and the worlds as they were (a second call, or a resumed run, goes on where it ended).
        SIGTERM or SIGUSR1 end it at the next update boundary, with a checkpoint."""
        self._set_training_mode(True)
        with self._preemption_signals():
            return self._loop(training=True, stop=stop, description="train")

    def eval(self, stop: StopCondition | None = None, timesteps: int | None = None) -> TrainStats:
        """Run the agents without learning for `timesteps` (default cfg.timesteps) from fresh episodes: mean
        actions unless cfg.stochastic_evaluation."""
        self._set_training_mode(False)
        self.observations = self.states = None  # evaluation episodes start fresh, and so does training after them
        try:
            return self._loop(training=False, stop=stop, description="eval", start=0, end=timesteps)
        finally:
            self.observations = self.states = None
            self._set_training_mode(True)

    def _loop(self, training: bool, stop, description: str, start: int | None = None, end: int | None = None) -> TrainStats:
        cfg, env, scopes = self.cfg, self.env, self.scopes
        timesteps = cfg.timesteps if end is None else end
        start = self.timestep if start is None else start
        single = len(self.agents) == 1
        episode_stats = [EpisodeStats() for _ in self.agents]
        self._env_log = EnvLog()
        stop = self._stop_condition(stop)
        if self.observations is None:
            self.observations, _ = env.reset()
            self.states = self._env_states()
        observations, states = self.observations, self.states
        compiled = self._compiled_training() if training else None
        started = time.perf_counter()
        bar = self._progress(start, timesteps, description)
        timestep = start
        with bar:
            while timestep < timesteps:
                if compiled is not None and timestep % compiled.rollouts == 0 and timestep + compiled.rollouts <= timesteps:
                    # a whole rollout and update in two compiled calls; reports and checkpoints as below
                    observations = compiled.iteration(observations, timestep, timesteps, episode_stats, self._env_log,
                                                      states=states)
                    self.observations, self.states = observations, states = observations, compiled.states
                    timestep = self._after_steps(timestep, timestep + compiled.rollouts, timesteps, training, episode_stats,
                                                 started, start, bar, stop)
                    continue
                actions = self._act_all(observations, states, timestep, timesteps, training or cfg.stochastic_evaluation)
                next_observations, rewards, terminated, truncated, infos = env.step(actions)
                next_states = self._env_states()
                if not cfg.headless and timestep % cfg.render_interval == 0:
                    env.render()
                self._record_all({"observations": observations, "states": states, "actions": actions, "rewards": rewards,
                                  "next_observations": next_observations, "next_states": next_states,
                                  "terminated": terminated, "truncated": truncated, "infos": infos},
                                 timestep, timesteps, training)
                logged = {name: value for key in self._info_keys if isinstance(infos.get(key), dict)
                          for name, value in _scalars(infos[key]).items()}
                if logged:
                    self._env_log.record(logged)
                if "episode" in infos:
                    for scope, episodes in zip(scopes, episode_stats):
                        ended = infos["_episode"] if single else infos["_episode"][scope]
                        episodes.record(infos["episode"] if single else slice_tree(infos["episode"], scope), ended)
                observations, states = self.observations, self.states = next_observations, next_states
                timestep = self._after_steps(timestep, timestep + 1, timesteps, training, episode_stats, started, start, bar, stop)
        return self.stats

    def _after_steps(self, timestep: int, done_steps: int, timesteps: int, training: bool, episode_stats, started: float,
                     start: int, bar, stop) -> int:
        """Report, stop and checkpoint after the steps up to `done_steps`; returns where the loop goes on (`timesteps`
        when it ends here)."""
        if training:
            self.timestep = done_steps
        if (done_steps // self.report_interval > timestep // self.report_interval or done_steps == timesteps):
            stats = self._report(episode_stats, done_steps, timesteps, started, start, bar)
            if self.any_rank(stop(stats)):
                return timesteps
        if training and done_steps % self.update_period == 0:
            if self.any_rank(self.preempted):
                self.preempted = True
                self.write_checkpoints(done_steps)
                return timesteps
            if self.checkpoint_interval and done_steps % self.checkpoint_interval == 0:
                self.write_checkpoints(done_steps)
        return done_steps

    def _compiled_training(self):
        """The compiled rollout-and-update loop when cfg.compiled allows it and the env and agents can take it."""
        if self.cfg.compiled is False or self.framework != "jax":
            check(not self.cfg.compiled, "trainer", "compiled", True, "needs an MJX env with JAX PPO agents")
            return None
        from ..jax.compiled import CompiledTraining, compiled_is_faster, unsupported_reason

        reason = unsupported_reason(self.env, self.agents, self.scopes)
        check(not (self.cfg.compiled and reason), "trainer", "compiled", True, reason)
        if reason or (self.cfg.compiled is None and not compiled_is_faster(self.env, self.agents)):
            return None
        if self._compiled is None:  # built once: its programs compile at the first call and are reused by every train()
            self._compiled = CompiledTraining(self.env, self.agents)
        return self._compiled

    @contextlib.contextmanager
    def _preemption_signals(self):
        """While training, SIGTERM / SIGUSR1 / SIGINT ask the loop to checkpoint and return at the next update
        boundary."""
        self.preempted = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum, frame):
            if signum == signal.SIGINT and self.preempted:  # a second Ctrl-C: stop now, without a checkpoint
                raise KeyboardInterrupt
            self.preempted = True

        previous = {sig: signal.signal(sig, request_stop) for sig in dict.fromkeys(self.preemption_signals)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @staticmethod
    def _stop_condition(stop) -> StopCondition:
        if stop is None:
            return lambda stats: False
        if callable(stop):
            return stop
        conditions = list(stop)
        return lambda stats: any(condition(stats) for condition in conditions)

    # ---- reporting ----
    def _progress(self, start: int, total: int, description: str):
        disable = self.cfg.disable_progressbar
        if disable is None:
            disable = not sys.stdout.isatty()
        self._plain_lines = disable
        self._last_line = time.perf_counter()
        return tqdm(total=total, initial=start, desc=description, disable=disable, dynamic_ncols=True, file=sys.stdout)

    def _report(self, episode_stats: list[EpisodeStats], timestep: int, timesteps: int, started: float, started_step: int,
                bar) -> TrainStats:
        for stats in episode_stats:
            stats.flush()
        if hasattr(self.env, "check_finite"):
            self.env.check_finite()
        wall = time.perf_counter() - started
        returns = [s.mean_return for s in episode_stats if s.mean_return is not None]
        lengths = [s.mean_length for s in episode_stats if s.mean_length is not None]
        agents = []
        for tracked, stats in zip(self._tracked_means(), episode_stats):
            agents.append({"mean_return": stats.mean_return, "mean_length": stats.mean_length, **tracked})
        self.stats = TrainStats(
            timestep=timestep, env_steps=timestep * self.env.num_envs, wall_s=wall,
            env_steps_per_s=(timestep - started_step) * self.env.num_envs / max(wall, 1e-9),
            mean_return=sum(returns) / len(returns) if returns else None,
            mean_length=sum(lengths) / len(lengths) if lengths else None,
            episodes=sum(s.total_episodes for s in episode_stats), agents=agents, log=self._env_log.flush())
        bar.update(timestep - bar.n)
        text = f"{self.stats.env_steps_per_s:,.0f} env-steps/s  return {_fmt(self.stats.mean_return)}"
        bar.set_postfix_str(text, refresh=False)
        now = time.perf_counter()
        if self._plain_lines and (now - self._last_line >= 5.0 or timestep >= timesteps):
            self._last_line = now
            print(f"timestep {timestep}/{timesteps}  env-steps {self.stats.env_steps:,}  {text}  "
                  f"episodes {self.stats.episodes}", flush=True)
        if self._write_records:
            for logger in self.loggers:
                logger(self.stats.as_dict())
        return self.stats


def _scalars(entries: dict) -> dict:
    """The one-element entries of an info dict (skrl logs those alone; per-world arrays are left out)."""
    return {name: value for name, value in entries.items()
            if isinstance(value, (int, float)) or (hasattr(value, "shape") and math.prod(value.shape) == 1)}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
