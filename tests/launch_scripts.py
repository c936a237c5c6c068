"""The launch/ scripts as modules for tests (they are scripts, run by path, not imported as a package)."""

import importlib.util
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
