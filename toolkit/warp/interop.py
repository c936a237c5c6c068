"""Arrays in and out of the Warp agent without copies: the env's torch tensors (MuJoCo Warp's arrays seen through
torch) are viewed as Warp arrays, and the agent's actions handed back as torch views of its Warp buffers."""

from __future__ import annotations

import contextlib
import functools
import sys

import warp as wp


def is_torch(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def as_warp(x, dtype=None) -> wp.array:
    """A Warp view of a torch tensor (same memory), a Warp array as it is, anything else copied once."""
    if dtype is float:
        dtype = wp.float32
    if isinstance(x, wp.array):
        return x
    if is_torch(x):
        return wp.from_torch(x if x.is_contiguous() else x.contiguous(), dtype=dtype)
    return wp.array(x, dtype=dtype)


def like_input(reference, array: wp.array):
    """`array` in the framework of `reference`: a torch view of it when the env speaks torch."""
    return wp.to_torch(array) if is_torch(reference) else array


def warp_device(device) -> wp.Device:
    """A Warp device from a Warp device, a name ("cpu", "cuda:0") or a torch device."""
    if device is None or isinstance(device, wp.Device):
        return wp.get_device(device)
    return wp.get_device(str(device))


def on_torch_stream(method):
    """Run an agent method's Warp kernels on torch's current CUDA stream when torch is in use on a CUDA device, so
    they are ordered after the env's torch work that wrote their inputs and before the torch work that reads their
    outputs (no host synchronisation). On the CPU, kernels run in launch order anyway. (Written for CUDA; not yet
    run on a GPU.)"""

    @functools.wraps(method)
    def wrapped(self, *args, **kwargs):
        context = contextlib.nullcontext()
        if self.device.is_cuda and "torch" in sys.modules:
            import torch

            context = wp.ScopedStream(wp.stream_from_torch(torch.cuda.current_stream(torch.device(str(self.device)))))
        with context:
            return method(self, *args, **kwargs)

    return wrapped
