"""Reusable output buffers for large CPU traces.

A trace of 10⁴ HH simulations is ~200 MB. Memory that large comes fresh from the operating
system on every allocation (glibc maps it and unmaps it on free), and the kernel zeroes and
maps every page on first touch: measured on the 2-core VM, filling a fresh trace took 25-40 %
of the whole simulation's wall time with 2 threads (traces 58-73k sims/s, into reused memory
90-94k, features 85-95k). :class:`BufferPool` keeps the memory of traces that nobody
references any more and hands it out again, the way array libraries' own allocators do.

The pool is safe by construction: a buffer goes back only when the array handed out (and
with it every tensor or view made from it) has been garbage-collected, and the caller
overwrites every element before returning it. It keeps at most ``max_bytes`` (default
1 GiB; environment variable ``NEURODYN_TRACE_POOL_MB``, 0 disables it).
"""

from __future__ import annotations

import os
import threading
import weakref

import numpy as np

__all__ = ["TRACE_POOL", "BufferPool"]

#: arrays below this size are left to the ordinary allocator (reused by malloc already)
_MIN_BYTES = 32 << 20


class BufferPool:
    """A small cache of large, uninitialised numpy buffers.

    Args:
        max_bytes: total size of the buffers kept for reuse (bytes).

    Example:
        >>> pool = BufferPool(max_bytes=1 << 30)
        >>> a = pool.empty((4096, 4096), np.float32); addr = a.ctypes.data
        >>> del a  # nobody holds it any more: its memory goes back to the pool
        >>> pool.empty((4096, 4096), np.float32).ctypes.data == addr
        True
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._free: list[np.ndarray] = []  # 1-D uint8 bases
        self._lock = threading.Lock()

    @property
    def held_bytes(self) -> int:
        """Bytes kept for reuse now."""
        with self._lock:
            return sum(b.nbytes for b in self._free)

    def clear(self) -> None:
        """Release every kept buffer to the allocator."""
        with self._lock:
            self._free.clear()

    def empty(self, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
        """An uninitialised C-contiguous array ``shape`` of ``dtype`` (contents arbitrary).

        Small arrays and a disabled pool give ``np.empty``; otherwise a kept buffer of the
        same byte size is reused when there is one.
        """
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if self.max_bytes <= 0 or nbytes < _MIN_BYTES or nbytes > self.max_bytes:
            return np.empty(shape, dtype)
        base = None
        with self._lock:
            for i, b in enumerate(self._free):
                if b.nbytes == nbytes:
                    base = self._free.pop(i)
                    break
        if base is None:
            base = np.empty(nbytes, np.uint8)
        out = base.view(dtype).reshape(shape)
        # ``out`` keeps ``base`` alive; when ``out`` dies, ``base`` comes back here
        weakref.finalize(out, self._put, base)
        return out

    def _put(self, base: np.ndarray) -> None:
        with self._lock:
            self._free.append(base)
            total = sum(b.nbytes for b in self._free)
            while self._free and total > self.max_bytes:  # drop the oldest
                total -= self._free.pop(0).nbytes


def _pool_bytes() -> int:
    raw = os.environ.get("NEURODYN_TRACE_POOL_MB", "1024")
    try:
        return max(0, int(float(raw) * (1 << 20)))
    except ValueError:
        return 1 << 30


#: the pool of the simulators' CPU trace outputs
TRACE_POOL = BufferPool(_pool_bytes())
