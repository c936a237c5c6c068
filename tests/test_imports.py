"""Import separation: one framework's package never loads the other's, the torch path of train.py loads no JAX,
and toolkit's modules import each other without a cycle (imports inside functions included: none hides one)."""

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
    """The toolkit modules a file imports anywhere (at module level and inside functions: an import inside a function
    only hides a cycle until that function runs), each with its parent packages, which Python imports first."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            targets.add(module)
            targets.update(f"{module}.{alias.name}" for alias in node.names)
    with_parents = {".".join(target.split(".")[:end]) for target in targets for end in range(1, target.count(".") + 2)}
    return {target for target in with_parents if target.split(".")[0] == "toolkit"}


def test_toolkit_has_no_import_cycle():
    """No chain of imports leads from a toolkit module back to itself (a module importing its own packages aside:
    they are under way when it runs). agent_base -> export -> export.from_jax -> jax -> jax.ppo -> agent_base was
    one, hidden inside functions, until each framework's exporter moved into its own package."""
    modules = {}
    for path in (ROOT / "toolkit").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if parts[-1] == "__init__" else ".".join(parts[:-1])
        modules[name] = path, package
    graph = {}
    for name, (path, package) in modules.items():
        own_packages = {".".join(name.split(".")[:end]) for end in range(1, name.count(".") + 2)}
        graph[name] = _module_imports(path, package) & modules.keys() - own_packages
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
