"""How a launch script ends: its result, or one line on stderr.

Errors a user can act on (bad input, a damaged checkpoint, a blow-up, a full disk) are one line; anything else is
one line too, plus the path of a log file that holds its traceback. SIGTERM and SIGINT end a script at once
(training installs its own handlers, which checkpoint first)."""

from __future__ import annotations

import contextlib
import datetime
import errno
import os
import re
import signal
import sys
import tempfile
import traceback
from typing import Callable, Iterator, TypeVar

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


@contextlib.contextmanager
def one_line_parse_errors() -> Iterator[None]:
    """tyro's parse errors inside the block as one-line ValueErrors naming the flag, the value and what is allowed
    (run_main prints them), instead of its boxes. Uses tyro's parse-error hook (`tyro._errors`, private: the pinned
    tyro version has it); without the hook tyro's own messages stay."""
    try:
        from tyro import _errors
    except ImportError:  # another tyro: its own boxes
        yield
        return
    if not hasattr(_errors, "on_parse_error"):
        yield
        return

    def raise_one_line(event) -> None:
        line = _parse_error_line(_errors, event)
        if line is not None:
            raise ValueError(line)

    with _errors.on_parse_error(raise_one_line):
        yield


def _parse_error_line(_errors, event) -> str | None:
    def flag(argument) -> str:
        return "/".join(argument.lowered.name_or_flags) or str(argument.lowered.metavar)

    def expected(argument) -> str:
        return f"expected {argument.lowered.metavar}" if argument.lowered.metavar else "see --help"

    if isinstance(event, _errors.InstantiationFailure):
        message = " ".join(str(event.message).split())  # tyro's multi-line reasons on one line
        if event.argument is None:  # a configuration's own check, already naming its field
            return message
        union = re.match(r"no type matching .* could be instantiated from (\[.*?\])\.", message)
        if union:  # X | None: tyro lists each member's failure; the value and the metavar say it all
            return f"{flag(event.argument)}: {union.group(1)} is not allowed; {expected(event.argument)}"
        return f"{flag(event.argument)}: {message}; {expected(event.argument)}"
    if isinstance(event, _errors.InvalidChoice):
        return f"{flag(event.argument)}: {event.value!r} is not allowed; choose one of {', '.join(event.choices)}"
    if isinstance(event, _errors.BadValue):
        if event.offending_value is None:
            return f"{flag(event.argument)}: too few values; {expected(event.argument)}"
        return f"{flag(event.argument)}: {event.offending_value!r} is not allowed; {expected(event.argument)}"
    if isinstance(event, _errors.UnrecognizedArgs):
        return f"{event.tokens[0]}: unknown flag; see --help"
    if isinstance(event, _errors.MissingArgs):
        names = ", ".join(flag(missing.arg) for missing in event.missing_arguments)
        return f"{names}: required; see --help"
    return None
