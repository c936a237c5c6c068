"""The --device flag of the launch scripts, checked against what this machine has."""

from __future__ import annotations


def resolve_device(requested: str | None, uses_jax: bool = False) -> str:
    """--device checked against what this machine has (before any world is built); None: cuda if torch sees a GPU."""
    import torch

    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    platform, colon, index = requested.partition(":")
    if platform not in ("cpu", "cuda") or (colon and (platform == "cpu" or not index.isdigit())):
        raise ValueError(f"--device: {requested!r} is not allowed; choose cpu, cuda or cuda:K")
    if platform == "cuda":
        count = torch.cuda.device_count()
        if int(index or 0) >= count:
            raise ValueError(
                f"--device: {requested!r} is not allowed; this machine has {count or 'no'} CUDA GPU"
                f"{'s' if count != 1 else ''} that torch can use" + ("; choose cpu" if not count else "")
            )
        if uses_jax:
            import jax

            try:
                jax.local_devices(backend="gpu")
            except RuntimeError:
                raise ValueError(
                    f"--device: {requested!r} is not allowed for this engine/agent; JAX has no GPU "
                    "backend here (install the jax[cuda12] extra) or choose cpu"
                ) from None
    return requested
