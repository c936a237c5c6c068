"""Dense layers in Warp with hand-written backward kernels.

Parameters of a model live in one flat float32 array (a layer is an offset into it), so the optimizer, the gradient
norm and checkpoints each take one array. The backward pass is written out rather than recorded on `wp.Tape`: Warp's
tape mis-differentiates a dynamic loop that accumulates into a local variable (the inner product of a dense layer;
measured against torch with Warp 1.19), and the written-out weight gradient sums over the batch per weight instead of
issuing one atomic add per sample and weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import warp as wp

wp.set_module_options({"enable_backward": False})  # gradients are written out, never taped

# activation codes (kernels branch on an int); softmax is not elementwise and is refused where a model is built
ACTIVATION_CODES = {
    "": 0,
    "identity": 0,
    "relu": 1,
    "elu": 2,
    "tanh": 3,
    "sigmoid": 4,
    "leaky_relu": 5,
    "selu": 6,
    "softplus": 7,
    "softsign": 8,
    "silu": 9,
    "gelu": 10,
}
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805
_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


@wp.func
def activate(x: float, code: int) -> float:
    if code == 1:
        return wp.max(x, 0.0)
    if code == 2:
        if x > 0.0:
            return x
        return wp.exp(x) - 1.0
    if code == 3:
        return wp.tanh(x)
    if code == 4:
        return 1.0 / (1.0 + wp.exp(-x))
    if code == 5:
        if x > 0.0:
            return x
        return 0.01 * x
    if code == 6:
        if x > 0.0:
            return wp.static(_SELU_SCALE) * x
        return wp.static(_SELU_SCALE * _SELU_ALPHA) * (wp.exp(x) - 1.0)
    if code == 7:  # torch's softplus: linear above 20
        if x > 20.0:
            return x
        return wp.log(1.0 + wp.exp(x))
    if code == 8:
        return x / (1.0 + wp.abs(x))
    if code == 9:
        return x / (1.0 + wp.exp(-x))
    if code == 10:
        return 0.5 * x * (1.0 + wp.erf(x * wp.static(_SQRT_HALF)))
    return x


@wp.func
def activate_grad(x: float, code: int) -> float:
    """d activate(x) / dx at the pre-activation x."""
    if code == 1:
        if x > 0.0:
            return 1.0
        return 0.0
    if code == 2:
        if x > 0.0:
            return 1.0
        return wp.exp(x)
    if code == 3:
        t = wp.tanh(x)
        return 1.0 - t * t
    if code == 4:
        s = 1.0 / (1.0 + wp.exp(-x))
        return s * (1.0 - s)
    if code == 5:
        if x > 0.0:
            return 1.0
        return 0.01
    if code == 6:
        if x > 0.0:
            return wp.static(_SELU_SCALE)
        return wp.static(_SELU_SCALE * _SELU_ALPHA) * wp.exp(x)
    if code == 7:
        if x > 20.0:
            return 1.0
        return 1.0 / (1.0 + wp.exp(-x))
    if code == 8:
        d = 1.0 + wp.abs(x)
        return 1.0 / (d * d)
    if code == 9:
        s = 1.0 / (1.0 + wp.exp(-x))
        return s * (1.0 + x * (1.0 - s))
    if code == 10:
        cdf = 0.5 * (1.0 + wp.erf(x * wp.static(_SQRT_HALF)))
        return cdf + x * wp.static(_INV_SQRT_2PI) * wp.exp(-0.5 * x * x)
    return 1.0


@dataclass(frozen=True)
class Dense:
    """One layer: y = scale * activation(W x + b) + shift, W (n_out, n_in) row-major at `w_off`, b at `b_off`
    (scale and shift carry a model's output expression, e.g. `2 * tanh(ACTIONS)`)."""

    n_in: int
    n_out: int
    w_off: int
    act: int = 0
    scale: float = 1.0
    shift: float = 0.0

    @property
    def b_off(self) -> int:
        return self.w_off + self.n_in * self.n_out

    @property
    def size(self) -> int:
        return self.n_out * (self.n_in + 1)


@wp.kernel
def dense_forward(
    x: wp.array2d(dtype=float),
    params: wp.array(dtype=float),
    w_off: int,
    n_in: int,
    act: int,
    scale: float,
    shift: float,
    z: wp.array2d(dtype=float),
    y: wp.array2d(dtype=float),
):
    i, j = wp.tid()
    acc = params[w_off + z.shape[1] * n_in + j]
    row = w_off + j * n_in
    for k in range(n_in):
        acc += params[row + k] * x[i, k]
    z[i, j] = acc
    y[i, j] = scale * activate(acc, act) + shift


@wp.kernel
def dense_output_grad(
    dy: wp.array2d(dtype=float), z: wp.array2d(dtype=float), act: int, scale: float, dz: wp.array2d(dtype=float)
):
    """The gradient at the pre-activation from the gradient at the output."""
    i, j = wp.tid()
    dz[i, j] = dy[i, j] * scale * activate_grad(z[i, j], act)


@wp.kernel
def dense_param_grad(
    dz: wp.array2d(dtype=float), x: wp.array2d(dtype=float), w_off: int, n_in: int, grad: wp.array(dtype=float)
):
    """dW[j, k] = sum_i dz[i, j] x[i, k] and db[j] = sum_i dz[i, j] (k == n_in), added into the flat gradient."""
    j, k = wp.tid()
    acc = float(0.0)
    if k < n_in:
        for i in range(dz.shape[0]):
            acc += dz[i, j] * x[i, k]
        grad[w_off + j * n_in + k] += acc
    else:
        for i in range(dz.shape[0]):
            acc += dz[i, j]
        grad[w_off + dz.shape[1] * n_in + j] += acc


@wp.kernel
def dense_input_grad(
    dz: wp.array2d(dtype=float),
    params: wp.array(dtype=float),
    w_off: int,
    n_in: int,
    accumulate: int,
    dx: wp.array2d(dtype=float),
):
    """dx[i, k] (+)= sum_j dz[i, j] W[j, k]."""
    i, k = wp.tid()
    acc = float(0.0)
    for j in range(dz.shape[1]):
        acc += dz[i, j] * params[w_off + j * n_in + k]
    if accumulate != 0:
        dx[i, k] += acc
    else:
        dx[i, k] = acc


def forward(layer: Dense, x: wp.array, params: wp.array, z: wp.array, y: wp.array) -> None:
    wp.launch(
        dense_forward,
        dim=(x.shape[0], layer.n_out),
        inputs=[x, params, layer.w_off, layer.n_in, layer.act, float(layer.scale), float(layer.shift)],
        outputs=[z, y],
        device=params.device,
    )


def backward(
    layer: Dense,
    x: wp.array,
    z: wp.array,
    dy: wp.array,
    params: wp.array,
    grad: wp.array,
    dz: wp.array,
    dx: wp.array | None,
    accumulate_dx: bool = False,
) -> None:
    """Add the layer's parameter gradient into `grad` and write (or add) the input's gradient into `dx`."""
    device = params.device
    wp.launch(
        dense_output_grad, dim=dy.shape, inputs=[dy, z, layer.act, float(layer.scale)], outputs=[dz], device=device
    )
    wp.launch(
        dense_param_grad,
        dim=(layer.n_out, layer.n_in + 1),
        inputs=[dz, x, layer.w_off, layer.n_in],
        outputs=[grad],
        device=device,
    )
    if dx is not None:
        wp.launch(
            dense_input_grad,
            dim=(x.shape[0], layer.n_in),
            inputs=[dz, params, layer.w_off, layer.n_in, int(accumulate_dx)],
            outputs=[dx],
            device=device,
        )
