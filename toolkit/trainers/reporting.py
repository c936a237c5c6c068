"""When a trainer reports, and how: a progress bar on a terminal, plain lines when headless, metric loggers."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator

from tqdm import tqdm

from ..experiment import resolve_interval
from .stats import TrainStats

MetricsLogger = Callable[[dict], None]
PLAIN_LINE_S = 5.0  # seconds between plain progress lines (and one at the end)


class Reporter:
    """The report cadence (skrl's write_interval) and the places a report goes.

    write_interval: timesteps between metric records ("auto": timesteps / 100); 0 writes no records, while reports
    (stop conditions, the finite check, the progress line) go on at auto's cadence, so nothing but the records is lost.
    disable_progressbar: None disables the bar when stdout is not a terminal; with it off, plain lines are printed.
    """

    def __init__(self, write_interval: int | str, timesteps: int, disable_progressbar: bool | None):
        self.interval = resolve_interval(write_interval, timesteps, 100)
        self.write_records = self.interval > 0
        if not self.write_records:
            self.interval = resolve_interval("auto", timesteps, 100)
        self.disable_progressbar = disable_progressbar
        self.loggers: list[MetricsLogger] = []

    def due(self, before: int, after: int, end: int) -> bool:
        """Whether the steps from `before` to `after` cross a report boundary (or reach the end)."""
        return after // self.interval > before // self.interval or after == end

    @contextlib.contextmanager
    def window(self, start: int, end: int, description: str) -> Iterator["Progress"]:
        """The progress display of one train() or eval() call, from `start` to `end` timesteps."""
        disable = self.disable_progressbar
        if disable is None:
            disable = not sys.stdout.isatty()
        bar = tqdm(total=end, initial=start, desc=description, disable=disable, dynamic_ncols=True, file=sys.stdout)
        with bar:
            yield Progress(self, bar, start, end, plain_lines=disable)


class Progress:
    """One train() or eval() call's display: where it started (for its rate) and its bar or plain lines."""

    def __init__(self, reporter: Reporter, bar, start: int, end: int, plain_lines: bool):
        self.reporter, self.bar, self.start, self.end = reporter, bar, start, end
        self.plain_lines = plain_lines
        self.started = self.last_line = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def show(self, stats: TrainStats) -> None:
        """Update the bar or print a plain line (at most every PLAIN_LINE_S, and at the end), and hand the report
        to the loggers (unless records are off)."""
        self.bar.update(stats.timestep - self.bar.n)
        text = f"{stats.env_steps_per_s:,.0f} env-steps/s  return {_fmt(stats.mean_return)}"
        self.bar.set_postfix_str(text, refresh=False)
        now = time.perf_counter()
        if self.plain_lines and (now - self.last_line >= PLAIN_LINE_S or stats.timestep >= self.end):
            self.last_line = now
            steps = f"timestep {stats.timestep}/{self.end}  env-steps {stats.env_steps:,}"
            print(f"{steps}  {text}  episodes {stats.episodes}", flush=True)
        if self.reporter.write_records:
            for logger in self.reporter.loggers:
                logger(stats.as_dict())


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
