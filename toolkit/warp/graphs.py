"""Captured graphs of the Warp agent's fixed launch sequences (acting, recording a step, preparing and running an
update epoch), replayed with one call each.

A sequence is run eagerly the first time it is met (this compiles its kernels and allocates its buffers), then
captured with `wp.ScopedCapture` and replayed with `wp.capture_launch` from then on; the value the sequence returned
(the buffers it wrote) is kept with its graph. A captured sequence allocates nothing, never reads a device value on
the host and takes no Python branch on one: what changes between calls lives in device arrays (random-draw and
shuffle counters, learning rates, the update's control flags). Warp captures on CUDA (a CUDA graph, on a stream of
its own ordered against the caller's by events) and, since Warp 1.15, on the CPU (replayed in C++).
"""

from __future__ import annotations

from typing import Any, Callable, Hashable

import warp as wp


class Graphs:
    """`run(key, launches)`: the sequence `launches` under `key` (whatever changes its launches: batch size,
    memory slot, ...). With `capture` False, every call launches the same sequence eagerly (what a graph would
    replay): `region` then names the sequence running after its warm-up, for tests that probe it."""

    def __init__(self, device: wp.Device, capture: bool = True):
        self.device = device
        self.capture = capture
        self._entries: dict[Hashable, tuple[Any, Any]] = {}
        self._stream = wp.Stream(device) if device.is_cuda and capture else None
        self.region: Hashable | None = None

    def __len__(self) -> int:
        return sum(graph is not None for graph, _ in self._entries.values())

    def run(self, key: Hashable, launches: Callable[[], Any]) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            result = launches()  # warm-up: kernels compiled, buffers allocated, and this call's work done
            self._entries[key] = (self._capture(launches) if self.capture else None, result)
            return result
        graph, result = entry
        if graph is None:
            self.region = key
            try:
                launches()
            finally:
                self.region = None
        elif self._stream is None:
            wp.capture_launch(graph)
        else:  # after the caller's stream's work, and before its next
            caller = wp.get_stream(self.device)
            self._stream.wait_stream(caller)
            wp.capture_launch(graph, stream=self._stream)
            caller.wait_stream(self._stream)
        return result

    def _capture(self, launches: Callable[[], Any]):
        if self._stream is None:
            with wp.ScopedCapture(self.device) as capture:
                launches()
            return capture.graph
        # not on the caller's stream: torch's default (legacy) stream cannot capture
        self._stream.wait_stream(wp.get_stream(self.device))
        with wp.ScopedStream(self._stream, sync_enter=False), wp.ScopedCapture(self.device) as capture:
            launches()
        return capture.graph
