"""What every trainer shares: configuration, agent scopes, reporting (progress bar or plain lines), stop checks."""

from __future__ import annotations

import atexit
import dataclasses
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from tqdm import tqdm

from ..config import check, from_dict
from ..experiment import resolve_interval
from .episode_stats import EpisodeStats


@dataclass
class TrainerCfg:
    timesteps: int = 100000
    headless: bool = False
    render_interval: int = 1
    disable_progressbar: bool | None = False  # None: disable when stdout is not a terminal
    close_environment_at_exit: bool = True
    environment_info: str = "episode"
    stochastic_evaluation: bool = False


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

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


StopCondition = Callable[[TrainStats], bool]
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


class Trainer:
    cfg_class: type = TrainerCfg

    def __init__(self, *, env, agents, scopes: list[int] | None = None, cfg: Any = None):
        self.cfg = from_dict(self.cfg_class, cfg, "trainer")
        check(self.cfg.timesteps > 0, "trainer", "timesteps", self.cfg.timesteps, "must be > 0")
        self.env = env
        self.agents = list(agents) if isinstance(agents, (list, tuple)) else [agents]
        self.scopes = split_scopes(env.num_envs, len(self.agents), scopes)
        self.framework = getattr(env, "framework", "torch")
        self.loggers: list[MetricsLogger] = []
        self.timestep = 0  # where train() starts: a resumed run sets it
        self.stats = TrainStats()
        for agent in self.agents:
            agent.init(trainer_cfg=dataclasses.asdict(self.cfg))
        experiment = getattr(self.agents[0].cfg, "experiment", None)
        self.report_interval = resolve_interval(getattr(experiment, "write_interval", "auto"), self.cfg.timesteps, 100)
        if self.cfg.close_environment_at_exit:
            atexit.register(self._close_env)

    def _close_env(self) -> None:
        try:
            self.env.close()
        except Exception:  # the process is ending; a close error must not hide the real exit status
            pass

    # ---- reporting ----
    def _progress(self, start: int, total: int, description: str):
        disable = self.cfg.disable_progressbar
        if disable is None:
            disable = not sys.stdout.isatty()
        self._plain_lines = disable
        self._last_line = time.perf_counter()
        return tqdm(total=total, initial=start, desc=description, disable=disable, dynamic_ncols=True, file=sys.stdout)

    def _report(self, episode_stats: list[EpisodeStats], timestep: int, started: float, started_step: int, bar) -> TrainStats:
        for stats in episode_stats:
            stats.flush()
        if hasattr(self.env, "check_finite"):
            self.env.check_finite()
        wall = time.perf_counter() - started
        returns = [s.mean_return for s in episode_stats if s.mean_return is not None]
        lengths = [s.mean_length for s in episode_stats if s.mean_length is not None]
        agents = []
        for agent, stats in zip(self.agents, episode_stats):
            tracked = {tag: sum(values) / len(values) for tag, values in agent.tracking_data.items() if values}
            agent.tracking_data.clear()
            agents.append({"mean_return": stats.mean_return, "mean_length": stats.mean_length, **tracked})
        self.stats = TrainStats(
            timestep=timestep, env_steps=timestep * self.env.num_envs, wall_s=wall,
            env_steps_per_s=(timestep - started_step) * self.env.num_envs / max(wall, 1e-9),
            mean_return=sum(returns) / len(returns) if returns else None,
            mean_length=sum(lengths) / len(lengths) if lengths else None,
            episodes=sum(s.total_episodes for s in episode_stats), agents=agents)
        bar.update(timestep - bar.n)
        text = f"{self.stats.env_steps_per_s:,.0f} env-steps/s  return {_fmt(self.stats.mean_return)}"
        bar.set_postfix_str(text, refresh=False)
        now = time.perf_counter()
        if self._plain_lines and (now - self._last_line >= 5.0 or timestep >= self.cfg.timesteps):
            self._last_line = now
            print(f"timestep {timestep}/{self.cfg.timesteps}  env-steps {self.stats.env_steps:,}  {text}  "
                  f"episodes {self.stats.episodes}", flush=True)
        for logger in self.loggers:
            logger(self.stats.as_dict())
        return self.stats


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
