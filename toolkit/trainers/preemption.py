"""Preemption: the signals cluster schedulers send before they kill a job (and Ctrl-C) ask a training loop to
checkpoint and return at its next update boundary, instead of ending the process."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

PREEMPTION_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


class PreemptionSignals:
    """`requested` turns True when one of the signals arrives while `installed(signals)` is active; a second SIGINT
    raises KeyboardInterrupt at once (stop now, without a checkpoint). Handlers are installed only on the main thread
    (Python's rule) and the previous ones come back on exit."""

    def __init__(self):
        self.requested = False

    def _handle(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.requested:
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def installed(self, signals: tuple = PREEMPTION_SIGNALS) -> Iterator["PreemptionSignals"]:
        self.requested = False
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self._handle) for sig in dict.fromkeys(signals)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
