"""Runner: models, memory, agent and trainer built from one YAML file (skrl-runner.txt's format).

The framework packages subclass it with their classes (`toolkit.torch.Runner`, `toolkit.jax.Runner`)."""

from __future__ import annotations

import copy
import dataclasses

from .config import ConfigError, check
from .registry import FRAMEWORK_PACKAGES, AgentEntry, env_framework, find_agent, runner_class
from .runner_cfg import RunnerCfg, load_yaml, parse_runner_cfg
from .trainers import SequentialTrainer


class RunnerBase:
    """skrl's Runner: `Runner(env, cfg).run("train")`. env: a wrapped VecEnv (envs.wrap_env) of the subclass's
    framework; cfg: the YAML's mapping (load_cfg_from_yaml) with the sections seed, models, memory, agent and
    trainer, validated here (ConfigError, one line, naming the key). `agent` and `trainer` are what it built."""

    framework: str = ""  # the registry's framework name of the subclass's agents
    preprocessors: dict[str, type] = {}
    schedulers: dict[str, type] = {}

    @classmethod
    def resolve_class(cls, key: str, name: str) -> type | AgentEntry:
        """A class name of the agent section -> the framework's class; for key "agent", the agent's registry entry
        (a registered name or dotted class path)."""
        if key == "agent":
            return find_agent(cls.framework, name)
        table = cls.schedulers if key == "learning_rate_scheduler" else cls.preprocessors
        if name not in table:
            raise ConfigError(f"agent.{key}: {name!r} is not allowed; choose one of {', '.join(table)}")
        return table[name]

    def __init__(self, env, cfg: dict, seeds: list[int] | None = None):
        """`seeds`: train one independent agent per seed, each on an equal slice of the env's worlds and with its
        own experiment folder (`<experiment>/seed_<seed>`); the trainer vmaps them when they take the compiled path."""
        self._env = env
        self.cfg: RunnerCfg = parse_runner_cfg(cfg, self.resolve_class)
        memory_size = self.cfg.memory.memory_size
        memory_size = self.cfg.agent.rollouts if memory_size < 0 else memory_size
        if not seeds:
            self._agent = self.build_agent(env, self.cfg, memory_size)
        else:
            check(
                env.num_envs % len(seeds) == 0,
                "runner",
                "seeds",
                seeds,
                f"expected a count that divides the env's {env.num_envs} worlds",
            )
            scope = _ScopeView(env, env.num_envs // len(seeds))
            self._agent = [self.build_agent(scope, self._seed_cfg(seed), memory_size) for seed in seeds]
        self._trainer = SequentialTrainer(env=env, agents=self._agent, cfg=self.cfg.trainer)

    def _seed_cfg(self, seed: int) -> RunnerCfg:
        experiment = self.cfg.agent.experiment
        base = experiment.path(self.cfg.agent_class)
        agent = dataclasses.replace(
            self.cfg.agent,
            experiment=dataclasses.replace(copy.deepcopy(experiment), directory=base, experiment_name=f"seed_{seed}"),
        )
        return dataclasses.replace(self.cfg, seed=seed, agent=agent)

    def build_agent(self, env, cfg: RunnerCfg, memory_size: int):
        """The agent `cfg.agent_class` names (found in the registry), with its models and memory, for `env`."""
        raise NotImplementedError

    @property
    def agent(self):
        """The agent (a list of them when the runner was given seeds)."""
        return self._agent

    @property
    def trainer(self) -> SequentialTrainer:
        return self._trainer

    @staticmethod
    def load_cfg_from_yaml(path: str) -> dict:
        """The YAML file at `path` as a mapping (class names still strings: the constructor resolves them)."""
        return load_yaml(path)

    def run(self, mode: str = "train", **kwargs):
        """The trainer's train() or eval() (`kwargs`: theirs, e.g. stop=...); returns its TrainStats."""
        if mode == "train":
            return self._trainer.train(**kwargs)
        if mode == "eval":
            return self._trainer.eval(**kwargs)
        raise ValueError(f"mode: {mode!r} is not allowed; choose train or eval")


FRAMEWORKS = tuple(FRAMEWORK_PACKAGES)
__all__ = ["FRAMEWORKS", "RunnerBase", "env_framework", "runner_class"]  # toolkit.registry's, kept here for scripts


class _ScopeView:
    """The env as one agent of several sees it: the same spaces and device, its own share of the worlds."""

    def __init__(self, env, num_envs: int):
        self._env, self.num_envs = env, num_envs

    def __getattr__(self, name):
        return getattr(self._env, name)
