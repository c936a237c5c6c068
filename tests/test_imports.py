"""Import separation: one framework's package never loads the other's, the torch path of train.py loads no JAX,
and toolkit's modules import each other without a cycle (module-level imports; none hidden inside functions to
break one)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("jax", "jaxlib", "optax", "torch")


def _loaded_frameworks(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & {set(FRAMEWORKS)!r}))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(ast.literal_eval(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module, loaded", [
    ("toolkit", set()),
    ("toolkit.trainers", set()),
    ("toolkit.torch", {"torch"}),
    ("toolkit.jax", {"jax", "jaxlib", "optax"}),
])  # fmt: skip
def test_a_framework_package_loads_only_its_framework(module, loaded):
    assert _loaded_frameworks(f"import {module}") == loaded


def test_the_torch_path_of_train_py_on_warp_loads_no_jax(tmp_path):
    code = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("train_script", "launch/train.py")
train_script = sys.modules["train_script"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_script)
train_script.train(train_script.TrainArgs(num_envs=8, timesteps=16, headless=True, stop_when_solved=False,
                                          runs_dir={str(tmp_path)!r}))
"""
    assert _loaded_frameworks(code) == {"torch"}


def _module_imports(path: Path, package: str) -> set[str]:
    """The toolkit modules a file imports at module level (functions' imports are left out: they are what hid a
    cycle before)."""
    targets = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if node.module:  # `from . import agents` imports the submodule; its package is already under way
                targets.add(module)
            targets.update(f"{module}.{alias.name}" for alias in node.names)
    return {target for target in targets if target.split(".")[0] == "toolkit"}


def test_toolkit_has_no_import_cycle():
    modules = {}
    for path in (ROOT / "toolkit").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if parts[-1] == "__init__" else ".".join(parts[:-1])
        modules[name] = path, package
    graph = {
        name: _module_imports(path, package) & modules.keys() - {name} for name, (path, package) in modules.items()
    }
    visiting, done = [], set()

    def visit(name):
        if name in visiting:
            raise AssertionError("import cycle: " + " -> ".join([*visiting[visiting.index(name) :], name]))
        if name in done:
            return
        visiting.append(name)
        for target in sorted(graph[name]):
            visit(target)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)
