"""Gaussian policy and deterministic value models in Warp, separate or on one shared trunk, built from the same
`models` YAML section (either of skrl's grammars) as the torch and JAX models.

A model is an MLP trunk with a Gaussian mean head (plus a state-independent log std), a value head, or both; all its
parameters are one flat float32 array (see nn.py). Output expressions of the form `a * f(TOKEN) + b` (TOKEN,
tanh(ACTIONS), 2 * tanh(ACTIONS), ...) are folded into the output layer. skrl's multi-block networks, softmax, and
Categorical policies are refused with a one-line error naming `--framework torch`.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import warp as wp

from ..config import ConfigError
from ..model_grammar import Expr, NetworkPlan, action_size
from ..model_spec import ModelSpec, ModelsSpec, parse_models
from . import nn
from .interop import warp_device

ALTERNATIVE = "use --framework torch (or jax) for it"


def output_affine(expr: Expr | None, where: str) -> tuple[int, float, float]:
    """(activation code, scale, shift) of an output expression `scale * f(TOKEN) + shift`."""
    if expr is None:
        return 0, 1.0, 0.0

    def visit(node) -> tuple[int, float, float]:
        kind = node[0]
        if kind == "ref":
            return 0, 1.0, 0.0
        if kind == "call" and node[2][0] == "ref" and node[1] in nn.ACTIVATION_CODES:
            return nn.ACTIVATION_CODES[node[1]], 1.0, 0.0
        if kind == "neg":
            act, scale, shift = visit(node[1])
            return act, -scale, -shift
        if kind == "bin":
            op, left, right = node[1], node[2], node[3]
            if right[0] == "num" and op in (ast.Mult, ast.Div, ast.Add, ast.Sub):
                act, scale, shift = visit(left)
                value = float(right[1])
                if op is ast.Mult:
                    return act, scale * value, shift * value
                if op is ast.Div:
                    return act, scale / value, shift / value
                return act, scale, shift + (value if op is ast.Add else -value)
            if left[0] == "num" and op in (ast.Mult, ast.Add, ast.Sub):
                act, scale, shift = visit(right)
                value = float(left[1])
                if op is ast.Mult:
                    return act, scale * value, shift * value
                if op is ast.Add:
                    return act, scale, shift + value
                return act, -scale, value - shift
        raise ConfigError(
            f"{where}.output: {expr.source!r} is not allowed with --framework warp; expected "
            f"a * f(TOKEN) + b with an elementwise activation f; {ALTERNATIVE}"
        )

    return visit(expr.tree)


def _hidden_layers(plan: NetworkPlan, observation_size: int, act_size: int, where: str) -> tuple[list[int], list[int]]:
    if not plan.plain_mlp:
        raise ConfigError(
            f"{where}.network: {len(plan.blocks)} blocks or a computed input are not allowed with --framework "
            f"warp (one block fed OBSERVATIONS or STATES); {ALTERNATIVE}"
        )
    ((block, _, units),) = plan.resolve(observation_size, act_size, where)
    codes = []
    for name in block.activations:
        name = (name or "").lower()
        if name not in nn.ACTIVATION_CODES:
            raise ConfigError(
                f"{where}.network.activations: {name!r} is not allowed with --framework warp; choose one of "
                f"{', '.join(sorted(k for k in nn.ACTIVATION_CODES if k))}; {ALTERNATIVE}"
            )
        codes.append(nn.ACTIVATION_CODES[name])
    return list(units), codes


def _orthogonal(rng: np.random.Generator, rows: int, cols: int, gain: float) -> np.ndarray:
    flat = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    return gain * (q if rows >= cols else q.T)[:rows, :cols]


@dataclass
class GaussianSettings:
    action_dim: int
    log_std_off: int
    initial_log_std: float = 0.0
    clip_log_std: bool = True
    min_log_std: float = -20.0
    max_log_std: float = 2.0
    fixed_log_std: bool = False
    reduce_mean: bool = False  # reduction "mean": the log-probability is the mean over actions, not the sum


@dataclass
class Workspace:
    """Activations and gradient buffers of one batch size (allocated once, reused every call)."""

    z: list = field(default_factory=list)
    y: list = field(default_factory=list)
    dz: list = field(default_factory=list)
    dx: list = field(default_factory=list)
    mean: tuple | None = None  # (z, y, dz)
    value: tuple | None = None
    features_grad: wp.array | None = None


class Model:
    """An MLP trunk and a Gaussian mean head, a value head, or both (shared). `params` and `grad` are flat."""

    def __init__(
        self,
        observation_size: int,
        hiddens: list[int],
        activations: list[int],
        *,
        device,
        action_dim: int = 0,
        mean_output: tuple[int, float, float] | None = None,
        value_output: tuple[int, float, float] | None = None,
        gaussian: dict | None = None,
        seed: int = 0,
    ):
        self.device = warp_device(device)
        self.observation_size = observation_size
        rng = np.random.default_rng(seed)
        offset, chunks = 0, []

        def dense(n_in: int, n_out: int, act: int, gain: float, scale: float = 1.0, shift: float = 0.0) -> nn.Dense:
            nonlocal offset
            layer = nn.Dense(n_in, n_out, offset, act, scale, shift)
            chunks.append(_orthogonal(rng, n_out, n_in, gain).ravel())
            chunks.append(np.zeros(n_out))
            offset += layer.size
            return layer

        self.trunk, size = [], observation_size
        for width, act in zip(hiddens, activations):
            self.trunk.append(dense(size, width, act, math.sqrt(2)))
            size = width
        self.features = size
        self.mean_layer = self.value_layer = self.gaussian = None
        if mean_output is not None:
            self.mean_layer = dense(size, action_dim, *mean_output[:1], 0.01, *mean_output[1:])
            settings = dict(gaussian or {})
            self.gaussian = GaussianSettings(action_dim=action_dim, log_std_off=offset, **settings)
            chunks.append(np.full(action_dim, self.gaussian.initial_log_std))
            offset += action_dim
        if value_output is not None:
            self.value_layer = dense(size, 1, value_output[0], 1.0, *value_output[1:])
        self.params = wp.array(np.concatenate(chunks).astype(np.float32), dtype=float, device=self.device)
        self.grad = wp.zeros_like(self.params)
        self._workspaces: dict[int, Workspace] = {}

    @property
    def size(self) -> int:
        return self.params.shape[0]

    def workspace(self, batch: int) -> Workspace:
        ws = self._workspaces.get(batch)
        if ws is None:
            ws = self._workspaces[batch] = Workspace()

            def zeros(width: int) -> wp.array:
                return wp.zeros((batch, width), dtype=float, device=self.device)

            for layer in self.trunk:
                ws.z.append(zeros(layer.n_out))
                ws.y.append(zeros(layer.n_out))
                ws.dz.append(zeros(layer.n_out))
                ws.dx.append(zeros(layer.n_in))
            if self.mean_layer is not None:
                ws.mean = (zeros(self.mean_layer.n_out), zeros(self.mean_layer.n_out), zeros(self.mean_layer.n_out))
            if self.value_layer is not None:
                ws.value = (zeros(1), zeros(1), zeros(1))
            ws.features_grad = zeros(self.features)
        return ws

    def forward(self, observations: wp.array, *, policy: bool = True, value: bool = True) -> Workspace:
        """Run the trunk and the asked heads on (batch, observation_size) float32 observations; the results are
        `ws.mean[1]` (batch, actions) and `ws.value[1]` (batch, 1)."""
        ws = self.workspace(observations.shape[0])
        x = observations
        for layer, z, y in zip(self.trunk, ws.z, ws.y):
            nn.forward(layer, x, self.params, z, y)
            x = y
        if policy and self.mean_layer is not None:
            nn.forward(self.mean_layer, x, self.params, ws.mean[0], ws.mean[1])
        if value and self.value_layer is not None:
            nn.forward(self.value_layer, x, self.params, ws.value[0], ws.value[1])
        return ws

    def features_of(self, ws: Workspace, observations: wp.array) -> wp.array:
        return ws.y[-1] if self.trunk else observations

    def backward(
        self, ws: Workspace, observations: wp.array, d_mean: wp.array | None, d_value: wp.array | None
    ) -> None:
        """Add the parameter gradient of the heads' output gradients (as left by the last forward) into `grad`."""
        features = self.features_of(ws, observations)
        d_features = ws.features_grad if self.trunk else None
        started = False
        for layer, buffers, d_out in ((self.mean_layer, ws.mean, d_mean), (self.value_layer, ws.value, d_value)):
            if layer is None or d_out is None:
                continue
            nn.backward(
                layer,
                features,
                buffers[0],
                d_out,
                self.params,
                self.grad,
                buffers[2],
                d_features,
                accumulate_dx=started,
            )
            started = True
        if not started:
            return
        d_out = d_features
        for index in range(len(self.trunk) - 1, -1, -1):
            layer = self.trunk[index]
            x = ws.y[index - 1] if index > 0 else observations
            nn.backward(
                layer, x, ws.z[index], d_out, self.params, self.grad, ws.dz[index], ws.dx[index] if index > 0 else None
            )
            d_out = ws.dx[index]

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"params": self.params.numpy()}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.params.assign(arrays["params"].astype(np.float32))


def _gaussian_kwargs(spec: ModelSpec, where: str) -> dict:
    if spec.clip_mean_actions:
        raise ConfigError(f"{where}.clip_mean_actions: True is not allowed with --framework warp; {ALTERNATIVE}")
    return dict(
        initial_log_std=spec.initial_log_std,
        clip_log_std=spec.clip_log_std,
        min_log_std=spec.min_log_std,
        max_log_std=spec.max_log_std,
        fixed_log_std=spec.fixed_log_std,
        reduce_mean=spec.reduction == "mean",
    )


def check_models(spec: ModelsSpec, section: str = "models") -> None:
    """What the Warp models cannot build, as a one-line ConfigError (before any world is built)."""
    for role, model in (("policy", spec.policy), ("value", spec.value)):
        if model.rnn is not None:
            raise ConfigError(
                f"{section}.{role}.rnn: recurrent models are not allowed with --framework warp (skrl's Warp PPO "
                f"has no RNN); {ALTERNATIVE}"
            )
    if spec.policy.kind not in ("GaussianMixin", "Gaussian"):
        raise ConfigError(
            f"{section}.policy.class: {spec.policy.kind!r} is not allowed with --framework warp (Gaussian "
            f"policies only); {ALTERNATIVE}"
        )
    _gaussian_kwargs(spec.policy, f"{section}.policy")
    for role in ("policy", "value") if spec.separate else ("policy",):
        plan = getattr(spec, role).plan(role)
        if not plan.plain_mlp:
            raise ConfigError(
                f"{section}.{role}.network: {len(plan.blocks)} blocks or a computed input are not allowed with "
                f"--framework warp (one block fed OBSERVATIONS or STATES); {ALTERNATIVE}"
            )
        output_affine(plan.output_transform, f"{section}.{role}")
    output_affine(spec.value.plan("value").output_transform, f"{section}.value")


def build_models(
    spec: ModelsSpec | dict | None,
    observation_space: gym.spaces.Space,
    action_space: gym.spaces.Space,
    device: str = "cpu",
    seed: int = 0,
) -> dict[str, Model]:
    """{"policy": ..., "value": ...}; the same Model under both keys when the spec is not separate."""
    if not isinstance(spec, ModelsSpec):
        spec = parse_models(spec)
    check_models(spec)
    if not isinstance(action_space, gym.spaces.Box) or len(action_space.shape) != 1:
        raise ConfigError(
            f"action_space: {action_space} is not allowed with --framework warp (a 1-D Box); {ALTERNATIVE}"
        )
    if not isinstance(observation_space, gym.spaces.Box):
        raise ValueError(f"observation_space: {observation_space} is not allowed; expected a Box")
    obs_size, act_size = int(np.prod(observation_space.shape)), action_size(action_space)
    policy_plan = spec.policy.plan("policy")
    hiddens, activations = _hidden_layers(policy_plan, obs_size, act_size, "models.policy")
    mean_output = output_affine(policy_plan.output_transform, "models.policy")
    value_output = output_affine(spec.value.plan("value").output_transform, "models.value")
    gaussian = _gaussian_kwargs(spec.policy, "models.policy")
    if not spec.separate:
        shared = Model(
            obs_size,
            hiddens,
            activations,
            device=device,
            action_dim=act_size,
            mean_output=mean_output,
            value_output=value_output,
            gaussian=gaussian,
            seed=seed,
        )
        return {"policy": shared, "value": shared}
    value_hiddens, value_activations = _hidden_layers(spec.value.plan("value"), obs_size, act_size, "models.value")
    return {
        "policy": Model(
            obs_size,
            hiddens,
            activations,
            device=device,
            action_dim=act_size,
            mean_output=mean_output,
            gaussian=gaussian,
            seed=seed,
        ),
        "value": Model(
            obs_size, value_hiddens, value_activations, device=device, value_output=value_output, seed=seed + 1
        ),
    }
