"""Runner: models, memory, agent and trainer built from one YAML file (skrl-runner.txt's format).

The framework packages subclass it with their classes (`toolkit.torch.Runner`, `toolkit.jax.Runner`)."""

from __future__ import annotations

from .config import ConfigError
from .runner_cfg import RunnerCfg, load_yaml, parse_runner_cfg
from .trainers import SequentialTrainer


class RunnerBase:
    preprocessors: dict[str, type] = {}
    schedulers: dict[str, type] = {}

    @classmethod
    def resolve_class(cls, key: str, name: str) -> type:
        """A class name of the agent section -> the framework's class."""
        table = cls.schedulers if key == "learning_rate_scheduler" else cls.preprocessors
        if name not in table:
            raise ConfigError(f"agent.{key}: {name!r} is not allowed; choose one of {', '.join(table)}")
        return table[name]

    def __init__(self, env, cfg: dict):
        self._env = env
        self.cfg: RunnerCfg = parse_runner_cfg(cfg, self.resolve_class)
        memory_size = self.cfg.memory.memory_size
        self._agent = self.build_agent(env, self.cfg, self.cfg.agent.rollouts if memory_size < 0 else memory_size)
        self._trainer = SequentialTrainer(env=env, agents=self._agent, cfg=self.cfg.trainer)

    def build_agent(self, env, cfg: RunnerCfg, memory_size: int):
        raise NotImplementedError

    @property
    def agent(self):
        return self._agent

    @property
    def trainer(self) -> SequentialTrainer:
        return self._trainer

    @staticmethod
    def load_cfg_from_yaml(path: str) -> dict:
        return load_yaml(path)

    def run(self, mode: str = "train", **kwargs):
        if mode == "train":
            return self._trainer.train(**kwargs)
        if mode == "eval":
            return self._trainer.eval(**kwargs)
        raise ValueError(f"mode: {mode!r} is not allowed; choose train or eval")


FRAMEWORKS = ("torch", "jax")


def runner_class(framework: str) -> type[RunnerBase]:
    """toolkit.torch.Runner or toolkit.jax.Runner, importing only that framework."""
    if framework == "torch":
        from .torch import Runner
    elif framework == "jax":
        from .jax import Runner
    else:
        raise ValueError(f"framework: {framework!r} is not allowed; choose one of {', '.join(FRAMEWORKS)}")
    return Runner
