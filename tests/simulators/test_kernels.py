"""Engine pieces: vectorisable maths, counter-based RNG, online moments, lazy CUDA import."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit
from scipy import stats

from neurodyn.simulators import derive_seeds
from neurodyn.simulators._kernels._cuda import numba_cuda
from neurodyn.simulators._kernels.hh_cpu import _spike_lanes
from neurodyn.simulators._kernels.launch import (
    LANES,
    cuda_launch_config,
    num_lane_blocks,
    run_block_ranges,
)
from neurodyn.simulators._kernels.mathfn import _expm1_32_gpu, fdiv, fexp, fexpm1, flog, fsincos
from neurodyn.simulators._kernels.moments import central_moments, moments_add
from neurodyn.simulators._kernels.rng import (
    box_muller32,
    normal_pair,
    normal_quad,
    philox4x32,
    philox_words32,
    resolve_seeds,
)
from neurodyn.simulators._kernels.simd import block_width, prefetch_write, transpose_block
from neurodyn.simulators._kernels.spikes import is_spike, spike_count_update


@njit
def _apply(x):
    e = np.empty_like(x)
    lg = np.empty_like(x)
    s = np.empty_like(x)
    c = np.empty_like(x)
    for i in range(x.size):
        e[i] = fexp(x[i])
        lg[i] = flog(abs(x[i]) + x.dtype.type(1e-30))
        s[i], c[i] = fsincos(x[i])
    return e, lg, s, c


@pytest.mark.parametrize(("dtype", "tol"), [(np.float64, 4e-16), (np.float32, 1.2e-7)])
def test_fexp_relative_error(dtype, tol):
    x = np.linspace(-80, 80, 20001).astype(dtype)
    e = _apply(x)[0]
    assert e.dtype == dtype
    ref = np.exp(x.astype(np.float64))
    assert np.max(np.abs(e / ref - 1)) < tol


@pytest.mark.parametrize(("dtype", "tol"), [(np.float64, 2e-15), (np.float32, 2e-6)])
def test_flog_and_fsincos(dtype, tol):
    u = np.linspace(1e-9, 1, 20001).astype(dtype)
    lg = _apply(u)[1]
    assert np.max(np.abs(lg - np.log(u.astype(np.float64)))) < tol
    x = np.linspace(-np.pi / 2, np.pi / 2, 2001).astype(dtype)
    _, _, s, c = _apply(x)
    x64 = x.astype(np.float64)
    assert np.max(np.abs(s - np.sin(x64))) < tol and np.max(np.abs(c - np.cos(x64))) < tol


def test_fexp_nan_and_saturation():
    e = _apply(np.array([np.nan, 1e4, -1e4]))[0]
    assert np.isnan(e[0]) and np.isfinite(e[1]) and e[1] > 1e307 and 0 <= e[2] < 1e-300


@njit
def _expm1(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = fexpm1(x[i])
    return out


@pytest.mark.parametrize(
    ("dtype", "lim", "tol"), [(np.float64, 700.0, 4e-16), (np.float32, 80.0, 2e-7)]
)
def test_fexpm1_relative_error_also_near_zero(dtype, lim, tol):
    tiny = np.geomspace(1e-30, 1.0, 2000)
    x = np.concatenate([np.linspace(-lim, lim, 20001), tiny, -tiny, [0.0]]).astype(dtype)
    got = _expm1(x)
    assert got.dtype == dtype
    ref = np.expm1(x.astype(np.float64))
    rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)
    assert rel.max() < tol
    # the naive exp(x) - 1 loses all digits near 0: the test would catch that
    assert np.abs(_apply(tiny.astype(dtype))[0] - 1 - np.expm1(tiny)).max() > 0
    sat = _expm1(np.array([-1e4, np.nan, 1e4], dtype))
    assert sat[0] == -1.0 and np.isnan(sat[1]) and np.isfinite(sat[2])


@njit
def _expm1_gpu_blend(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = _expm1_32_gpu(x[i])
    return out


def test_gpu_float32_expm1_blend_relative_error():
    """The GPU float32 ``expm1`` (polynomial for |x| < 0.35, exp(x) - 1 beyond), evaluated on the
    CPU: relative error < 5e-7 everywhere, also near 0 and at the switch point (the GPU's
    hardware exp adds ~2 ulp beyond 0.35, where the result is >= 0.3 in magnitude)."""
    tiny = np.geomspace(1e-30, 0.35, 4000)
    edge = np.linspace(0.3, 0.4, 4001)
    x = np.concatenate([np.linspace(-80, 80, 40001), tiny, -tiny, edge, -edge, [0.0]])
    x = x.astype(np.float32)
    got = _expm1_gpu_blend(x)
    assert got.dtype == np.float32
    ref = np.expm1(x.astype(np.float64))
    rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)
    assert rel.max() < 5e-7


@njit
def _div(a, b):
    out = np.empty_like(a)
    for i in range(a.size):
        out[i] = fdiv(a[i], b[i])
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fdiv_is_ieee_division_on_the_cpu(dtype):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal(10000) * 10.0 ** rng.uniform(-20, 20, 10000)).astype(dtype)
    b = (rng.standard_normal(10000) * 10.0 ** rng.uniform(-20, 20, 10000)).astype(dtype)
    b[:3] = 0.0
    got = _div(a, b)
    assert got.dtype == dtype
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        np.testing.assert_array_equal(got, a / b)


@njit
def _normals(seeds, num_pairs, stream, like):
    out = np.empty((seeds.size, 2 * num_pairs), dtype=like.dtype)
    for r in range(seeds.size):
        for k in range(num_pairs):
            out[r, 2 * k], out[r, 2 * k + 1] = normal_pair(
                seeds[r], np.uint64(k), np.uint64(stream), like[0]
            )
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_pair_is_standard_normal(dtype):
    z = _normals(derive_seeds(0, 50), 1000, 0, np.zeros(1, dtype))
    assert z.dtype == dtype
    flat = z.astype(np.float64).ravel()
    assert abs(flat.mean()) < 0.01 and abs(flat.std() - 1) < 0.01
    assert stats.kstest(flat, "norm").pvalue > 1e-3
    assert abs(stats.kurtosis(flat)) < 0.05
    # neighbours, pairs and different simulations are uncorrelated
    assert abs(np.corrcoef(flat[:-1], flat[1:])[0, 1]) < 0.01
    assert abs(np.corrcoef(z[0].astype(float), z[1].astype(float))[0, 1]) < 0.1


def test_normal_pair_counter_based_and_streams():
    seeds = derive_seeds(3, 4)
    a = _normals(seeds, 10, 0, np.zeros(1))
    np.testing.assert_array_equal(a[2], _normals(seeds[2:3], 10, 0, np.zeros(1))[0])
    b = _normals(seeds, 10, 1, np.zeros(1))
    assert np.abs(a - b).min() > 0
    f32 = _normals(seeds, 10, 0, np.zeros(1, np.float32))
    np.testing.assert_allclose(f32, a, atol=5e-4)  # 24 vs 53 random bits, same stream


@njit
def _quads(seeds, num_blocks, stream, like):
    out = np.empty((seeds.size, 4 * num_blocks), dtype=like.dtype)
    for r in range(seeds.size):
        for c in range(num_blocks):
            z0, z1, z2, z3 = normal_quad(seeds[r], np.uint64(c), np.uint64(stream), like[0])
            out[r, 4 * c], out[r, 4 * c + 1], out[r, 4 * c + 2], out[r, 4 * c + 3] = z0, z1, z2, z3
    return out


@njit
def _quad_pieces(seeds, num_blocks):
    """The float32 quad from its pieces, as the CPU kernel computes it (two lane loops)."""
    out = np.empty((seeds.size, 4 * num_blocks), dtype=np.float32)
    for r in range(seeds.size):
        for c in range(num_blocks):
            x0, x1, x2, x3 = philox_words32(seeds[r], np.uint64(c), np.uint64(0))
            out[r, 4 * c], out[r, 4 * c + 1] = box_muller32(x0, x1)
            out[r, 4 * c + 2], out[r, 4 * c + 3] = box_muller32(x2, x3)
    return out


@njit
def _philox(c0, c1, c2, c3, k0, k1):
    return philox4x32(
        np.uint64(c0), np.uint64(c1), np.uint64(c2), np.uint64(c3), np.uint64(k0), np.uint64(k1)
    )


def test_philox_known_answers():
    """Philox4x32-10 known-answer vectors of Random123 (kat_vectors)."""
    m = 0xFFFFFFFF
    assert _philox(0, 0, 0, 0, 0, 0) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
    assert _philox(m, m, m, m, m, m) == (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)
    pi = (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344, 0xA4093822, 0x299F31D0)
    assert _philox(*pi) == (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)


def test_normal_quad_streams():
    seeds = derive_seeds(8, 6)
    # float64: exactly normal_pair's stream, two pairs per block of four (unchanged noise)
    np.testing.assert_array_equal(
        _quads(seeds, 50, 0, np.zeros(1)), _normals(seeds, 100, 0, np.zeros(1))
    )
    # float32: all four words of ONE Philox call per block (its first pair = normal_pair's)
    q32 = _quads(seeds, 50, 0, np.zeros(1, np.float32))
    assert q32.dtype == np.float32
    p32 = _normals(seeds, 50, 0, np.zeros(1, np.float32))
    np.testing.assert_array_equal(q32[:, 0::4], p32[:, 0::2])
    np.testing.assert_array_equal(q32[:, 1::4], p32[:, 1::2])
    assert np.abs(q32[:, 2::4] - p32[:, 0::2]).min() > 0  # not a copy of the first pair
    np.testing.assert_array_equal(_quad_pieces(seeds, 50), q32)
    # counter-based: a simulation's normals do not depend on the other seeds; streams differ
    np.testing.assert_array_equal(_quads(seeds[3:4], 50, 0, np.zeros(1, np.float32))[0], q32[3])
    assert np.abs(_quads(seeds, 50, 1, np.zeros(1, np.float32)) - q32).min() > 0


def test_normal_quad_float32_is_standard_normal():
    z = _quads(derive_seeds(1, 50), 1000, 0, np.zeros(1, np.float32)).astype(np.float64)
    flat = z.ravel()
    assert abs(flat.mean()) < 0.01 and abs(flat.std() - 1) < 0.01
    assert stats.kstest(flat, "norm").pvalue > 1e-3
    assert abs(stats.kurtosis(flat)) < 0.05
    for pos in range(4):  # each position of the block on its own (z2, z3: words x2, x3)
        col = z[:, pos::4].ravel()
        assert stats.kstest(col, "norm").pvalue > 1e-3, pos
    blocks = z.reshape(-1, 4)
    corr = np.corrcoef(blocks.T)  # within a block
    assert np.abs(corr - np.eye(4)).max() < 0.01
    assert abs(np.corrcoef(flat[:-1], flat[1:])[0, 1]) < 0.01
    # the squared radius of a Box-Muller pair is chi^2(2): pairs (z0, z1) and (z2, z3)
    for a in (0, 2):
        r2 = blocks[:, a] ** 2 + blocks[:, a + 1] ** 2
        assert stats.kstest(r2, "chi2", args=(2,)).pvalue > 1e-3
    assert abs(np.corrcoef(blocks[:, 0] ** 2 + blocks[:, 1] ** 2, blocks[:, 2] ** 2)[0, 1]) < 0.01


def test_derive_seeds():
    s = derive_seeds(12, 1000)
    assert s.dtype == np.uint64 and np.unique(s).size == 1000
    np.testing.assert_array_equal(derive_seeds(12, 10, start=990), s[990:])
    assert np.intersect1d(s, derive_seeds(13, 1000)).size == 0
    np.testing.assert_array_equal(resolve_seeds(12, 1000), s)
    np.testing.assert_array_equal(resolve_seeds(np.arange(3), 3), np.arange(3, dtype=np.uint64))
    assert resolve_seeds(None, 5).shape == (5,)
    assert derive_seeds(2**70 + 5, 2).shape == (2,)


@pytest.mark.parametrize(
    ("args", "exc", "msg"),
    [
        ((1.5, 2), TypeError, "seed: expected an integer"),
        ((1, -1), ValueError, "num: expected a finite number >= 0"),
        ((1, 2, -3), ValueError, "start: expected a finite number >= 0"),
    ],
)
def test_derive_seeds_errors(args, exc, msg):
    with pytest.raises(exc) as err:
        derive_seeds(*args)
    assert str(err.value).startswith(msg)


@njit
def _moments(x, shift):
    s1 = s2 = s3 = s4 = s5 = 0.0
    for v in x:
        s1, s2, s3, s4, s5 = moments_add(s1, s2, s3, s4, s5, v - shift)
    return central_moments(x.size, shift, s1, s2, s3, s4, s5)


def test_online_moments_match_scipy():
    rng = np.random.default_rng(0)
    for x in (
        rng.normal(-60, 20, 4000),
        -70 + 1e-3 * rng.standard_normal(4000),
        np.concatenate([np.full(3000, -65.0), rng.normal(0, 30, 1000)]),
    ):
        mean, m2, m3, m4, m5 = _moments(x, x[0])
        np.testing.assert_allclose(mean, x.mean(), rtol=1e-13)
        np.testing.assert_allclose([m2, m3, m4, m5], stats.moment(x, [2, 3, 4, 5]), rtol=1e-7)
    assert all(math.isnan(v) for v in _moments(np.zeros(0), 0.0))


def test_launch_helpers_and_lazy_cuda_import():
    assert num_lane_blocks(1) == 1 and num_lane_blocks(LANES + 1) == 2
    assert cuda_launch_config(1000, 128) == (8, 128)
    cuda = numba_cuda()
    assert hasattr(np, "row_stack") and hasattr(cuda, "jit")


def _float64_ops(fn, *args) -> list[str]:
    """LLVM instructions of ``fn``'s compiled body that do float64 arithmetic (not boxing)."""
    fn(*args)
    ir = next(iter(fn.inspect_llvm().values()))
    ops = ("fadd", "fsub", "fmul", "fdiv", "fptrunc", "fpext", "sitofp", "fptosi", "call")
    found, in_wrapper = [], False
    for line in ir.splitlines():
        if line.startswith("define"):
            in_wrapper = "cpython" in line or "cfunc" in line  # argument boxing, not the body
        elif not in_wrapper and "double" in line and any(f"= {op} " in line for op in ops):
            found.append(line.strip())
    return found


def test_float32_math_stays_float32():
    """float32 kernels must not silently compute in float64 (half the SIMD width).

    Regression: ``math.floor`` of a float32 returns int64 in numba, which promoted the whole
    ``fexp`` polynomial to float64.
    """
    from neurodyn.simulators._kernels.hh_model import hh_step
    from neurodyn.simulators._kernels.pyloric_model import gates_step, kinetic_constants

    KIN = tuple(np.float32(v) for v in kinetic_constants(0.025, 283.0))

    @njit
    def maths(x):
        s, c = fsincos(x)
        return fexp(x) + flog(x) + s + c

    @njit
    def noise(seed):
        return normal_pair(seed, np.uint64(3), np.uint64(0), np.float32(0.0))

    @njit
    def noise4(seed):
        return normal_quad(seed, np.uint64(3), np.uint64(0), np.float32(0.0))

    @njit
    def hh(v):
        return hh_step(v, v, v, v, v, v, v, v, v, v, v, v, v, v)

    @njit
    def gates(v):
        return gates_step(v, v, v, v, v, v, v, v, v, v, v, v, v, KIN)

    assert _float64_ops(maths, np.float32(0.5)) == []
    assert _float64_ops(noise, np.uint64(5)) == []
    assert _float64_ops(noise4, np.uint64(5)) == []
    assert _float64_ops(hh, np.float32(-60.0)) == []
    assert _float64_ops(gates, np.float32(-60.0)) == []


def test_kernel_cache_stamp_covers_the_whole_package():
    """A cached kernel is stamped with all kernel sources, not only its own file.

    numba's default stamp hashes the defining file only: editing ``mathfn.py`` left the old
    ``hh_cpu`` machine code in ``__pycache__`` (measured: 2x slower kernel, old numerics).
    """
    from numba.core.caching import FunctionCache

    from neurodyn.simulators._kernels import hh_cpu
    from neurodyn.simulators._kernels._cache import kernel_sources_hash

    impl = FunctionCache(hh_cpu._hh_block.py_func)._impl
    assert impl.locator.get_source_stamp() == kernel_sources_hash()
    assert type(impl.locator).__name__.startswith("NeurodynPackage")
    # functions defined elsewhere keep numba's own per-file stamp
    other = FunctionCache(_apply.py_func)._impl
    assert not type(other.locator).__name__.startswith("NeurodynPackage")


@njit(nogil=True)
def _mark_blocks(b0, b1, out, fail_at):
    for b in range(b0, b1):
        if b == fail_at:
            raise ValueError("block failed")
        out[b] += b + 1


@pytest.mark.parametrize("threads", [1, 2])
def test_run_block_ranges_covers_every_block_once_and_reraises(threads):
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        for n in (1, 3, 37):
            out = np.zeros(n, dtype=np.int64)
            run_block_ranges(_mark_blocks, n, out, -1)
            np.testing.assert_array_equal(out, np.arange(1, n + 1))
        with pytest.raises(ValueError, match="block failed"):
            run_block_ranges(_mark_blocks, 37, np.zeros(37, dtype=np.int64), 20)
    finally:
        numba.set_num_threads(old)


def test_cpu_kernels_do_not_depend_on_the_thread_count():
    import numba
    import torch

    from neurodyn.simulators import HodgkinHuxley

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one numba thread only")
    hh = HodgkinHuxley()
    theta = hh.prior.sample((3 * LANES + 5,))
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = hh.simulate(theta, seed=4)
        numba.set_num_threads(2)
        two = hh.simulate(theta, seed=4)
    finally:
        numba.set_num_threads(old)
    assert torch.equal(torch.nan_to_num(one, 7.0), torch.nan_to_num(two, 7.0))


@njit
def _spike_rules(c0, c1, c2, s, last, count, dt, dedup):
    n = c0.size
    ref = np.empty((n, 2), dtype=np.int64)
    got = np.empty((n, 2), dtype=np.int64)
    for i in range(n):
        ref[i, 0], ref[i, 1] = spike_count_update(
            is_spike(c0[i], c1[i], c2[i]), s[i], last[i], count[i], dt, dedup
        )
        got[i, 0], got[i, 1] = _spike_lanes(
            c0[i], c1[i], c2[i], s[i], s[i] * dt, last[i], count[i], dt, dedup
        )
    return ref, got


@njit
def _spike_rules_float(c0, c1, c2, s, last, count, dt, dedup):
    n = c0.size
    got = np.empty((n, 2), dtype=np.int64)
    for i in range(n):
        a, b = _spike_lanes(c0[i], c1[i], c2[i], s[i], s[i] * dt, last[i], count[i], dt, dedup)
        got[i, 0], got[i, 1] = int(a), int(b)
    return None, got


def test_branch_free_spike_rule_equals_spikes_module():
    """hh_cpu's lane form of the spike rule equals spikes.is_spike + spike_count_update, at the
    threshold, on ties, with NaN and at the de-duplication boundary (20 steps of 0.025 ms)."""
    rng = np.random.default_rng(3)
    n = 20000
    vals = np.array([-10.0, -10.0 + 1e-12, -9.0, -5.0, 0.0, 0.0, 20.0, -20.0, np.nan])
    c0, c1, c2 = (rng.choice(vals, n) for _ in range(3))
    s = rng.integers(0, 5000, n)
    last = np.where(rng.random(n) < 0.2, -1, s - rng.integers(1, 25, n))
    count = rng.integers(0, 5, n)
    ref, got = _spike_rules(c0, c1, c2, s, last, count, 0.025, 0.5)
    np.testing.assert_array_equal(got, ref)
    # the kernel's form: sample index, last spike and count held as float64
    _, got_f = _spike_rules_float(
        c0, c1, c2, s.astype(float), last.astype(float), count.astype(float), 0.025, 0.5
    )
    np.testing.assert_array_equal(got_f, ref)
    detected = ref[:, 0] == s  # ``last`` moves to ``s`` on a spike (it is never ``s`` before)
    kept = ref[:, 1] - count
    assert kept.sum() > 100 and (detected & (kept == 0)).sum() > 100  # counted and de-duplicated


@njit
def _transpose_at(src, u0, j0, dst, r0, c0):
    transpose_block(src, u0, j0, dst, r0, c0)
    prefetch_write(dst, r0, c0)  # a hint only: must not change anything
    return block_width(src)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_simd_block_transpose(dtype):
    """transpose_block moves exactly one N x N block (N = 64 bytes / itemsize), transposed,
    and touches nothing else of the destination."""
    rng = np.random.default_rng(0)
    src = rng.standard_normal((37, 70)).astype(dtype)
    dst = rng.standard_normal((50, 61)).astype(dtype)
    expected = dst.copy()
    n = _transpose_at(src, 3, 5, dst, 7, 9)
    assert n == 64 // np.dtype(dtype).itemsize
    expected[7 : 7 + n, 9 : 9 + n] = src[3 : 3 + n, 5 : 5 + n].T
    np.testing.assert_array_equal(dst, expected)
