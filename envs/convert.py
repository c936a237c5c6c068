"""Hand arrays between numpy, torch and JAX without copying where the frameworks allow it (DLPack).

torch and jax are imported only when a conversion needs them.
"""

from __future__ import annotations

from typing import Any, Callable

FRAMEWORKS = ("torch", "jax", "numpy")


def _identity(x):
    return x


def _to_torch(source: str) -> Callable:
    import torch

    if source == "numpy":
        return torch.from_numpy
    return torch.from_dlpack  # jax arrays export DLPack: the tensor aliases the jax buffer


def _to_jax(source: str) -> Callable:
    import jax.numpy as jnp

    if source == "numpy":
        return jnp.asarray
    import jax.dlpack

    return lambda tensor: jax.dlpack.from_dlpack(tensor.detach())


def _to_numpy(source: str) -> Callable:
    import numpy as np

    if source == "torch":
        return lambda tensor: tensor.detach().cpu().numpy()
    return np.asarray


_CONVERTERS = {"torch": _to_torch, "jax": _to_jax, "numpy": _to_numpy}


def converter(source: str, target: str) -> Callable[[Any], Any]:
    """A function that turns one array of `source` framework into `target`'s."""
    for name, value in (("source", source), ("target", target)):
        if value not in FRAMEWORKS:
            raise ValueError(f"framework {name}: {value!r} is not allowed; choose one of {', '.join(FRAMEWORKS)}")
    return _identity if source == target else _CONVERTERS[target](source)


def to_device(array, device: str):
    """A torch or JAX array on `device` in torch's spelling ("cpu", "cuda", "cuda:K"): the converters from numpy
    make host arrays."""
    if hasattr(array, "to"):
        return array.to(device)
    import jax

    return jax.device_put(array, jax_device(device))


def jax_device(device=None):
    """'cpu', 'cuda' or 'cuda:K' (torch's spelling), or a jax.Device, as a jax.Device; None: this process's first."""
    import jax

    if device is not None and not isinstance(device, str):
        return device
    # local devices: in a jax.distributed run jax.devices() lists every process's, and only this one's are usable here
    if device is None:
        return jax.local_devices()[0]
    platform, _, index = device.partition(":")
    return jax.local_devices(backend="gpu" if platform == "cuda" else platform)[int(index or 0)]


def on_device(tree, device):
    """Every JAX array of `tree` committed to `device` (a jax.Device). `jit` compiles a program per placement of its
    inputs (committed to a device, or not): arrays that always cross into it committed compile it once."""
    import jax

    return jax.device_put(tree, device)


def tree_map(fn: Callable, tree):
    """Apply fn to every array in nested dicts, lists and tuples (info dicts)."""
    if isinstance(tree, dict):
        return {key: tree_map(fn, value) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, value) for value in tree)
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    return fn(tree)
