"""skrl's model-instantiator grammar (skrl 1.x/2.x), framework-independent: a model's `network` (named blocks, each
fed by an `input` expression and made of `layers` with `activations`) and its `output` expression (`ACTIONS`,
`ONE`, `tanh(ACTIONS)`, `2 * tanh(ACTIONS)`, ...).

A file is parsed once into a `NetworkPlan` of `Block`s and `Expr`s; the torch and JAX builders turn the same plan
into their modules, so both frameworks read a file the same way. Expressions are read with Python's `ast` and
evaluated by a closure over the framework's functions, never by `eval`. What simtrain cannot build (conv2d,
permute, one-hot inputs, dict indexing, ...) is a one-line ConfigError naming the key, the value and what is allowed.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .config import ConfigError

# Inputs a PPO model is given. skrl 2.x feeds STATES from the env's state space (privileged observations); simtrain's
# envs have none yet, so STATES are the observations (see README, "Bring your skrl YAML").
INPUT_TOKENS = ("OBSERVATIONS", "STATES")
OUTPUT_TOKENS = {"policy": "ACTIONS", "value": "ONE"}
# layer widths skrl lets a file write as a name
SIZE_TOKENS = ("NUM_OBSERVATIONS", "NUM_STATES", "NUM_ACTIONS", "ONE", "OBSERVATIONS", "STATES", "ACTIONS")
# skrl's activation names, plus simtrain's own (gelu, silu, identity); "" or null: none
ACTIVATIONS = (
    "elu",
    "leaky_relu",
    "relu",
    "selu",
    "sigmoid",
    "softmax",
    "softplus",
    "softsign",
    "tanh",
    "gelu",
    "silu",
    "identity",
)
BLOCK_KEYS = ("name", "input", "layers", "activations")
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_NOT_BUILT = {
    "permute": "permute reorders image axes; simtrain's observations are flat vectors",
    "one_hot_encoding": "one_hot_encoding needs a Discrete observation space; simtrain's observations are a Box",
}


def action_size(action_space) -> int:
    """What ACTIONS / NUM_ACTIONS stand for: the action count (Discrete) or the action vector's size (Box)."""
    n = getattr(action_space, "n", None)
    return int(n) if n is not None else int(np.prod(action_space.shape))


def _error(where: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{where}: {value!r} is not allowed; {allowed}")


@dataclass(frozen=True)
class Expr:
    """An input or output expression. `tree` is nested tuples: ("ref", name), ("num", value), ("call", function,
    argument), ("cat", (arguments...)), ("bin", operator, left, right), ("neg", x), ("index", x, key)."""

    source: str
    tree: tuple

    def names(self) -> set[str]:
        found: set[str] = set()

        def visit(node):
            kind = node[0]
            if kind == "ref":
                found.add(node[1])
            elif kind == "call":
                visit(node[2])
            elif kind == "cat":
                for item in node[1]:
                    visit(item)
            elif kind == "bin":
                visit(node[2])
                visit(node[3])
            elif kind in ("neg", "index"):
                visit(node[1])

        visit(self.tree)
        return found

    @property
    def is_ref(self) -> bool:
        return self.tree[0] == "ref"

    def compile(self, functions: dict[str, Callable], concatenate: Callable) -> Callable[[dict], Any]:
        """A function of {name: array} built once from the framework's activation functions and concatenation."""

        def build(node) -> Callable[[dict], Any]:
            kind = node[0]
            if kind == "ref":
                name = node[1]
                return lambda env: env[name]
            if kind == "num":
                value = node[1]
                return lambda env: value
            if kind == "call":
                function, argument = functions[node[1]], build(node[2])
                return lambda env: function(argument(env))
            if kind == "cat":
                items = [build(item) for item in node[1]]
                return lambda env: concatenate([item(env) for item in items])
            if kind == "bin":
                op, left, right = _ARITHMETIC[node[1]], build(node[2]), build(node[3])
                return lambda env: op(left(env), right(env))
            if kind == "neg":
                inner = build(node[1])
                return lambda env: -inner(env)
            inner, key = build(node[1]), node[2]
            return lambda env: inner(env)[key]

        return build(self.tree)


def parse_expression(source: Any, where: str, calls: tuple[str, ...]) -> Expr:
    """Parse `source` allowing the function names in `calls` (activations and/or concatenate)."""
    if not isinstance(source, str) or not source.strip():
        raise _error(
            where, source, "expected an expression such as OBSERVATIONS, STATES, concatenate([...]), tanh(ACTIONS)"
        )
    try:
        node = ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        raise _error(
            where, source, "it is not an expression skrl's grammar reads (names, numbers, + - * /, calls, [...])"
        ) from None
    return Expr(source.strip(), _tree(node, source, where, calls))


def _tree(node: ast.AST, source: str, where: str, calls: tuple[str, ...]) -> tuple:
    if isinstance(node, ast.Name):
        return ("ref", node.id)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return ("num", node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        return ("bin", type(node.op), _tree(node.left, source, where, calls), _tree(node.right, source, where, calls))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _tree(node.operand, source, where, calls)
        return ("neg", inner) if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Subscript):
        return ("index", _tree(node.value, source, where, calls), _index_key(node.slice, source, where))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        if name in _NOT_BUILT:
            raise _error(where, source, _NOT_BUILT[name])
        if name not in calls:
            raise _error(where, source, f"{name}(...) is not a function here; allowed: {', '.join(calls) or 'none'}")
        if node.keywords or len(node.args) != 1:
            raise _error(where, source, f"{name} takes one argument")
        if name == "concatenate":
            items = node.args[0]
            if not isinstance(items, (ast.List, ast.Tuple)) or not items.elts:
                raise _error(where, source, "concatenate takes a list: concatenate([a, b])")
            return ("cat", tuple(_tree(item, source, where, calls) for item in items.elts))
        return ("call", name, _tree(node.args[0], source, where, calls))
    raise _error(
        where, source, f"expressions use names, numbers, + - * /, [...] slices and {', '.join(calls) or 'no'} calls"
    )


def _index_key(node: ast.AST, source: str, where: str):
    """A constant index of ints, slices and `...` (what indexes a Box observation)."""

    def integer(part):
        if part is None:
            return None
        if isinstance(part, ast.UnaryOp) and isinstance(part.op, ast.USub):
            value = integer(part.operand)
            return None if value is None else -value
        if isinstance(part, ast.Constant) and isinstance(part.value, int) and not isinstance(part.value, bool):
            return part.value
        raise _error(where, source, "indices and slice bounds must be integers")

    if isinstance(node, ast.Tuple):
        return tuple(_index_key(item, source, where) for item in node.elts)
    if isinstance(node, ast.Slice):
        step = integer(node.step)
        if step is not None and step < 1:
            raise _error(where, source, "slice steps must be positive (torch's tensors take no negative step)")
        return slice(integer(node.lower), integer(node.upper), step)
    if isinstance(node, ast.Constant) and node.value is Ellipsis:
        return Ellipsis
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        raise _error(where, source, "indexing by key needs a Dict observation space; simtrain's observations are a Box")
    return integer(node)


@dataclass(frozen=True)
class Block:
    """One named container: its input expression and its linear layers (width or size token, activation or "")."""

    name: str
    input: Expr
    units: tuple  # int or a SIZE_TOKENS name, one per linear layer
    activations: tuple[str, ...]  # one per linear layer; "" for none

    @property
    def plain_input(self) -> bool:
        return self.input.is_ref and self.input.tree[1] in INPUT_TOKENS


@dataclass(frozen=True)
class NetworkPlan:
    """A model's blocks (called in order, the last one's output feeding the output layer) and its output."""

    blocks: tuple[Block, ...]
    output: Expr  # over the output token (ACTIONS or ONE): what is applied to the output layer's result
    output_token: str

    @property
    def plain_mlp(self) -> bool:
        """One block fed the observations: built as the plain MLP of the older grammar (same parameter names)."""
        return len(self.blocks) == 1 and self.blocks[0].plain_input

    @property
    def output_transform(self) -> Expr | None:
        """The output expression, or None where it is the output layer's result itself."""
        return None if self.output.is_ref else self.output

    def resolve(self, observation_size: int, action_size: int, where: str) -> list[tuple[Block, int, list[int]]]:
        """Each block with its input width and its layers' widths, for these spaces (shapes inferred by running the
        expressions on numpy arrays); a mismatch is a one-line error."""
        sizes = {
            "NUM_OBSERVATIONS": observation_size,
            "NUM_STATES": observation_size,
            "NUM_ACTIONS": action_size,
            "ONE": 1,
            "OBSERVATIONS": observation_size,
            "STATES": observation_size,
            "ACTIONS": action_size,
        }
        batch = 3
        env = {token: np.zeros((batch, observation_size), np.float32) for token in INPUT_TOKENS}
        numpy_functions = {name: (lambda x: x) for name in ACTIVATIONS}
        resolved = []
        for index, block in enumerate(self.blocks):
            here = f"{where}.network[{index}].input"
            try:
                value = np.asarray(block.input.compile(numpy_functions, lambda xs: np.concatenate(xs, -1))(env))
            except (IndexError, ValueError) as error:
                raise _error(
                    here, block.input.source, f"it does not apply to observations of size {observation_size} ({error})"
                ) from None
            if value.ndim != 2 or value.shape[0] != batch or value.shape[1] == 0:
                raise _error(
                    here,
                    block.input.source,
                    f"it gives shape {('batch', *value.shape[1:]) if value.ndim else ()} from "
                    f"observations of size {observation_size}; "
                    "a block's input must be (batch, features), e.g. OBSERVATIONS[:, 0:2]",
                )
            units = [sizes[unit] if isinstance(unit, str) else unit for unit in block.units]
            resolved.append((block, int(value.shape[1]), units))
            env[block.name] = np.zeros((batch, units[-1] if units else value.shape[1]), np.float32)
        return resolved


def parse_network(network: Any, output: Any, role: str, where: str) -> NetworkPlan:
    """`network` and `output` of models.<role> (role: policy or value) -> NetworkPlan."""
    if not isinstance(network, list) or not network:
        raise _error(
            f"{where}.network", network, "expected a list of blocks, each with name, input, layers and activations"
        )
    blocks: list[Block] = []
    for index, item in enumerate(network):
        blocks.append(_parse_block(item, [block.name for block in blocks], f"{where}.network[{index}]"))
    token = OUTPUT_TOKENS[role]
    output_expr = parse_expression(output, f"{where}.output", ACTIVATIONS)
    names = output_expr.names()
    if names != {token}:
        other = sorted(names - {token})
        reason = (
            f"a {role} model's output is built on {token}"
            + (f" alone ({', '.join(other)} cannot be used there)" if other else "")
            + f"; e.g. {token}"
            + (", tanh(ACTIONS), 2 * tanh(ACTIONS)" if token == "ACTIONS" else "")
        )
        raise _error(f"{where}.output", output, reason)
    return NetworkPlan(tuple(blocks), output_expr, token)


def _parse_block(item: Any, earlier: list[str], where: str) -> Block:
    if not isinstance(item, dict):
        raise _error(where, item, "expected a mapping with keys name, input, layers, activations")
    unknown = sorted(set(item) - set(BLOCK_KEYS))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; allowed: {', '.join(BLOCK_KEYS)}")
    name = item.get("name")
    if not isinstance(name, str) or not name.isidentifier() or name in (*INPUT_TOKENS, *SIZE_TOKENS, "concatenate"):
        raise _error(
            f"{where}.name",
            name,
            "expected a Python identifier other than a token (OBSERVATIONS, STATES, ACTIONS, ...)",
        )
    if name in earlier:
        raise _error(f"{where}.name", name, f"block names must be unique; already used: {', '.join(earlier)}")
    expr = parse_expression(item.get("input"), f"{where}.input", ("concatenate",))
    allowed = (*INPUT_TOKENS, *earlier)
    for ref in sorted(expr.names()):
        if ref not in allowed:
            reason = (
                "PPO's models are not given the actions"
                if ref == "ACTIONS"
                else "it is not a token nor an earlier block"
            )
            raise _error(f"{where}.input", expr.source, f"{ref}: {reason}; allowed names: {', '.join(allowed)}")
    layers = item.get("layers", [])
    if not isinstance(layers, list):
        raise _error(
            f"{where}.layers", layers, "expected a list of layers (an int for a linear layer, linear: ..., flatten)"
        )
    activations = expand_activations(item.get("activations"), len(layers), f"{where}.activations")
    units, kept = [], []
    for position, (layer, act) in enumerate(zip(layers, activations)):
        width = _parse_layer(layer, f"{where}.layers[{position}]")
        if width is not None:  # flatten: observations are already (batch, features); skrl adds no activation after it
            units.append(width)
            kept.append(act)
    return Block(name, expr, tuple(units), tuple(kept))


def expand_activations(activations: Any, count: int, where: str) -> list[str]:
    """skrl's rule: one name for every layer; a list of one name for every layer; an empty list or null for none; or
    one per layer."""
    if activations is None or isinstance(activations, str):
        names = [activations] * count
    elif isinstance(activations, list):
        if len(activations) in (0, 1):
            names = (activations or [None]) * count
        elif len(activations) == count:
            names = list(activations)
        else:
            raise _error(where, activations, f"expected one name, or a list of one per layer ({count})")
    else:
        raise _error(where, activations, "expected an activation name or a list of them")
    result = []
    for name in names:
        if name is not None and not isinstance(name, str):
            raise _error(where, name, f"choose one of {', '.join(ACTIVATIONS)}")
        name = (name or "").lower()
        if name and name not in ACTIVATIONS:
            raise _error(where, name, f"choose one of {', '.join(ACTIVATIONS)}")
        result.append(name)
    return result


def _parse_layer(layer: Any, where: str):
    """A linear layer's width (int or size token); None for flatten."""
    if isinstance(layer, bool):
        raise _error(where, layer, "expected a layer width, linear: ..., or flatten")
    if isinstance(layer, int):
        return _width(layer, where)
    if isinstance(layer, str):
        if layer.lower() == "flatten":
            return None
        raise _error(where, layer, "a layer written as a name must be flatten; a linear layer is its width (e.g. 64)")
    if not isinstance(layer, dict) or len(layer) != 1:
        raise _error(where, layer, "expected a layer width, linear: ..., or flatten")
    kind, params = next(iter(layer.items()))
    kind = str(kind).lower()
    if kind == "flatten":
        return None
    if kind == "conv2d":
        raise _error(where, layer, "conv2d needs image observations; simtrain builds linear and flatten layers")
    if kind != "linear":
        raise _error(where, layer, "layer types simtrain builds: linear (or a bare width) and flatten")
    if isinstance(params, list):
        params = dict(zip(("out_features", "bias"), params))
    elif not isinstance(params, dict):
        params = {"out_features": params}
    params = {{"features": "out_features", "use_bias": "bias"}.get(key, key): value for key, value in params.items()}
    unknown = sorted(set(params) - {"out_features", "in_features", "bias"})
    if unknown:
        raise ConfigError(
            f"{where}.linear.{unknown[0]}: unknown key; allowed: out_features (features), in_features, bias (use_bias)"
        )
    if params.get("bias", True) is not True:
        raise _error(f"{where}.linear.bias", params["bias"], "simtrain's linear layers always have a bias")
    if "in_features" in params:
        # checked against the inferred width when the model is built
        raise _error(
            f"{where}.linear.in_features",
            params["in_features"],
            "leave it out: simtrain infers each layer's input width",
        )
    if "out_features" not in params:
        raise ConfigError(f"{where}.linear.out_features: missing; a linear layer needs its width")
    return _width(params["out_features"], f"{where}.linear.out_features")


def _width(value: Any, where: str):
    if isinstance(value, str) and value in SIZE_TOKENS:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise _error(where, value, f"expected a positive width or one of {', '.join(SIZE_TOKENS)}")
