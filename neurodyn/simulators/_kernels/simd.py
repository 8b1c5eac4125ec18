"""Explicit SIMD building blocks for the CPU kernels (LLVM vector IR through numba intrinsics).

LLVM vectorises the kernels' lane loops on its own, but not a transpose: writing a time-major
tile ``tile[u, j]`` (steps x lanes) into row-major traces ``trace[j, u]`` compiled to gathers
or to scatters (``vscatterdps``, several cycles per element on AMD and Intel cores).
:func:`transpose_block` moves an ``N x N`` block (``N`` = 16 float32 or 8 float64, one
64-byte vector per row) with ``N`` vector loads, ``N log2 N`` two-vector shuffles (which x86
lowers to ``vpermt2ps`` / ``vpermt2pd``) and ``N`` vector stores.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["block_width", "transpose_block"]


def _width(dtype: types.Type) -> int:
    return 64 // (dtype.bitwidth // 8)


@intrinsic
def block_width(typingctx, arr):
    """Compile-time constant: elements per 64-byte vector for ``arr``'s dtype (16 for float32,
    8 for float64): the block size of :func:`transpose_block`."""
    if not isinstance(arr, types.Array) or not isinstance(arr.dtype, types.Float):
        return None
    n = _width(arr.dtype)

    def codegen(context, builder, signature, args):
        return context.get_constant(types.intp, n)

    return types.intp(arr), codegen


def _butterfly_masks(n: int) -> list[tuple[int, list[int], list[int]]]:
    """Per stage ``b = n/2, n/4, ..., 1``: the shuffle masks that swap the off-diagonal
    ``b x b`` blocks of each ``2b x 2b`` block (rows ``i`` and ``i + b``, ``i & b == 0``)."""
    stages = []
    b = n // 2
    while b >= 1:
        lo = [k if (k & b) == 0 else n + k - b for k in range(n)]
        hi = [k + b if (k & b) == 0 else n + k for k in range(n)]
        stages.append((b, lo, hi))
        b //= 2
    return stages


@intrinsic
def transpose_block(typingctx, src, u0, j0, dst, r0, c0):
    """``dst[r0 + k, c0 + u] = src[u0 + u, j0 + k]`` for ``u, k < N`` (:func:`block_width`).

    ``src`` and ``dst`` are C-contiguous 2-D arrays of one float dtype; no bounds checks (the
    caller guarantees the block lies inside both arrays). Returns nothing.
    """
    if not (
        isinstance(src, types.Array)
        and isinstance(dst, types.Array)
        and src.ndim == dst.ndim == 2
        and src.layout == dst.layout == "C"
        and isinstance(src.dtype, types.Float)
        and src.dtype == dst.dtype
    ):
        return None
    n = _width(src.dtype)
    stages = _butterfly_masks(n)
    sig = types.void(src, u0, j0, dst, r0, c0)

    def codegen(context, builder, signature, args):
        src_v, u0_v, j0_v, dst_v, r0_v, c0_v = args
        sty, u0_t, j0_t, dty, r0_t, c0_t = signature.args
        intp = context.get_value_type(types.intp)
        u0_i = context.cast(builder, u0_v, u0_t, types.intp)
        j0_i = context.cast(builder, j0_v, j0_t, types.intp)
        r0_i = context.cast(builder, r0_v, r0_t, types.intp)
        c0_i = context.cast(builder, c0_v, c0_t, types.intp)
        sarr = context.make_array(sty)(context, builder, src_v)
        darr = context.make_array(dty)(context, builder, dst_v)
        vec = ir.VectorType(context.get_value_type(sty.dtype), n)
        align = sty.dtype.bitwidth // 8
        rows = []
        for u in range(n):
            idx = [builder.add(u0_i, ir.Constant(intp, u)), j0_i]
            p = cgutils.get_item_pointer(context, builder, sty, sarr, idx)
            rows.append(builder.load(builder.bitcast(p, vec.as_pointer()), align=align))
        i32v = ir.VectorType(ir.IntType(32), n)
        for b, lo, hi in stages:
            lo_m = ir.Constant(i32v, lo)
            hi_m = ir.Constant(i32v, hi)
            for i in range(n):
                if i & b:
                    continue
                x, y = rows[i], rows[i + b]
                rows[i] = builder.shuffle_vector(x, y, lo_m)
                rows[i + b] = builder.shuffle_vector(x, y, hi_m)
        for k in range(n):
            idx = [builder.add(r0_i, ir.Constant(intp, k)), c0_i]
            p = cgutils.get_item_pointer(context, builder, dty, darr, idx)
            builder.store(rows[k], builder.bitcast(p, vec.as_pointer()), align=align)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def prefetch_write(typingctx, arr, i, j):
    """Hint the cache line of ``arr[i, j]`` (2-D C array) into the cache for writing
    (``llvm.prefetch``, write, high locality); no bounds check, no effect on results."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2):
        return None
    sig = types.void(arr, i, j)

    def codegen(context, builder, signature, args):
        aty, it, jt = signature.args
        a = context.make_array(aty)(context, builder, args[0])
        idx = [
            context.cast(builder, args[1], it, types.intp),
            context.cast(builder, args[2], jt, types.intp),
        ]
        p = cgutils.get_item_pointer(context, builder, aty, a, idx)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(p, i8p), i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen
