"""BufferPool: trace memory is reused only after release, and reuse never changes results."""

from __future__ import annotations

import gc

import numpy as np
import torch

from neurodyn.simulators import HodgkinHuxley
from neurodyn.simulators._buffers import TRACE_POOL, BufferPool

BIG = (4096, 4096)  # 64 MB of float32: above the pool's lower size limit


def test_reuse_only_after_release():
    pool = BufferPool(max_bytes=1 << 30)
    a = pool.empty(BIG, np.float32)
    a[:] = 1.0
    b = pool.empty(BIG, np.float32)  # a is alive: fresh memory
    assert a.ctypes.data != b.ctypes.data
    b[:] = 2.0
    assert float(a.min()) == 1.0  # a untouched
    addr = a.ctypes.data
    t = torch.from_numpy(a)
    del a
    gc.collect()
    assert pool.held_bytes == 0  # the tensor still holds a's memory
    del t
    gc.collect()
    assert pool.held_bytes == 64 << 20
    c = pool.empty(BIG, np.float32)
    assert c.ctypes.data == addr and pool.held_bytes == 0


def test_cap_small_arrays_and_disabled_pool():
    pool = BufferPool(max_bytes=100 << 20)  # room for one 64-MB buffer
    bufs = [pool.empty(BIG, np.float32) for _ in range(3)]
    del bufs
    gc.collect()
    assert pool.held_bytes == 64 << 20
    small = pool.empty((10, 10), np.float64)
    assert small.shape == (10, 10) and pool.held_bytes == 64 << 20
    off = BufferPool(max_bytes=0)
    x = off.empty(BIG, np.float32)
    del x
    gc.collect()
    assert off.held_bytes == 0


def test_hh_traces_from_reused_memory_equal_fresh_ones(monkeypatch):
    hh = HodgkinHuxley()
    g = torch.Generator().manual_seed(3)
    theta = hh.prior.low + torch.rand((2000, 8), generator=g) * (hh.prior.high - hh.prior.low)
    other = theta.flip(0)
    first = hh.simulate(other, seed=5, output="trace")  # 2000 x 12000 float32, in the pool
    assert first.nbytes >= 32 << 20
    del first
    gc.collect()
    assert TRACE_POOL.held_bytes > 0
    reused = hh.simulate(theta, seed=1, output="trace")  # writes into other's old memory
    monkeypatch.setattr(TRACE_POOL, "max_bytes", 0)
    fresh = hh.simulate(theta, seed=1, output="trace")
    assert torch.equal(reused, fresh)
