"""rl8's trainer interface on top of SequentialTrainer: step() collects one rollout and updates, eval() runs
episodes without learning, run() steps until a stop condition holds."""

from __future__ import annotations

from .base import StopCondition, TrainStats
from .sequential import SequentialTrainer

_UNBOUNDED = 2**62


class Trainer:
    """rl8's Trainer: `Trainer(env, agent).step()` collects one rollout and updates. env: a wrapped VecEnv; agent:
    one agent built for it (e.g. by a Runner, or toolkit.torch.PPO); eval_timesteps: the length of eval() (default:
    the env's episode time limit). Its SequentialTrainer runs headless, one report per step()."""

    def __init__(self, env, agent, *, eval_timesteps: int | None = None):
        self.env, self.agent = env, agent
        self._sequential = SequentialTrainer(
            env=env,
            agents=agent,
            cfg={
                "timesteps": _UNBOUNDED,
                "headless": True,
                "disable_progressbar": True,
                "close_environment_at_exit": False,
            },
        )
        self._sequential.report_interval = agent.cfg.rollouts  # one report per step()
        self.eval_timesteps = eval_timesteps or getattr(env.unwrapped, "max_episode_steps", 0) or 1000
        self.loggers = self._sequential.loggers

    @property
    def timestep(self) -> int:
        return self._sequential.timestep

    def step(self) -> TrainStats:
        """Collect one rollout (`rollouts` steps of every world) and update the agent; returns the stats, the
        update's losses in `stats.agents[0]`."""
        self._sequential.cfg.timesteps = self._sequential.timestep + self.agent.cfg.rollouts
        return self._sequential.train()

    def eval(self, *, deterministic: bool = True, timesteps: int | None = None) -> TrainStats:
        """Run the policy without learning for `timesteps` (default: one time limit) from fresh episodes."""
        self._sequential.cfg.stochastic_evaluation = not deterministic
        return self._sequential.eval(timesteps=timesteps or self.eval_timesteps)

    def run(
        self, *, stop_conditions: list[StopCondition] | None = None, steps_per_eval: int | None = None
    ) -> TrainStats:
        """step() until one of `stop_conditions` holds (forever without any); eval() every `steps_per_eval`
        steps, its stats under `stats.agents[0]["eval"]`."""
        conditions = list(stop_conditions or [])
        steps = 0
        while True:
            stats = self.step()
            steps += 1
            if steps_per_eval and steps % steps_per_eval == 0:
                evaluation = self.eval()
                stats.agents[0]["eval"] = {"mean_return": evaluation.mean_return, "mean_length": evaluation.mean_length}
            if any(condition(stats) for condition in conditions):
                return stats
