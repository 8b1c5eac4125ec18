"""Counter-based random numbers: per-simulation seeds and normals from (seed, counter).

Every simulation owns a 64-bit seed. Its noise at time step ``k`` is a pure function of
``(seed, k)`` (Philox4x32-10, Salmon et al. 2011, then Box-Muller), so a simulation's result
does not depend on the batch it runs in, on how a batch is split between threads or tasks, or
on the device. Nothing is stored between steps except the unused normals of the last call.

* :func:`derive_seeds` (host, NumPy): ``seed -> (num,)`` uint64 per-simulation seeds, a hash of
  ``(seed, start + i)``.
* :func:`philox4x32` (kernel, scalar): the 4x32-bit block for a 128-bit counter and 64-bit key.
* :func:`normal_pair` (kernel, scalar): two standard normals for
  ``(seed, counter, stream)`` in the precision of ``like`` (float32 uses 24 random bits per
  uniform, float64 uses 53).
* :func:`normal_quad` (kernel, scalar): four standard normals for the block ``counter`` of
  four: in float32 all four Philox words of ``counter`` (two Box-Muller pairs, one Philox call
  per four normals), in float64 ``normal_pair`` at ``2 * counter`` and ``2 * counter + 1`` (the
  float64 stream of ``normal_pair``, unchanged). Its float32 half is also available in two
  pieces, :func:`philox_words32` and :func:`box_muller32`, so that a CPU lane loop can run the
  Philox rounds (64-bit lanes) and the Box-Muller maths (32-bit lanes, twice the SIMD width) in
  separate loops; ``box_muller32(*philox_words32(...)[:2])`` etc. equal ``normal_quad``.

Example:
    >>> seeds = derive_seeds(1, 3)
    >>> seeds.dtype, seeds.shape
    (dtype('uint64'), (3,))
    >>> bool((derive_seeds(1, 2, start=1) == seeds[1:]).all())
    True
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from neurodyn._validation import check_positive, fail
from neurodyn.simulators._kernels.mathfn import flog, fsincos, is_float32

__all__ = [
    "box_muller32",
    "derive_seeds",
    "normal_pair",
    "normal_quad",
    "philox4x32",
    "philox_words32",
    "resolve_seeds",
]

_MASK32 = np.uint64(0xFFFFFFFF)
_SH32 = np.uint64(32)
_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (bijective 64-bit mixing), vectorised over uint64 arrays."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def derive_seeds(seed: int, num: int, start: int = 0) -> np.ndarray:
    """Per-simulation seeds ``(num,)`` uint64: a counter-based hash of ``(seed, start + i)``.

    Simulation ``i`` of a call with ``seed=s`` uses ``derive_seeds(s, num)[i]``, which equals
    ``derive_seeds(s, 1, start=i)[0]``: splitting a campaign into chunks that pass ``start``
    reproduces the single-call result exactly.

    Args:
        seed: any Python int (reduced modulo 2**64).
        num: number of seeds.
        start: index of the first seed.

    Returns:
        ``(num,)`` uint64 array.

    Example:
        >>> derive_seeds(0, 4).shape
        (4,)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        fail("seed", "an integer", seed, exc=TypeError)
    num = check_positive("num", num, strict=False, integer=True)
    start = check_positive("start", start, strict=False, integer=True)
    with np.errstate(over="ignore"):
        base = _mix64(np.array([int(seed) % 2**64], dtype=np.uint64))[0]
        idx = np.arange(start, start + num, dtype=np.uint64)
        return _mix64(_mix64(base ^ (idx * _GOLDEN + np.uint64(1))))


def resolve_seeds(seed, num: int) -> np.ndarray:
    """Turn the ``seed`` argument of ``simulate`` into ``(num,)`` uint64 per-simulation seeds.

    ``None`` draws fresh entropy, an int ``s`` gives ``derive_seeds(s, num)``, an integer
    array ``(num,)`` is used as is.
    """
    if seed is None:
        return derive_seeds(int(np.random.SeedSequence().entropy), num)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return derive_seeds(int(seed), num)
    arr = np.asarray(seed.cpu() if hasattr(seed, "cpu") else seed)
    if arr.ndim != 1 or arr.shape[0] != num or arr.dtype.kind not in "iu":
        fail("seed", f"None, an int or an integer array of shape ({num},)", arr)
    return arr.astype(np.uint64)


@njit(inline="always", error_model="numpy", cache=True)
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 block: counter words ``c0..c3`` and key words ``k0, k1`` (uint64 holding
    32-bit values) -> four uint64 holding 32-bit random words."""
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (
            (p1 >> _SH32) ^ c1 ^ k0,
            p1 & _MASK32,
            (p0 >> _SH32) ^ c3 ^ k1,
            p0 & _MASK32,
        )
        k0 = (k0 + _W0) & _MASK32
        k1 = (k1 + _W1) & _MASK32
    return c0, c1, c2, c3


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def normal_pair(seed, counter, stream, like):
    """Two independent standard normals for ``(seed, counter, stream)``.

    Args:
        seed: the simulation's uint64 seed (Philox key).
        counter: uint64 block index (e.g. ``step // 2``).
        stream: uint64 stream id (0 for a model's first noise source; use others for more).
        like: a float32 or float64 value; the result has its type.

    Returns:
        ``(z0, z1)`` of the type of ``like``.
    """
    T = type(like)  # both branches return T; the dead one is removed
    k0 = seed & _MASK32
    k1 = seed >> _SH32
    x0, x1, x2, x3 = philox4x32(
        counter & _MASK32, counter >> _SH32, stream & _MASK32, np.uint64(0x6E647964), k0, k1
    )
    if is_float32(like):
        f = np.float32
        u0 = f(f(x0 >> np.uint64(8)) + f(0.5)) * f(2.0**-24)
        u1 = f(f(x1 >> np.uint64(8)) + f(0.5)) * f(2.0**-24)
        r = math.sqrt(f(-2.0) * flog(u0))
        s, c = fsincos(f(math.pi) * (u1 - f(0.5)))
        return T(r * (c * c - s * s)), T(r * (f(2.0) * s * c))
    u0 = (float((x0 << np.uint64(21)) ^ (x2 >> np.uint64(11))) + 0.5) * 2.0**-53
    u1 = (float((x1 << np.uint64(21)) ^ (x3 >> np.uint64(11))) + 0.5) * 2.0**-53
    r = math.sqrt(-2.0 * flog(u0))
    s, c = fsincos(math.pi * (u1 - 0.5))
    return T(r * (c * c - s * s)), T(r * (2.0 * s * c))


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def philox_words32(seed, counter, stream):
    """The Philox4x32-10 block of ``normal_pair(seed, counter, stream, ...)`` (same key and
    counter layout) as four ``np.uint32`` words."""
    x0, x1, x2, x3 = philox4x32(
        counter & _MASK32,
        counter >> _SH32,
        stream & _MASK32,
        np.uint64(0x6E647964),
        seed & _MASK32,
        seed >> _SH32,
    )
    return np.uint32(x0), np.uint32(x1), np.uint32(x2), np.uint32(x3)


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def box_muller32(x0, x1):
    """Two float32 standard normals from two ``np.uint32`` random words (their top 24 bits),
    by the formula of ``normal_pair``'s float32 branch: ``normal_pair(s, c, t, float32)`` equals
    ``box_muller32(*philox_words32(s, c, t)[:2])``."""
    f = np.float32
    u0 = f(f(x0 >> np.uint32(8)) + f(0.5)) * f(2.0**-24)
    u1 = f(f(x1 >> np.uint32(8)) + f(0.5)) * f(2.0**-24)
    r = math.sqrt(f(-2.0) * flog(u0))
    s, c = fsincos(f(math.pi) * (u1 - f(0.5)))
    return r * (c * c - s * s), r * (f(2.0) * s * c)


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def normal_quad(seed, counter, stream, like):
    """Four independent standard normals for block ``counter`` of ``(seed, stream)``.

    A model that needs one normal per step ``k`` uses normal ``k & 3`` of
    ``normal_quad(seed, k >> 2, stream, like)``.

    * float32: the four words of one Philox call, ``box_muller32(x0, x1)`` then
      ``box_muller32(x2, x3)``: half the Philox calls of ``normal_pair`` per normal (this is a
      different float32 stream from ``normal_pair``'s).
    * float64: ``normal_pair(seed, 2 * counter, ...)`` then ``normal_pair(seed, 2 * counter + 1,
      ...)``, i.e. step ``k`` gets exactly the normal that the ``normal_pair`` scheme
      (``normal_pair(seed, k >> 1, ...)``, first or second by ``k & 1``) gives it.

    Returns:
        ``(z0, z1, z2, z3)`` of the type of ``like``.
    """
    T = type(like)
    if is_float32(like):
        x0, x1, x2, x3 = philox_words32(seed, counter, stream)
        a, b = box_muller32(x0, x1)
        c, d = box_muller32(x2, x3)
        return T(a), T(b), T(c), T(d)
    c2 = counter << np.uint64(1)
    a, b = normal_pair(seed, c2, stream, like)
    c, d = normal_pair(seed, c2 | np.uint64(1), stream, like)
    return T(a), T(b), T(c), T(d)
