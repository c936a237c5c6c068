"""The launch/ scripts for tests: as modules (they are scripts, run by path, not imported as a package) and as the
child processes users start from the command line."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

LAUNCH = Path(__file__).resolve().parents[1] / "launch"


def load_launch_script(name: str, module_name: str | None = None):
    """A fresh module of launch/<name>.py, registered in sys.modules as `module_name` (default: `name`) before it
    runs, because dataclasses look their module up while it is being defined; a test file that needs its own copy
    of a script (its own module-level state) gives its own `module_name`."""
    spec = importlib.util.spec_from_file_location(module_name or name, LAUNCH / f"{name}.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def launch_command(name: str, *args) -> list[str]:
    """The command line of launch/<name>.py with these arguments, run by this test's Python."""
    return [sys.executable, str(LAUNCH / f"{name}.py"), *map(str, args)]


def _unbuffered(env: dict | None) -> dict:
    # unbuffered: a child stopped by a timeout or a signal has still written everything it printed
    return {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}


def run_launch_script(name: str, *args, cwd=None, env: dict | None = None, timeout: float = 600):
    """Run launch/<name>.py to its end in a child process; its output is captured as text (CompletedProcess)."""
    return subprocess.run(
        launch_command(name, *args), cwd=cwd, env=_unbuffered(env), capture_output=True, text=True, timeout=timeout
    )


def start_launch_script(name: str, *args, cwd=None, env: dict | None = None, **popen) -> subprocess.Popen:
    """Start launch/<name>.py in a child process and return at once (for signals and preemption); stdout and stderr
    are pipes of text unless `popen` says otherwise."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen(launch_command(name, *args), cwd=cwd, env=_unbuffered(env), **popen)
