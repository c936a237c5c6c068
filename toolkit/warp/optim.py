"""Adam over flat Warp parameter arrays, with the gradient-norm clip of all its groups together (torch's
clip_grad_norm_ then Adam: the same arithmetic, so the same step to float32 rounding)."""

from __future__ import annotations

import math

import numpy as np
import warp as wp

wp.set_module_options({"enable_backward": False})  # gradients are written out, never taped


@wp.kernel
def _square_sum(grad: wp.array(dtype=float), sums: wp.array(dtype=float)):
    i = wp.tid()
    g = grad[i]
    wp.atomic_add(sums, 0, g * g)


@wp.func
def _adam_update(
    i: int,
    params: wp.array(dtype=float),
    grad: wp.array(dtype=float),
    m: wp.array(dtype=float),
    v: wp.array(dtype=float),
    sums: wp.array(dtype=float),
    max_norm: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    bias1: float,
    bias2_sqrt: float,
):
    """Adam's update of parameter i, its gradient first scaled by the clip to a total norm of max_norm (sums[0]: the
    squared norm)."""
    g = grad[i]
    if max_norm > 0.0:
        coef = max_norm / (wp.sqrt(sums[0]) + 1e-6)
        if coef < 1.0:
            g = g * coef
    m[i] = beta1 * m[i] + (1.0 - beta1) * g
    v[i] = beta2 * v[i] + (1.0 - beta2) * g * g
    denom = wp.sqrt(v[i]) / bias2_sqrt + eps
    params[i] = params[i] - (lr / bias1) * m[i] / denom


@wp.kernel
def _adam(
    params: wp.array(dtype=float),
    grad: wp.array(dtype=float),
    m: wp.array(dtype=float),
    v: wp.array(dtype=float),
    sums: wp.array(dtype=float),
    max_norm: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    bias1: float,
    bias2_sqrt: float,
):
    i = wp.tid()
    _adam_update(i, params, grad, m, v, sums, max_norm, lr, beta1, beta2, eps, bias1, bias2_sqrt)


@wp.kernel
def _count_step(control: wp.array(dtype=wp.int32), steps: wp.array(dtype=wp.int64)):
    if control[2] != 0:
        steps[0] = steps[0] + wp.int64(1)


@wp.kernel
def _adam_gated(
    params: wp.array(dtype=float),
    grad: wp.array(dtype=float),
    m: wp.array(dtype=float),
    v: wp.array(dtype=float),
    sums: wp.array(dtype=float),
    max_norm: float,
    lrs: wp.array(dtype=wp.float64),
    group: int,
    beta1: float,
    beta2: float,
    beta1_64: wp.float64,
    beta2_64: wp.float64,
    eps: float,
    steps: wp.array(dtype=wp.int64),
    control: wp.array(dtype=wp.int32),
):
    """_adam with the learning rate and step count read on the device, skipped when control[2] is 0 (the bias
    corrections in float64, then float32, as step() computes them on the host)."""
    if control[2] == 0:
        return
    i = wp.tid()
    t = wp.float64(steps[0])
    bias1 = float(wp.float64(1.0) - wp.pow(beta1_64, t))
    bias2_sqrt = float(wp.sqrt(wp.float64(1.0) - wp.pow(beta2_64, t)))
    lr = float(lrs[group])
    _adam_update(i, params, grad, m, v, sums, max_norm, lr, beta1, beta2, eps, bias1, bias2_sqrt)


class Adam:
    """`param_groups`: [{"params": flat array, "grad": its gradient, "lr": float}] (torch's groups, one per model)."""

    def __init__(
        self, groups: list[dict], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ):
        self.param_groups = [{"lr": lr, **group} for group in groups]
        self.betas, self.eps = betas, eps
        self.steps = 0
        device = groups[0]["params"].device
        self._m = [wp.zeros_like(group["params"]) for group in groups]
        self._v = [wp.zeros_like(group["params"]) for group in groups]
        self.square_sum = wp.zeros(1, dtype=float, device=device)  # the squared gradient norm of the last step
        # the learning rates and step count as step_gated() reads them (push_device_state / pull_device_state)
        self.device_lrs = wp.zeros(len(groups), dtype=wp.float64, device=device)
        self.device_steps = wp.zeros(1, dtype=wp.int64, device=device)

    def zero_grad(self) -> None:
        for group in self.param_groups:
            group["grad"].zero_()

    def grad_square_sum(self) -> wp.array:
        """The squared norm of every group's gradient together, in a one-element device array."""
        self.square_sum.zero_()
        for group in self.param_groups:
            wp.launch(
                _square_sum,
                dim=group["grad"].shape[0],
                inputs=[group["grad"]],
                outputs=[self.square_sum],
                device=self.square_sum.device,
            )
        return self.square_sum

    def step(self, max_norm: float = 0.0) -> None:
        """One Adam step; with max_norm > 0, the gradients are first scaled to a total norm of at most max_norm (the
        norm of the last grad_square_sum(), which the caller has computed)."""
        self.steps += 1
        beta1, beta2 = self.betas
        bias1, bias2_sqrt = 1.0 - beta1**self.steps, math.sqrt(1.0 - beta2**self.steps)
        for group, m, v in zip(self.param_groups, self._m, self._v):
            wp.launch(
                _adam,
                dim=group["params"].shape[0],
                inputs=[
                    group["params"],
                    group["grad"],
                    m,
                    v,
                    self.square_sum,
                    float(max_norm),
                    float(group["lr"]),
                    float(beta1),
                    float(beta2),
                    float(self.eps),
                    float(bias1),
                    float(bias2_sqrt),
                ],
                device=self.square_sum.device,
            )

    def push_device_state(self) -> None:
        """The host's learning rates and step count to the device arrays step_gated() reads."""
        self.device_lrs.assign(np.asarray([group["lr"] for group in self.param_groups], dtype=np.float64))
        self.device_steps.assign(np.asarray([self.steps], dtype=np.int64))

    def pull_device_state(self) -> None:
        """The learning rates and step count that step_gated() and a device scheduler left, back on the host."""
        for group, lr in zip(self.param_groups, self.device_lrs.numpy()):
            group["lr"] = float(lr)
        self.steps = int(self.device_steps.numpy()[0])

    def step_gated(self, max_norm: float, control: wp.array) -> None:
        """step() when control[2] is set, with no host value that changes between calls (a captured graph replays
        it): the step count and learning rates live in device_steps and device_lrs."""
        device = self.square_sum.device
        wp.launch(_count_step, dim=1, inputs=[control], outputs=[self.device_steps], device=device)
        beta1, beta2 = self.betas
        for index, (group, m, v) in enumerate(zip(self.param_groups, self._m, self._v)):
            wp.launch(
                _adam_gated,
                dim=group["params"].shape[0],
                inputs=[
                    group["params"],
                    group["grad"],
                    m,
                    v,
                    self.square_sum,
                    float(max_norm),
                    self.device_lrs,
                    index,
                    float(beta1),
                    float(beta2),
                    float(beta1),
                    float(beta2),
                    float(self.eps),
                    self.device_steps,
                    control,
                ],
                device=device,
            )

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {"steps": np.asarray(self.steps), "lr": np.asarray([group["lr"] for group in self.param_groups])}
        for index, (m, v) in enumerate(zip(self._m, self._v)):
            state[f"m{index}"], state[f"v{index}"] = m.numpy(), v.numpy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.steps = int(state["steps"])
        for group, lr in zip(self.param_groups, np.asarray(state["lr"]).reshape(-1)):
            group["lr"] = float(lr)
        for index, (m, v) in enumerate(zip(self._m, self._v)):
            m.assign(state[f"m{index}"])
            v.assign(state[f"v{index}"])
