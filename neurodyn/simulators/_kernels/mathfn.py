"""Elementary functions for the kernels: vectorisable on the CPU, hardware on the GPU.

LLVM cannot vectorise calls to ``libm`` ``exp``/``log``/``sin`` without a vector maths library
(numba's SVML is usually absent), which leaves a lane-batched CPU kernel bound by scalar calls.
The functions here are written with range reduction, a polynomial and exponent bit
manipulation only, so that a loop over SIMD lanes vectorises. Inside a ``numba.cuda`` kernel
they compile to the plain ``math`` functions instead (hardware-approximated with
``fastmath``): :func:`on_gpu` is a compile-time constant that tells the two targets apart.

The target and precision switches (:func:`on_gpu`, :func:`is_float32`) are intrinsics that
compile to constants; every branch is typed, so each returns ``type(x)(...)`` and LLVM drops the
dead ones. All functions are dtype-generic: ``float32`` in, ``float32`` arithmetic and result
out (the polynomial degree follows the precision: float32 ~1 ulp, float64 ~2 ulp on the ranges
used).

Accuracy (checked by ``tests/simulators/test_kernels.py`` against ``numpy``):
``fexp`` relative error < 4e-16 (float64) / 1e-7 (float32) on [-700, 700] / [-80, 80];
``fexpm1`` relative error < 4e-16 / 2e-7 on the same ranges (also for ``|x|`` near 0);
``flog`` absolute error < 2e-15 / 2e-6 on [1e-12, 1]; ``fsincos`` < 4e-16 / 2e-7 on
[-pi/2, pi/2]. Inputs beyond the exponent range saturate (``fexp(inf)`` is finite, about
``8e307``); NaN propagates.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["fdiv", "fexp", "fexpm1", "flog", "fsincos", "is_float32", "on_gpu"]


@intrinsic
def on_gpu(typingctx):
    """Compile-time constant: True inside a CUDA kernel, False on the CPU target."""
    sig = types.boolean()

    def codegen(context, builder, signature, args):
        return context.get_constant(types.boolean, "CUDA" in type(context).__name__)

    return sig, codegen


@intrinsic
def is_float32(typingctx, x):
    """Compile-time constant: True when ``x`` is a float32 scalar."""
    sig = types.boolean(x)
    flag = isinstance(x, types.Float) and x.bitwidth == 32

    def codegen(context, builder, signature, args):
        return context.get_constant(types.boolean, flag)

    return sig, codegen


@intrinsic
def _i64_as_f64(typingctx, x):
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


@intrinsic
def _f64_as_i64(typingctx, x):
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return sig, codegen


@intrinsic
def _i32_as_f32(typingctx, x):
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return sig, codegen


@intrinsic
def _f32_as_i32(typingctx, x):
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int32))

    return sig, codegen


@intrinsic
def _floor(typingctx, x):
    """``floor(x)`` in the type of ``x`` (``llvm.floor``: vectorisable on the CPU, one
    instruction on the GPU; ``np.floor`` is not lowered for CUDA and ``math.floor`` returns an
    integer, which would promote float32 arithmetic to float64)."""
    sig = x(x)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.floor", [args[0].type])
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def _clamp(typingctx, x, lo, hi):
    """``min(max(x, lo), hi)`` for three floats of one type, NaN passing through.

    Emitted as two compare-selects *without* fast-math flags: LLVM then keeps the exact
    ``x < lo ? lo : x`` pattern, which x86 lowers to one ``vmaxps`` (and ``vminps``) with the
    operand order that returns ``x`` when it is NaN. Written in Python under ``fastmath`` the
    compares were folded into their producers (``-dt * s < -87`` became ``s > 87 / dt``) and
    each clamp cost two compares, a mask AND and a blend inside the HH lane loop.
    """
    if not all(isinstance(t, types.Float) for t in (x, lo, hi)):
        return None
    sig = x(x, lo, hi)  # the bounds are converted to the type of x

    def codegen(context, builder, signature, args):
        v = args[0]
        a = context.cast(builder, args[1], lo, x)
        b = context.cast(builder, args[2], hi, x)
        v = builder.select(builder.fcmp_ordered("<", v, a), a, v)
        return builder.select(builder.fcmp_ordered(">", v, b), b, v)

    return sig, codegen


@intrinsic
def fdiv(typingctx, a, b):
    """``a / b`` for two floats of one type; in float32 inside a CUDA kernel the approximate
    division ``div.approx.ftz.f32`` (reciprocal on the special-function unit and one multiply,
    <= 2 ulp for ``|b|`` in [2^-126, 2^126]).

    ``/`` compiles to ``div.full.f32`` there even with ``fastmath`` (several times the
    instructions); the kernels' float32 mode tolerates 2 ulp. Elsewhere an IEEE division (the
    CPU kernels' results can move by an ulp in rare steps against ``/``, through different
    FMA contraction around it).
    """
    if not (isinstance(a, types.Float) and a == b):
        return None
    sig = a(a, b)
    approx = a.bitwidth == 32

    def codegen(context, builder, signature, args):
        if approx and "CUDA" in type(context).__name__:
            f32 = ir.FloatType()
            fnty = ir.FunctionType(f32, [f32, f32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.nvvm.div.approx.ftz.f")
            return builder.call(fn, args)
        return builder.fdiv(args[0], args[1])

    return sig, codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _exp64(x):
    x = _clamp(x, -708.0, 709.0)  # NaN passes through (comparisons are False)
    k = math.floor(x * _LOG2E + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    # p * 2^k as an integer add to p's exponent field (exact: p in [2^-1/2, 2^1/2] and k in
    # [-1021, 1023] after the clamp keep the result normal), no multiply
    return _i64_as_f64(_f64_as_i64(p) + (np.int64(k) << np.int64(52)))


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _exp32(x):
    f = np.float32
    x = _clamp(x, f(-87.0), f(88.0))
    k = _floor(x * f(_LOG2E) + f(0.5))  # stays float32 (math.floor would give int64)
    r = (x - k * f(0.693359375)) - k * f(-2.12194440e-4)
    # the degree-7 Taylor polynomial as 1 + (r + r^2 t(r)), t by Estrin's scheme: four
    # dependent FMA levels instead of Horner's seven (the HH lane loop is bound by the latency
    # of its exp chains); the small terms are summed before the 1, as in Horner's form
    r2 = r * r
    t01 = r * f(1.0 / 6.0) + f(0.5)
    t23 = r * f(1.0 / 120.0) + f(1.0 / 24.0)
    t45 = r * f(1.0 / 5040.0) + f(1.0 / 720.0)
    t = (t45 * r2 + t23) * r2 + t01
    p = (t * r2 + r) + f(1.0)
    # p * 2^k as an integer add to p's exponent field (exact: p in [2^-1/2, 2^1/2] and k in
    # [-125, 127] after the clamp keep the result normal): one multiply fewer per exp on the
    # FMA ports, which bound the HH lane loops
    return _i32_as_f32(_f32_as_i32(p) + (np.int32(k) << np.int32(23)))


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def fexp(x):
    """``exp(x)`` in the precision of ``x`` (vectorisable on CPU, ``math.exp`` on GPU)."""
    T = type(x)  # every branch returns T; the dead ones are removed after constant folding
    if on_gpu():
        return T(math.exp(x))
    if is_float32(x):
        return T(_exp32(x))
    return T(_exp64(x))


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _expm1_64(x):
    x = _clamp(x, -745.0, 709.0)
    k = math.floor(x * _LOG2E + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    q = 1.0 / 6227020800.0
    q = q * r + 1.0 / 479001600.0
    q = q * r + 1.0 / 39916800.0
    q = q * r + 1.0 / 3628800.0
    q = q * r + 1.0 / 362880.0
    q = q * r + 1.0 / 40320.0
    q = q * r + 1.0 / 5040.0
    q = q * r + 1.0 / 720.0
    q = q * r + 1.0 / 120.0
    q = q * r + 1.0 / 24.0
    q = q * r + 1.0 / 6.0
    q = q * r + 0.5
    q = (q * r) * r + r  # expm1(r), |r| <= ln2 / 2
    k = -1022.0 if k < -1022.0 else k  # 2^k underflows to 0 below; the result is then -1
    two_k = _i64_as_f64((np.int64(k) + np.int64(1023)) << np.int64(52))
    return two_k * q + (two_k - 1.0)


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _expm1_taylor32(r):
    # expm1(r) by its degree-8 Taylor polynomial (float32; small |r|)
    f = np.float32
    q = f(1.0 / 40320.0)
    q = q * r + f(1.0 / 5040.0)
    q = q * r + f(1.0 / 720.0)
    q = q * r + f(1.0 / 120.0)
    q = q * r + f(1.0 / 24.0)
    q = q * r + f(1.0 / 6.0)
    q = q * r + f(0.5)
    return (q * r) * r + r


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _expm1_32(x):
    f = np.float32
    x = _clamp(x, f(-104.0), f(88.0))
    k = _floor(x * f(_LOG2E) + f(0.5))
    r = (x - k * f(0.693359375)) - k * f(-2.12194440e-4)
    q = _expm1_taylor32(r)  # |r| <= ln2 / 2
    k = f(-126.0) if k < f(-126.0) else k
    two_k = _i32_as_f32((np.int32(k) + np.int32(127)) << np.int32(23))
    return two_k * q + (two_k - f(1.0))


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _expm1_32_gpu(x):
    # |x| < 0.35: degree-8 Taylor polynomial (truncation < 1e-8 relative); elsewhere
    # exp(x) - 1 on the special-function unit, whose absolute error ~1e-7 is < 4e-7 relative
    # there. Branch-free: about 12 instructions instead of ~30 for libdevice's expm1f.
    f = np.float32
    q = _expm1_taylor32(x)
    e = f(math.exp(x)) - f(1.0)
    return q if abs(x) < f(0.35) else e


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def fexpm1(x):
    """``exp(x) - 1`` in the precision of ``x``, accurate relative to the result also near 0.

    Branch-free on the CPU (vectorisable); on the GPU ``math.expm1`` in float64 and a
    polynomial / hardware-exp blend in float32 (relative error < 5e-7).
    """
    T = type(x)
    if on_gpu():
        if is_float32(x):
            return T(_expm1_32_gpu(x))
        return T(math.expm1(x))
    if is_float32(x):
        return T(_expm1_32(x))
    return T(_expm1_64(x))


_SQRT2 = 1.4142135623730951


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _log64(x):
    bits = _f64_as_i64(x)
    e = (bits >> np.int64(52)) - np.int64(1023)
    m = _i64_as_f64((bits & np.int64(0x000FFFFFFFFFFFFF)) | np.int64(0x3FF0000000000000))
    big = m > _SQRT2
    m = m * 0.5 if big else m
    ef = float(e) + (1.0 if big else 0.0)
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    p = 1.0 / 21.0
    p = p * z + 1.0 / 19.0
    p = p * z + 1.0 / 17.0
    p = p * z + 1.0 / 15.0
    p = p * z + 1.0 / 13.0
    p = p * z + 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    p = p * z + 1.0
    return ef * _LN2_HI + (ef * _LN2_LO + 2.0 * s * p)


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _log32(x):
    f = np.float32
    bits = _f32_as_i32(x)
    e = (bits >> np.int32(23)) - np.int32(127)
    m = _i32_as_f32((bits & np.int32(0x007FFFFF)) | np.int32(0x3F800000))
    big = m > f(_SQRT2)
    m = m * f(0.5) if big else m
    ef = f(e) + (f(1.0) if big else f(0.0))
    s = (m - f(1.0)) / (m + f(1.0))
    z = s * s
    p = f(1.0 / 11.0)
    p = p * z + f(1.0 / 9.0)
    p = p * z + f(1.0 / 7.0)
    p = p * z + f(1.0 / 5.0)
    p = p * z + f(1.0 / 3.0)
    p = p * z + f(1.0)
    return ef * f(math.log(2.0)) + f(2.0) * s * p


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def flog(x):
    """``log(x)`` for positive normal ``x`` in the precision of ``x``."""
    T = type(x)
    if on_gpu():
        return T(math.log(x))
    if is_float32(x):
        return T(_log32(x))
    return T(_log64(x))


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _sincos64(x):
    z = x * x
    s = -1.0 / 51090942171709440000.0
    s = s * z + 1.0 / 121645100408832000.0
    s = s * z - 1.0 / 355687428096000.0
    s = s * z + 1.0 / 1307674368000.0
    s = s * z - 1.0 / 6227020800.0
    s = s * z + 1.0 / 39916800.0
    s = s * z - 1.0 / 362880.0
    s = s * z + 1.0 / 5040.0
    s = s * z - 1.0 / 120.0
    s = s * z + 1.0 / 6.0
    s = x * (1.0 - z * s)
    c = 1.0 / 2432902008176640000.0
    c = c * z - 1.0 / 6402373705728000.0
    c = c * z + 1.0 / 20922789888000.0
    c = c * z - 1.0 / 87178291200.0
    c = c * z + 1.0 / 479001600.0
    c = c * z - 1.0 / 3628800.0
    c = c * z + 1.0 / 40320.0
    c = c * z - 1.0 / 720.0
    c = c * z + 1.0 / 24.0
    c = c * z - 0.5
    c = c * z + 1.0
    return s, c


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _sincos32(x):
    f = np.float32
    z = x * x
    s = f(-1.0 / 6227020800.0)
    s = s * z + f(1.0 / 39916800.0)
    s = s * z - f(1.0 / 362880.0)
    s = s * z + f(1.0 / 5040.0)
    s = s * z - f(1.0 / 120.0)
    s = s * z + f(1.0 / 6.0)
    s = x * (f(1.0) - z * s)
    c = f(-1.0 / 87178291200.0)
    c = c * z + f(1.0 / 479001600.0)
    c = c * z - f(1.0 / 3628800.0)
    c = c * z + f(1.0 / 40320.0)
    c = c * z - f(1.0 / 720.0)
    c = c * z + f(1.0 / 24.0)
    c = c * z - f(0.5)
    c = c * z + f(1.0)
    return s, c


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def fsincos(x):
    """``(sin(x), cos(x))`` for ``|x| <= pi/2`` in the precision of ``x``."""
    T = type(x)
    if on_gpu():
        return T(math.sin(x)), T(math.cos(x))
    if is_float32(x):
        s, c = _sincos32(x)
    else:
        s, c = _sincos64(x)
    return T(s), T(c)
