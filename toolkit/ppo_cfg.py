"""PPO_CFG: skrl's PPO configuration fields and defaults, shared by the torch and JAX agents."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from .config import ConfigError, check, validate
from .experiment import ExperimentCfg


@dataclass
class PPO_CFG:  # noqa: N801  (skrl's name)
    experiment: ExperimentCfg = field(default_factory=ExperimentCfg)
    rollouts: int = 16
    learning_epochs: int = 8
    mini_batches: int = 2
    discount_factor: float = 0.99
    gae_lambda: float = 0.95
    learning_rate: float | tuple = 1e-3
    learning_rate_scheduler: Any = None  # a class, or None
    learning_rate_scheduler_kwargs: dict | tuple = field(default_factory=dict)
    observation_preprocessor: Any = None
    observation_preprocessor_kwargs: dict = field(default_factory=dict)
    state_preprocessor: Any = None
    state_preprocessor_kwargs: dict = field(default_factory=dict)
    value_preprocessor: Any = None
    value_preprocessor_kwargs: dict = field(default_factory=dict)
    random_timesteps: int = 0
    learning_starts: int = 0
    grad_norm_clip: float = 0.5
    ratio_clip: float = 0.2
    value_clip: float = 0.2
    entropy_loss_scale: float = 0.0
    value_loss_scale: float = 2.5
    kl_threshold: float = 0.0
    time_limit_bootstrap: bool = False
    rewards_shaper: Callable | None = None
    mixed_precision: bool = False
    # the Warp agent: replay its fixed launch sequences (acting, recording, each update epoch) as captured graphs;
    # False launches its kernels one by one and reads its losses on the host per minibatch. Torch and JAX ignore it.
    graph_capture: bool = True

    def validate(self, section: str = "agent") -> "PPO_CFG":
        validate(self, section)
        for name in ("rollouts", "learning_epochs", "mini_batches"):
            value = getattr(self, name)
            check(value >= 1, section, name, value, "must be >= 1")
        for name in ("discount_factor", "gae_lambda"):
            value = getattr(self, name)
            check(0.0 <= value <= 1.0, section, name, value, "must be in [0, 1]")
        rates = self.learning_rate if isinstance(self.learning_rate, tuple) else (self.learning_rate,)
        check(
            all(0 < rate < 3.4e38 for rate in rates),
            section,
            "learning_rate",
            self.learning_rate,
            "must be > 0 and finite in float32 (< 3.4e38)",
        )
        check(self.ratio_clip > 0, section, "ratio_clip", self.ratio_clip, "must be > 0")
        for name in ("write_interval", "checkpoint_interval"):
            value = getattr(self.experiment, name)
            check(
                value == "auto" or value >= 0, f"{section}.experiment", name, value, "must be 'auto' or >= 0 (0: never)"
            )
        _check_kwargs(
            section,
            "learning_rate_scheduler_kwargs",
            self.learning_rate_scheduler,
            self.learning_rate_scheduler_kwargs,
            given_by_agent=("optimizer",),
        )
        for name in ("observation_preprocessor", "state_preprocessor", "value_preprocessor"):
            _check_kwargs(
                section,
                f"{name}_kwargs",
                getattr(self, name),
                getattr(self, f"{name}_kwargs"),
                given_by_agent=("size", "device"),
            )
        return self


def _check_kwargs(section: str, name: str, cls: Any, kwargs: dict | tuple, given_by_agent: tuple[str, ...]) -> None:
    """The keyword arguments of a configured class (scheduler, preprocessor) against its signature, so that a typo is
    a one-line error here rather than a TypeError once the env is built."""
    kwargs = (kwargs[0] if isinstance(kwargs, tuple) and kwargs else kwargs) or {}
    if cls is None or not isinstance(kwargs, dict) or not kwargs:
        return
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # a builtin without a signature: let it check its own arguments
        return
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()):
        return
    allowed = [key for key in parameters if key not in (*given_by_agent, "self")]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{section}.{name}.{unknown[0]}: unknown key of {getattr(cls, '__name__', cls)}; allowed: "
            f"{', '.join(allowed) or 'none'}"
        )
