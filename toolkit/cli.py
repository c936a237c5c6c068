"""How a launch script ends: its result, or one line on stderr.

Errors a user can act on (bad input, a damaged checkpoint, a blow-up, a full disk) are one line; anything else is
one line too, plus the path of a log file that holds its traceback. SIGTERM and SIGINT end a script at once
(training installs its own handlers, which checkpoint first)."""

from __future__ import annotations

import datetime
import errno
import os
import signal
import sys
import tempfile
import traceback
from typing import Callable, TypeVar

from envs import SimulationError

from .checkpoint import CheckpointError, NonFiniteError

T = TypeVar("T")
USAGE_ERRORS = (ValueError, CheckpointError)  # ConfigError is a ValueError; exit status 2, as argparse's
FAULTS = (NonFiniteError, SimulationError)  # exit status 1


class Terminated(BaseException):
    """SIGTERM outside training (which checkpoints on it instead): end now, as Ctrl-C does."""


def _terminate(signum, frame):
    raise Terminated


def run_main(script: str, work: Callable[[], T], run_dir: Callable[[], str | None] = lambda: None) -> T:
    """Run `work()`; on an error print one line and exit (2: bad input, 1: a fault, 130/143: interrupted)."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return work()
    except KeyboardInterrupt:
        _exit(f"{script}: interrupted (SIGINT)", 130)
    except Terminated:
        _exit(f"{script}: terminated (SIGTERM)", 143)
    except USAGE_ERRORS as error:
        _exit(f"error: {error}", 2)
    except FAULTS as error:
        _exit(f"error: {error}", 1)
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        reason = "the disk is full" if error.errno == errno.ENOSPC else (error.strerror or str(error))
        _exit(f"error: {where}{reason}{_logged(script, run_dir())}", 1)
    except Exception as error:  # a bug or an unforeseen case: one line, the traceback in a file
        _exit(
            f"error: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            f"{_logged(script, run_dir())}",
            1,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit(line: str, status: int):
    print(line, file=sys.stderr, flush=True)
    sys.exit(status)


def _logged(script: str, run_dir: str | None) -> str:
    """Write the traceback being handled to <run_dir>/error.log (or a temporary file); returns ' (traceback in
    PATH)', or '' when even that cannot be written."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    candidates = [os.path.join(run_dir, "error.log")] if run_dir and os.path.isdir(run_dir) else []
    candidates.append(os.path.join(tempfile.gettempdir(), f"simtrain-{script}-{stamp}-{os.getpid()}.log"))
    for path in candidates:
        try:
            with open(path, "a") as handle:
                handle.write(f"{stamp} {' '.join(sys.argv)}\n{traceback.format_exc()}\n")
            return f" (traceback in {path})"
        except OSError:
            continue
    return ""
