"""CUDA kernel of the pyloric network: three threads per network, one per neuron.

Lanes ``3 g, 3 g + 1, 3 g + 2`` of a warp simulate AB/PD, LP and PY of network
``10 * warp + g`` (lanes 30 and 31 replay a valid network and write nothing). Each thread holds
its neuron's 13 state variables, 8 conductances and its (up to 3) incoming synapses in
registers, gets the other two voltages of the old step by warp shuffles, and applies the
scalar model of :mod:`.pyloric_model` (``syn_step``, ``membrane_step``, ``gates_step``: the
definitions the CPU kernel uses) and the online feature functions of :mod:`.pyloric_online` to
its own neuron. At the end lane ``3 g`` turns the bursts of the three neurons into features.

Compared with one thread per network (46 state variables, 31 parameters and the feature state
of three neurons per thread), this needs a third of the registers and thread-local memory per
thread and runs three times as many threads. Noise follows the same counter-based streams as
the CPU kernel (stream 0 pair for AB/PD and LP at step i, stream 1 pair at i >> 1 for PY), so
CPU and CUDA results agree to rounding.
"""

from __future__ import annotations

import numpy as np
from numba import float64

from neurodyn.simulators._kernels._cuda import cuda_simulator_enabled, numba_cuda
from neurodyn.simulators._kernels.pyloric_model import (
    gates_step,
    kinetic_tuple,
    membrane_step,
    syn_step,
)
from neurodyn.simulators._kernels.pyloric_online import (
    _S_NB,
    _S_NSPK,
    _S_OVER,
    _S_PSUM,
    NUM_ONLINE,
    features_from_bursts,
    fir,
    online_finish,
    online_push,
    online_reset,
    sg_matrix,
)
from neurodyn.simulators._kernels.rng import normal_pair

__all__ = ["NETWORKS_PER_WARP", "THREADS_PER_BLOCK", "cuda_kernel", "launch_config"]

cuda = numba_cuda()

#: Networks per warp (3 lanes each; lanes 30 and 31 idle).
NETWORKS_PER_WARP = 10
#: Threads per block (a multiple of the warp size).
THREADS_PER_BLOCK = 128
_FULL = 0xFFFFFFFF
_SG = 21
#: interior Savitzky-Golay row: a global array, so numba embeds it as constant data and the
#: unrolled filter reads the coefficients as constant operands instead of global loads
_SG_CENTER = np.ascontiguousarray(sg_matrix(_SG)[_SG // 2])


def launch_config(num: int, threads: int = THREADS_PER_BLOCK) -> tuple[int, int]:
    """``(blocks, threads)`` covering ``num`` networks at :data:`NETWORKS_PER_WARP` per warp."""
    warps = (num + NETWORKS_PER_WARP - 1) // NETWORKS_PER_WARP
    return max(1, (warps * 32 + threads - 1) // threads), threads


if cuda_simulator_enabled():  # numba's CUDA simulator has no warp shuffles: shared memory

    @cuda.jit(device=True)
    def _voltages(v, base, vsh):
        t = cuda.threadIdx.x
        w0 = t - cuda.laneid  # first thread of the warp; source lanes wrap as in shfl_sync
        vsh[t] = v
        cuda.syncthreads()
        v0 = vsh[w0 + base % 32]
        v1 = vsh[w0 + (base + 1) % 32]
        v2 = vsh[w0 + (base + 2) % 32]
        cuda.syncthreads()
        return v0, v1, v2

    @cuda.jit(device=True)
    def _warp_barrier():
        cuda.syncthreads()

    def _plain(a):  # the simulator wraps global arrays; @njit helpers need the NumPy array
        return getattr(a, "_ary", a)

else:

    @cuda.jit(device=True, inline=True)
    def _voltages(v, base, vsh):
        v0 = cuda.shfl_sync(_FULL, v, base)
        v1 = cuda.shfl_sync(_FULL, v, base + 1)
        v2 = cuda.shfl_sync(_FULL, v, base + 2)
        return v0, v1, v2

    @cuda.jit(device=True, inline=True)
    def _warp_barrier():
        cuda.syncwarp(_FULL)

    @cuda.jit(device=True, inline=True)
    def _plain(a):
        return a


@cuda.jit(device=True, inline=True)
def _fir_center(ring, w):
    # fir(ring, sg, _SG // 2, w) with the coefficients as compile-time constants (same order)
    acc = 0.0
    slot = (w + 1) % _SG
    for m in range(_SG):
        acc += _SG_CENTER[m] * ring[slot]
        slot += 1
        if slot == _SG:
            slot = 0
    return acc


@cuda.jit(fastmath=True, cache=True)
def cuda_kernel(
    params,
    kin,
    s0,
    seeds,
    sig,
    noise,
    n_steps,
    i0,
    sg,
    dt,
    min_duration,
    want_power,
    want_trace,
    want_features,
    trace,
    bs,
    be,
    aux,
    feats,
    energy,
):
    """Same arguments as :func:`.pyloric_cpu.cpu_kernel` plus work space: the burst buffers
    ``bs``, ``be`` ``(num + 1, 3, capacity)`` float64 (row ``num`` for idle lanes) and ``aux``
    ``(num, 3, 4)`` float64. Launch with :func:`launch_config`."""
    num = params.shape[0]
    lane = cuda.laneid
    warp = cuda.grid(1) // 32
    grp = lane // 3
    j = lane - 3 * grp  # neuron: 0 AB/PD, 1 LP, 2 PY
    base = 3 * grp  # lane of this network's AB/PD thread
    sim_raw = warp * NETWORKS_PER_WARP + grp
    active = grp < NETWORKS_PER_WARP and sim_raw < num
    sim = min(sim_raw, num - 1)
    row = sim if active else num  # idle lanes write their bursts to the spare row
    ft = type(s0[0])
    k = kinetic_tuple(_plain(kin), ft(0.0))
    sgp = _plain(sg)
    # this neuron's state and conductances
    o = 13 * j
    v, ca = ft(s0[o]), ft(s0[o + 1])
    mna, mcat, mcas, ma = ft(s0[o + 2]), ft(s0[o + 3]), ft(s0[o + 4]), ft(s0[o + 5])
    mkca, mkd, mh = ft(s0[o + 6]), ft(s0[o + 7]), ft(s0[o + 8])
    hna, hcat, hcas, ha = ft(s0[o + 9]), ft(s0[o + 10]), ft(s0[o + 11]), ft(s0[o + 12])
    p = params[sim]
    gna, gcat, gcas, ga = ft(p[8 * j]), ft(p[8 * j + 1]), ft(p[8 * j + 2]), ft(p[8 * j + 3])
    gkca, gkd, gh, gl = ft(p[8 * j + 4]), ft(p[8 * j + 5]), ft(p[8 * j + 6]), ft(p[8 * j + 7])
    # incoming synapses (slots a, b, c): index into the 7 synapses, presynaptic neuron, reversal
    e_glut, e_chol = ft(-70.0), ft(-80.0)
    if j == 0:
        ia, ib, ic = 4, 4, 4  # LP -> PD only; slots b, c carry zero conductance
        pre_a, pre_b, pre_c = 1, 1, 1
    elif j == 1:
        ia, ib, ic = 0, 1, 6  # AB -> LP, PD -> LP, PY -> LP
        pre_a, pre_b, pre_c = 0, 0, 2
    else:
        ia, ib, ic = 2, 3, 5  # AB -> PY, PD -> PY, LP -> PY
        pre_a, pre_b, pre_c = 0, 0, 1
    zero = ft(0.0)
    gm_a = ft(p[24 + ia])
    gm_b = ft(p[24 + ib]) if j > 0 else zero
    gm_c = ft(p[24 + ic]) if j > 0 else zero
    ea, eb, ec = e_glut, e_chol if j > 0 else e_glut, e_glut
    ra, rb, rc = k[14 + ia], k[14 + ib], k[14 + ic]
    sa, sb, sc = ft(s0[39 + ia]), ft(s0[39 + ib]), ft(s0[39 + ic])
    seed = seeds[sim]
    fsig = ft(sig)
    spare = zero
    use_noise = noise.shape[1] > 1
    vsh = cuda.shared.array(THREADS_PER_BLOCK, float64)  # used by the simulator only
    ring = cuda.local.array(_SG, float64)
    st = cuda.local.array(NUM_ONLINE, float64)
    online_reset(st)
    bsr = _plain(bs[row, j])
    ber = _plain(be[row, j])
    e_sum = 0.0
    if want_trace and active:
        trace[sim, 0, j] = v
    if want_features and i0 == 0:
        ring[0] = v
    for i in range(1, n_steps):
        v0, v1, v2 = _voltages(v, base, vsh)  # old voltages of the network's three neurons
        if use_noise:
            inoise = ft(noise[sim, i, j])
        elif sig > 0.0:
            z0, z1 = normal_pair(seed, np.uint64(i), np.uint64(0), fsig)
            if i & 1:  # one pair of stream 1 serves the PY noise of steps i and i + 1
                z2, spare = normal_pair(seed, np.uint64(i >> 1), np.uint64(1), fsig)
            else:
                z2 = spare
            inoise = fsig * (z0 if j == 0 else (z1 if j == 1 else z2))
        else:
            inoise = zero
        va = v0 if pre_a == 0 else (v1 if pre_a == 1 else v2)
        vb = v0 if pre_b == 0 else (v1 if pre_b == 1 else v2)
        vc = v0 if pre_c == 0 else (v1 if pre_c == 1 else v2)
        g_a, g_b, g_c = gm_a * sa, gm_b * sb, gm_c * sc
        gsyn = g_a + g_b + g_c
        gsyn_e = g_a * ea + g_b * eb + g_c * ec
        v_new, ca_new, pw = membrane_step(
            v,
            ca,
            mna,
            mcat,
            mcas,
            ma,
            mkca,
            mkd,
            mh,
            hna,
            hcat,
            hcas,
            ha,
            gna,
            gcat,
            gcas,
            ga,
            gkca,
            gkd,
            gh,
            gl,
            gsyn,
            gsyn_e,
            inoise,
            k,
            want_power,
        )
        if want_power and i >= i0:
            da, db, dc = v - ea, v - eb, v - ec
            e_sum += float(pw) + float(g_a * da * da + g_b * db * db + g_c * dc * dc)
        mna, mcat, mcas, ma, mkca, mkd, mh, hna, hcat, hcas, ha = gates_step(
            v, ca, mna, mcat, mcas, ma, mkca, mkd, mh, hna, hcat, hcas, ha, k
        )
        sa = syn_step(sa, va, ra)
        sb = syn_step(sb, vb, rb)
        sc = syn_step(sc, vc, rc)
        v, ca = v_new, ca_new
        if want_trace and active:
            trace[sim, i, j] = v
        w = i - i0
        if want_features and w >= 0:
            ring[w % _SG] = v
            if w >= _SG - 1:
                if w == _SG - 1:  # mode="interp" head: window samples 0..9
                    for h in range(_SG // 2):
                        online_push(st, bsr, ber, fir(ring, sgp, h, w), dt, min_duration)
                online_push(st, bsr, ber, _fir_center(ring, w), dt, min_duration)
    if active:
        energy[sim, j] = e_sum * dt * 1e-3
    v0, v1, v2 = _voltages(v, base, vsh)
    if not want_features:
        return
    w_last = n_steps - 1 - i0
    for h in range(_SG // 2 + 1, _SG):  # mode="interp" tail
        online_push(st, bsr, ber, fir(ring, sgp, h, w_last), dt, min_duration)
    online_finish(st, bsr, ber, dt, min_duration)
    if active:
        aux[sim, j, 0] = st[_S_NB]
        aux[sim, j, 1] = st[_S_NSPK]
        aux[sim, j, 2] = st[_S_PSUM]
        aux[sim, j, 3] = st[_S_OVER]
    _warp_barrier()
    if j != 0 or not active:
        return
    nb = cuda.local.array(3, np.int64)
    nspk = cuda.local.array(3, float64)
    psum = cuda.local.array(3, float64)
    over = 0.0
    for q in range(3):
        nb[q] = int(aux[sim, q, 0])
        nspk[q] = aux[sim, q, 1]
        psum[q] = aux[sim, q, 2]
        over = max(over, aux[sim, q, 3])
    out = _plain(feats[sim])
    features_from_bursts(_plain(bs[sim]), _plain(be[sim]), nb, nspk, psum, over, dt, out)
    finite = v0 == v0 and v1 == v1 and v2 == v2 and abs(v0) + abs(v1) + abs(v2) < 1e30
    if not finite:
        for q in range(out.shape[0]):
            out[q] = np.nan
