"""Compiled simulator kernels: numba on the CPU (lane blocks over threads) and CUDA.

One model definition serves both targets. The engine's pieces:

``mathfn``   ``fexp``/``flog``/``fsincos``: polynomial (SIMD-vectorisable) on the CPU, the
             hardware ``math`` functions inside CUDA kernels; dtype-generic (float32 stays
             float32). ``on_gpu()``/``is_float32(x)`` are compile-time constants.
``rng``      ``derive_seeds(seed, num, start=0)`` (host) and the counter-based generator
             ``normal_pair(seed, counter, stream, like)`` (kernel): Philox4x32-10 + Box-Muller,
             a pure function of (per-simulation seed, counter, stream) -> batch, partition
             and device invariant; ``normal_quad`` gives four normals per counter (in float32
             all four Philox words: the HH kernels use it).
``moments``  float64 online power sums ``moments_add`` and ``central_moments``.
``spikes``   the eLife spike rule, online (needs the next two samples only).
``launch``   ``LANES`` (SIMD lanes per CPU block), ``run_block_ranges`` (blocks over threads,
             guided scheduling), ``cuda_launch_config``, ``kernel_device``.
``simd``     explicit vector IR where LLVM will not vectorise: ``transpose_block`` (N x N
             block transpose by shuffles), ``prefetch_write``.
``_cuda``    ``numba_cuda()``: lazy ``numba.cuda`` import with the NumPy 2.5 ``row_stack`` shim;
             ``cuda_available()``, ``cuda_simulator_enabled()``.
``hh_model`` / ``hh_cpu`` / ``hh_cuda``: the Hodgkin-Huxley model and its two kernels.
``pyloric_model`` / ``pyloric_online`` / ``pyloric_cpu`` / ``pyloric_cuda``: the pyloric network
             (lanes = networks x neurons on the CPU; one thread per neuron on the GPU).

How to write a model with this engine (the pattern of ``hh_*``)
-----------------------------------------------------------------
1. Scalar model arithmetic, ONCE, as ``@njit(inline="always", fastmath=True,
   error_model="numpy")`` functions of scalars returning tuples. Make constants follow the
   state dtype with ``T = type(v)`` and ``T(0.32)`` (a bare ``0.32`` promotes float32 to
   float64); use ``fexp``/``flog`` instead of ``math.exp``/``math.log``. Every branch of a
   function must return the same type (numba types dead branches too).
   ``error_model="numpy"`` removes division-by-zero checks (they block vectorisation).
2. CPU kernel: a plain ``@njit(fastmath=True, error_model="numpy", cache=True)`` block function
   that simulates ``LANES`` simulations with the state in lane arrays (``v = np.empty(LANES)``)
   and, per time step, loops ``for j in range(LANES): v[j], m[j] = step(v[j], m[j], ...)``
   (keep branches that depend on the step index OUTSIDE the lane loops so that LLVM
   vectorises them). For a large model, give the state arrays a compile-time shape (LLVM can
   then prove the rows disjoint) and split the step into a few loops (membrane, gates): one
   fused loop spills registers (pyloric: 2x slower on AVX2) or is bound by the latency of its
   dependent chain (HH: 2.9 ns per simulation-step as one loop, 2.0 as three over 64 lanes).
   Output that goes per lane (traces, feature accumulators) is best collected in time-major
   tiles and moved out every few steps (``hh_cpu``: ``simd.transpose_block`` for traces,
   lanes-outer feature updates with the accumulators in registers); then a thin
   ``@njit(nogil=True, cache=True)`` loop ``for b in range(b0, b1): block(b, ...)`` and a
   Python entry point that hands it to ``launch.run_block_ranges`` (ranges of blocks on
   ``numba.get_num_threads()`` threads). Not ``prange``: a ``parallel=True`` kernel
   re-optimises the whole inlined block function inside its parfor (HH: cold compile 76 s ->
   29 s per dtype without it, same speed). Pad the last block by repeating a valid simulation;
   write only real lanes.
3. CUDA kernel, in a module imported lazily: ``cuda = numba_cuda()`` at its top, then
   ``@cuda.jit(fastmath=True, cache=True)``, one thread per simulation (or per neuron of a
   network, exchanging voltages by warp shuffles, when one simulation's state is too large for
   the registers), the same scalar functions, scalar locals instead of lane arrays; write traces
   time-major for coalescing. Use ``mathfn`` helpers, not NumPy ufuncs: ``np.floor`` etc.
   are not lowered for CUDA, even in a branch that is dead on the GPU.
4. Noise: ``z0, z1 = normal_pair(seed, np.uint64(k >> 1), np.uint64(stream), like)`` at even
   step ``k`` (use ``z1`` at ``k + 1``; the pyloric kernels), or normal ``k & 3`` of
   ``normal_quad(seed, np.uint64(k >> 2), np.uint64(stream), like)`` (the HH kernels: half the
   Philox calls in float32); one stream id per independent noise source. Never let an
   expression divide by a value that can round to 0 in float32, even in a branch that is
   discarded: the lane-vectorised fastmath CPU code computes both branches and may let the
   inf/NaN through (``pyloric_model.syn_step``).
5. Features online: float64 accumulators (``moments_add`` with the window's first sample as
   shift), finalised with ``central_moments``.
6. Host side: ``resolve_seeds(seed, num)`` for the ``seed`` argument; ``cache=True`` writes the
   compiled code to ``__pycache__`` so a second process does not recompile.

Disk cache: numba stamps a cached kernel with the hash of its own file only, so a kernel kept
stale machine code after an edit of ``mathfn.py`` (measured: 29 vs 15 ns per HH sim-step).
``_cache.install()`` (run on import) stamps every function defined in this package with the
hash of all its ``*.py`` files instead: any edit here recompiles all kernels once.

Wide SIMD: LLVM prefers 256-bit vectors on AVX-512 CPUs; for these kernels 512-bit vectors were
measured 1.5x faster (HH, 2-core Xeon). Importing this package therefore sets
``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES`` to the host CPU with ``-prefer-256-bit`` when the CPU
has AVX-512, numba is not imported yet and neither variable is set; ``NEURODYN_SIMD512=0``
turns this off. Results are identical (lane arithmetic does not depend on the vector width).

Example (host side of the HH kernel):
    >>> import numpy as np
    >>> from neurodyn.simulators._kernels.rng import derive_seeds
    >>> derive_seeds(7, 2).dtype
    dtype('uint64')
"""

import os as _os
import sys as _sys


def _prefer_512_bit_vectors() -> None:
    if _os.environ.get("NEURODYN_SIMD512", "1") == "0" or "numba" in _sys.modules:
        return
    if "NUMBA_CPU_NAME" in _os.environ or "NUMBA_CPU_FEATURES" in _os.environ:
        return
    try:
        import llvmlite.binding as _llvm

        features = _llvm.get_host_cpu_features().flatten()
        name = _llvm.get_host_cpu_name()
    except Exception:  # no usable llvmlite: keep numba's defaults
        return
    if "+avx512f" in features.split(","):
        _os.environ["NUMBA_CPU_NAME"] = name
        _os.environ["NUMBA_CPU_FEATURES"] = features + ",-prefer-256-bit"


_prefer_512_bit_vectors()


def _install_cache_stamp() -> None:
    from neurodyn.simulators._kernels._cache import install

    install()


_install_cache_stamp()
