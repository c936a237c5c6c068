"""What the torch and JAX PPO agents share: the trainer-facing hooks around their framework-specific parts."""

from __future__ import annotations

import os
from collections import defaultdict

from .checkpoint import NonFiniteError, nonfinite_entry


class AgentBase:
    def __init__(self):
        self.training = True
        self.tracking_data: dict[str, list[float]] = defaultdict(list)
        self.experiment_dir = ""
        self._rollout = 0  # steps recorded since the last update boundary

    def init(self, *, trainer_cfg: dict | None = None) -> None:
        self.experiment_dir = self.cfg.experiment.path(type(self).__name__)

    def pre_interaction(self, *, timestep: int, timesteps: int) -> None:
        pass

    def post_interaction(self, *, timestep: int, timesteps: int) -> None:
        """Called by the trainer after each recorded step (`timestep` of `timesteps`): in training, `update()` after
        every cfg.rollouts steps, once cfg.learning_starts has passed."""
        self._rollout += 1
        if (
            self.training
            and self.memory is not None
            and self._rollout % self.cfg.rollouts == 0
            and timestep >= self.cfg.learning_starts
        ):
            self.update(timestep=timestep, timesteps=timesteps)

    @property
    def name(self) -> str:
        """How errors name this agent: its class and experiment folder."""
        return f"{type(self).__name__} ({self.experiment_dir})" if self.experiment_dir else type(self).__name__

    def nonfinite_error(self, quantity: str, timestep: int | None) -> NonFiniteError:
        when = f" at timestep {timestep}" if timestep is not None else ""
        return NonFiniteError(
            f"agent {self.name}: non-finite {quantity}{when}; the update was stopped and no checkpoint "
            "holds it (last.pt and best.pt, where written, keep the last good state). Lower agent.learning_rate, set "
            "agent.grad_norm_clip, or check the rewards and observations"
        )

    def check_checkpoint_finite(self, state: dict, path: str) -> None:
        """Refuse to write a checkpoint holding NaN or inf."""
        bad = nonfinite_entry(state)
        if bad is not None:
            raise NonFiniteError(
                f"agent {self.name}: non-finite value in {bad}; checkpoint {path} was not written "
                "(last.pt and best.pt keep the last good state)"
            )

    def track_data(self, tag: str, value: float) -> None:
        self.tracking_data[tag].append(value)

    def export(self, path: str, *, formats=None, metadata: dict | None = None) -> dict[str, str]:
        """Write the deterministic policy (observation normaliser included) to the folder `path`: policy.onnx, and
        policy.pt (TorchScript) for torch agents, with policy.json beside them; see toolkit.export (which imports no
        framework: the agent describes itself with its `policy_graph()`). Returns {format: path}."""
        from .export import export_policy

        return export_policy(self, path, formats=formats, metadata=metadata)

    def write_checkpoint(self, *, timestep: int, timesteps: int) -> str:
        """skrl's name: checkpoints/agent_<timestep>.pt in the experiment folder."""
        path = os.path.join(self.experiment_dir, "checkpoints", f"agent_{timestep}.pt")
        self.save(path, extra={"timestep": timestep})
        return path
