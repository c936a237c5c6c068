"""Metric loggers for trainers (`trainer.loggers.append(logger)`): wandb and TensorBoard.

Each is a callable on the metrics dict of a report (TrainStats.as_dict()); `close()` ends it."""

from __future__ import annotations

import netrc
import os


def flatten_metrics(metrics: dict) -> dict[str, float]:
    """Numeric values only, agents' values under their tag (prefixed "agentN/" when there are several)."""
    flat = {
        key: value for key, value in metrics.items() if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    flat.update({f"env/{name}": value for name, value in (metrics.get("log") or {}).items()})  # e.g. env/reward/alive
    agents = metrics.get("agents") or []
    for index, agent in enumerate(agents):
        prefix = f"agent{index}/" if len(agents) > 1 else ""
        for key, value in agent.items():
            if isinstance(value, dict):
                flat.update({f"{prefix}{key}/{k}": v for k, v in value.items() if isinstance(v, (int, float))})
            elif isinstance(value, (int, float)) and value is not None:
                flat[f"{prefix}{key}"] = value
    return flat


def _wandb_key_available() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


class WandbLogger:
    """Logs metrics (and videos) to wandb. Without an API key, or when wandb cannot reach its server, the run is
    recorded offline in `directory` (upload later with `wandb sync`) instead of failing."""

    def __init__(
        self,
        directory: str,
        config: dict,
        project: str = "simtrain",
        entity: str | None = None,
        name: str | None = None,
        run_id: str | None = None,
        group: str | None = None,
    ):
        import wandb

        self._wandb = wandb
        mode = os.environ.get("WANDB_MODE") or ("online" if _wandb_key_available() else "offline")
        # create_new: the runs of several seeds trained in one process are logged side by side
        kwargs = dict(
            project=project,
            entity=entity,
            name=name,
            id=run_id,
            group=group,
            resume="allow",
            config=config,
            dir=directory,
            reinit="create_new",
        )
        try:
            self.run = wandb.init(mode=mode, settings=wandb.Settings(init_timeout=30), **kwargs)
        except Exception:  # no network or server: keep the metrics locally rather than lose the run
            if mode == "offline":
                raise
            self.run = wandb.init(mode="offline", **kwargs)
        self.mode = self.run.settings.mode

    def __call__(self, metrics: dict) -> None:
        self.run.log(flatten_metrics(metrics), step=int(metrics.get("timestep", 0)))

    def log_video(self, path: str, key: str = "video", fps: int = 50) -> None:
        self.run.log({key: self._wandb.Video(path, fps=fps, format="mp4")})

    def close(self) -> None:
        self.run.finish()


class TensorBoardLogger:
    """Writes metrics as TensorBoard scalars under `directory` (needs the `tensorboard` package)."""

    def __init__(self, directory: str):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=directory)

    def __call__(self, metrics: dict) -> None:
        step = int(metrics.get("timestep", 0))
        for key, value in flatten_metrics(metrics).items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
