"""Simulated neuronal populations with known wiring (ground truth for connectivity recovery).

Three generators, each returning a :class:`SyntheticNetwork` with the activity, the true
weight matrix ``weights[i, j]`` (synapse from neuron ``j`` onto neuron ``i``, the same
convention as ``SynapsNet.connectivity``) and the cell types:

* :func:`rate_network` — the NetFormer connectivity-constrained benchmark: four cell types
  (EC, Pvalb, Sst, Vip) with type-specific connection probabilities and mean strengths and
  ``x[t+1] = (1 - leak) x[t] + leak tanh(W x[t] + b) + noise``.
* :func:`lif_network` — a sparse excitatory/inhibitory leaky integrate-and-fire network
  (delta synapses with a delay, diffusive external drive), spikes binned to counts.
* :func:`calcium_network` — the same spiking network observed through a calcium indicator
  (double-exponential kernel, saturation-free) sampled at an imaging frame rate with noise.

All generators are seeded (the same seed gives the same network and activity) and vectorised:
the rate network is one matrix product per step, the spiking network a compiled (numba) loop.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from scipy.signal import lfilter

from neurodyn._validation import check_positive, check_probability, fail

__all__ = [
    "NETFORMER_CONNECTION_MEAN",
    "NETFORMER_CONNECTION_PROB",
    "NETFORMER_TYPE_FRACTIONS",
    "NETFORMER_TYPE_NAMES",
    "SyntheticNetwork",
    "calcium_network",
    "cell_type_weights",
    "lif_network",
    "rate_network",
]

#: Cell types of the NetFormer benchmark and their fractions of the population.
NETFORMER_TYPE_NAMES = ("EC", "Pvalb", "Sst", "Vip")
NETFORMER_TYPE_FRACTIONS = (0.76, 0.08, 0.08, 0.08)
#: Connection probability ``p[post_type, pre_type]`` (rows post = EC, Pv, Sst, Vip).
NETFORMER_CONNECTION_PROB = np.array(
    [
        [13 / 229, 18 / 52, 13 / 56, 3 / 62],
        [22 / 53, 45 / 114, 15 / 84, 1 / 54],
        [20 / 67, 8 / 88, 8 / 154, 12 / 87],
        [11 / 68, 0 / 54, 25 / 84, 2 / 209],
    ]
)
#: Mean strength ``mu[post_type, pre_type]`` of an existing connection (s.d. 0.1).
NETFORMER_CONNECTION_MEAN = np.array(
    [
        [0.11, -0.44, -0.16, -0.06],
        [0.27, -0.47, -0.18, -0.10],
        [0.10, -0.44, -0.19, -0.17],
        [0.45, -0.23, -0.17, -0.10],
    ]
)


@dataclass(frozen=True)
class SyntheticNetwork:
    """Activity of a simulated network with its ground truth.

    Attributes:
        activity: ``(num_steps, num_neurons)`` float32 activity (rates, spike counts per bin or
            ΔF/F frames), time first.
        weights: ``(num_neurons, num_neurons)`` float64 true weights; ``weights[i, j]`` is the
            synapse from ``j`` onto ``i`` (0 where there is none; the diagonal is 0).
        cell_types: ``(num_neurons,)`` int64 index into ``type_names``.
        type_names: names of the cell types.
        dt: seconds between consecutive rows of ``activity``.
        kind: ``"rate"``, ``"lif"`` or ``"calcium"``.
        spikes: ``(num_steps, num_neurons)`` spike counts per row for the spiking generators,
            else ``None``.
        config: the generator's arguments (JSON-serialisable).
    """

    activity: np.ndarray
    weights: np.ndarray
    cell_types: np.ndarray
    type_names: tuple[str, ...]
    dt: float
    kind: str
    spikes: np.ndarray | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def num_neurons(self) -> int:
        """Number of neurons."""
        return int(self.weights.shape[0])

    @property
    def edges(self) -> np.ndarray:
        """``(N, N)`` bool: true where a synapse exists (never on the diagonal)."""
        return self.weights != 0


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        fail(name, "an integer", value, exc=TypeError)
    if value < minimum:
        fail(name, f"an integer >= {minimum}", value)
    return int(value)


def _arguments(func: Any, scope: dict[str, Any]) -> dict[str, Any]:
    """The (validated) values of ``func``'s parameters in ``scope``, for ``config``."""
    return {name: scope[name] for name in inspect.signature(func).parameters}


def _check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    return _check_int("seed", seed, 0)


def _type_counts(num_neurons: int, fractions: tuple[float, ...]) -> np.ndarray:
    counts = np.floor(np.asarray(fractions) * num_neurons).astype(np.int64)
    counts[0] += num_neurons - counts.sum()  # remainder goes to the first (excitatory) type
    return counts


def cell_type_weights(
    num_neurons: int = 200,
    *,
    seed: int | None = None,
    weight_std: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Random NetFormer-style weight matrix with four cell types.

    ``W[i, j]`` is non-zero with probability ``NETFORMER_CONNECTION_PROB[type_i, type_j]`` and
    then drawn from ``N(NETFORMER_CONNECTION_MEAN[type_i, type_j], weight_std**2)``. The
    diagonal is 0.

    Args:
        num_neurons: number of neurons N (>= 4; 76 % EC, 8 % each of Pvalb, Sst, Vip).
        seed: seed of the random generator.
        weight_std: standard deviation of the non-zero weights around their type mean.

    Returns:
        ``(weights (N, N), cell_types (N,))``.

    Example:
        >>> w, types = cell_type_weights(200, seed=0)
        >>> w.shape, int((types == 0).sum()), float(w[0, 0])
        ((200, 200), 152, 0.0)
    """
    num_neurons = _check_int("num_neurons", num_neurons, 4)
    weight_std = check_positive("weight_std", weight_std, strict=False)
    rng = np.random.default_rng(_check_seed(seed))
    counts = _type_counts(num_neurons, NETFORMER_TYPE_FRACTIONS)
    types = np.repeat(np.arange(4), counts)
    prob = NETFORMER_CONNECTION_PROB[types[:, None], types[None, :]]
    mean = NETFORMER_CONNECTION_MEAN[types[:, None], types[None, :]]
    mask = rng.random((num_neurons, num_neurons)) < prob
    np.fill_diagonal(mask, False)
    w = np.where(mask, mean + weight_std * rng.standard_normal((num_neurons, num_neurons)), 0.0)
    return w, types.astype(np.int64)


def rate_network(
    num_neurons: int = 200,
    num_steps: int = 30_000,
    *,
    noise_std: float = 3.5,
    leak: float = 1.0,
    bias_scale: float = 1.0,
    weight_std: float = 0.1,
    dt: float = 0.1,
    burn_in: int = 100,
    seed: int | None = None,
) -> SyntheticNetwork:
    """Nonlinear rate network with NetFormer cell-type wiring.

    Dynamics: ``x[t+1] = (1 - leak) x[t] + leak tanh(W x[t] + b) + noise_std * eps[t]`` with
    ``b ~ N(0, bias_scale**2)`` per neuron, ``eps ~ N(0, I)`` and ``x[0] ~ N(0, I)``; the first
    ``burn_in`` steps are discarded. ``leak = 1`` is the NetFormer form
    ``x[t+1] = tanh(W x[t] + b) + noise``; the default ``noise_std = 3.5`` is NetFormer's. A large
    noise keeps the network out of tanh saturation (edges are easier to recover) but makes the
    one-step forecast mostly unpredictable (linear R² ~ 0.05); ``noise_std = 1`` gives R² ~ 0.4.

    Args:
        num_neurons: N (>= 4).
        num_steps: number of returned time steps (>= 2).
        noise_std: standard deviation of the additive noise (>= 0).
        leak: ``dt / tau`` in (0, 1].
        bias_scale: standard deviation of the per-neuron bias.
        weight_std: standard deviation of non-zero weights around their type mean.
        dt: seconds per step (bookkeeping only).
        burn_in: discarded initial steps (>= 0).
        seed: seed; the same seed gives the same weights, bias and activity.

    Returns:
        A :class:`SyntheticNetwork` with ``kind="rate"``.

    Example:
        >>> net = rate_network(50, 200, seed=1)
        >>> net.activity.shape, net.weights.shape, net.type_names[0]
        ((200, 50), (50, 50), 'EC')
    """
    num_steps = _check_int("num_steps", num_steps, 2)
    noise_std = check_positive("noise_std", noise_std, strict=False)
    leak = check_probability("leak", leak, open_interval=False)
    if leak == 0.0:
        fail("leak", "a number in (0, 1]", leak)
    bias_scale = check_positive("bias_scale", bias_scale, strict=False)
    dt = check_positive("dt", dt)
    burn_in = _check_int("burn_in", burn_in, 0)
    seed = _check_seed(seed)
    w, types = cell_type_weights(num_neurons, seed=seed, weight_std=weight_std)
    rng = np.random.default_rng(None if seed is None else [seed, 1])
    bias = bias_scale * rng.standard_normal(num_neurons)
    total = num_steps + burn_in
    noise = noise_std * rng.standard_normal((total, num_neurons))
    out = np.empty((total, num_neurons))
    x = rng.standard_normal(num_neurons)
    wt = np.ascontiguousarray(w.T)
    for t in range(total):
        out[t] = x
        x = (1.0 - leak) * x + leak * np.tanh(x @ wt + bias) + noise[t]
    config = _arguments(rate_network, locals())
    return SyntheticNetwork(
        activity=out[burn_in:].astype(np.float32),
        weights=w,
        cell_types=types,
        type_names=NETFORMER_TYPE_NAMES,
        dt=dt,
        kind="rate",
        config=config,
    )


# --------------------------------------------------------------------------- spiking network


@numba.njit(cache=True)
def _lif_kernel(
    pre_ptr: np.ndarray,
    post_idx: np.ndarray,
    post_w: np.ndarray,
    num_neurons: int,
    num_steps: int,
    bin_steps: int,
    dt_ms: float,
    tau_m_ms: float,
    v_thresh: float,
    v_reset: float,
    refractory_steps: int,
    delay_steps: int,
    mu: np.ndarray,
    sigma: np.ndarray,
    seed: int,
) -> np.ndarray:
    """Euler-Maruyama LIF with delayed delta synapses; returns counts (num_bins, N)."""
    np.random.seed(seed)  # noqa: NPY002 (numba's per-thread generator)
    num_bins = num_steps // bin_steps
    counts = np.zeros((num_bins, num_neurons), dtype=np.int32)
    v = np.empty(num_neurons)
    for i in range(num_neurons):
        v[i] = v_reset + (v_thresh - v_reset) * np.random.random()  # noqa: NPY002
    refractory = np.zeros(num_neurons, dtype=np.int64)
    ring = np.zeros((delay_steps + 1, num_neurons))  # delayed synaptic input (mV)
    decay = dt_ms / tau_m_ms
    noise_scale = np.sqrt(2.0 * dt_ms / tau_m_ms)
    for step in range(num_steps):
        slot = step % (delay_steps + 1)
        b = step // bin_steps
        for i in range(num_neurons):
            jump = ring[slot, i]
            ring[slot, i] = 0.0
            if refractory[i] > 0:
                refractory[i] -= 1
                continue
            xi = np.random.standard_normal()  # noqa: NPY002
            v[i] += decay * (mu[i] - v[i]) + sigma[i] * noise_scale * xi
            v[i] += jump
            if v[i] >= v_thresh:
                v[i] = v_reset
                refractory[i] = refractory_steps
                if b < num_bins:
                    counts[b, i] += 1
                target = (step + delay_steps) % (delay_steps + 1)
                for k in range(pre_ptr[i], pre_ptr[i + 1]):
                    ring[target, post_idx[k]] += post_w[k]
    return counts


def _ei_weights(
    rng: np.random.Generator,
    num_neurons: int,
    frac_exc: float,
    p_connect: float,
    j_exc: float,
    g_inh: float,
    weight_cv: float,
) -> tuple[np.ndarray, np.ndarray]:
    num_exc = max(1, min(num_neurons - 1, round(frac_exc * num_neurons)))
    types = np.zeros(num_neurons, dtype=np.int64)
    types[num_exc:] = 1
    mask = rng.random((num_neurons, num_neurons)) < p_connect
    np.fill_diagonal(mask, False)
    scale = np.where(types == 0, j_exc, -g_inh * j_exc)[None, :]
    mag = np.abs(1.0 + weight_cv * rng.standard_normal((num_neurons, num_neurons)))
    return np.where(mask, scale * mag, 0.0), types


def _simulate_lif(
    w: np.ndarray,
    num_steps: int,
    bin_steps: int,
    dt_ms: float,
    mu: np.ndarray,
    sigma: float,
    delay_ms: float,
    seed: int,
) -> np.ndarray:
    num_neurons = w.shape[0]
    # CSR by presynaptic neuron: column j lists its targets i with w[i, j].
    wt = w.T
    nz = wt != 0
    pre_ptr = np.concatenate([[0], np.cumsum(nz.sum(1))]).astype(np.int64)
    post_idx = np.nonzero(nz)[1].astype(np.int64)
    post_w = wt[nz].astype(np.float64)
    return _lif_kernel(
        pre_ptr,
        post_idx,
        post_w,
        num_neurons,
        num_steps,
        bin_steps,
        dt_ms,
        20.0,
        20.0,
        10.0,
        max(1, round(2.0 / dt_ms)),
        max(1, round(delay_ms / dt_ms)),
        np.ascontiguousarray(mu, dtype=np.float64),
        np.full(num_neurons, sigma),
        seed,
    )


def _lif_common(
    num_neurons: int,
    p_connect: float,
    j_exc: float,
    g_inh: float,
    mu_ext: float,
    sigma_ext: float,
    delay_ms: float,
    drive_cv: float,
    seed: int | None,
) -> tuple[int, np.random.Generator, np.ndarray, np.ndarray, np.ndarray]:
    num_neurons = _check_int("num_neurons", num_neurons, 2)
    check_probability("p_connect", p_connect)
    check_positive("j_exc", j_exc, strict=False)
    check_positive("g_inh", g_inh, strict=False)
    check_positive("mu_ext", mu_ext)
    check_positive("sigma_ext", sigma_ext, strict=False)
    check_positive("delay_ms", delay_ms)
    check_positive("drive_cv", drive_cv, strict=False)
    seed = _check_seed(seed)
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
    rng = np.random.default_rng(seed)
    w, types = _ei_weights(rng, num_neurons, 0.8, p_connect, j_exc, g_inh, 0.2)
    mu = mu_ext * (1.0 + drive_cv * rng.standard_normal(num_neurons))
    return seed, rng, w, types, mu


def lif_network(
    num_neurons: int = 200,
    num_bins: int = 20_000,
    *,
    bin_ms: float = 10.0,
    dt_ms: float = 1.0,
    p_connect: float = 0.1,
    j_exc: float = 1.0,
    g_inh: float = 4.0,
    mu_ext: float = 15.0,
    sigma_ext: float = 5.0,
    delay_ms: float = 3.0,
    drive_cv: float = 0.1,
    seed: int | None = None,
) -> SyntheticNetwork:
    """Sparse excitatory/inhibitory leaky integrate-and-fire network binned to spike counts.

    80 % excitatory, 20 % inhibitory neurons; each ordered pair is connected with probability
    ``p_connect``; an existing synapse from an excitatory (inhibitory) neuron has the PSP
    amplitude ``j_exc`` (``-g_inh * j_exc``) mV times ``|1 + 0.2 z|``, delivered after
    ``delay_ms``. Membrane: ``tau_m = 20 ms``, threshold 20 mV, reset 10 mV, refractory 2 ms,
    external drive ``mu_ext (1 + drive_cv z)`` per neuron plus white noise of amplitude
    ``sigma_ext`` mV (Brunel 2000, model A, with diffusive external input); Euler–Maruyama
    with ``dt_ms``.

    Args:
        num_neurons: N (>= 2).
        num_bins: number of returned count bins (>= 2).
        bin_ms: bin width in ms (a multiple of ``dt_ms``).
        dt_ms: integration step in ms.
        p_connect: connection probability in (0, 1).
        j_exc: excitatory PSP amplitude in mV.
        g_inh: relative inhibitory strength.
        mu_ext: mean external drive in mV (threshold is 20 mV).
        sigma_ext: external noise amplitude in mV.
        delay_ms: synaptic delay in ms.
        drive_cv: coefficient of variation of the per-neuron external drive.
        seed: seed of the wiring and the simulation.

    Returns:
        A :class:`SyntheticNetwork` with ``kind="lif"``, spike counts as ``activity`` and
        ``spikes``, ``weights`` in mV, cell types ``("E", "I")``.

    Example:
        >>> net = lif_network(40, 100, seed=0)
        >>> net.activity.shape, net.type_names, net.dt
        ((100, 40), ('E', 'I'), 0.01)
    """
    num_bins = _check_int("num_bins", num_bins, 2)
    dt_ms = check_positive("dt_ms", dt_ms)
    bin_ms = check_positive("bin_ms", bin_ms)
    bin_steps = round(bin_ms / dt_ms)
    if bin_steps < 1 or abs(bin_steps * dt_ms - bin_ms) > 1e-9 * bin_ms:
        fail("bin_ms", f"a multiple of dt_ms={dt_ms}", bin_ms)
    seed, _, w, types, mu = _lif_common(
        num_neurons, p_connect, j_exc, g_inh, mu_ext, sigma_ext, delay_ms, drive_cv, seed
    )
    burn = round(200.0 / bin_ms) + 1  # discard ~200 ms of transient
    counts = _simulate_lif(
        w, (num_bins + burn) * bin_steps, bin_steps, dt_ms, mu, sigma_ext, delay_ms, seed
    )[burn:]
    config = _arguments(lif_network, locals())
    return SyntheticNetwork(
        activity=counts.astype(np.float32),
        weights=w,
        cell_types=types,
        type_names=("E", "I"),
        dt=bin_ms / 1000.0,
        kind="lif",
        spikes=counts,
        config=config,
    )


def calcium_network(
    num_neurons: int = 200,
    num_frames: int = 10_000,
    *,
    frame_rate_hz: float = 10.0,
    tau_rise_s: float = 0.05,
    tau_decay_s: float = 0.4,
    spike_amplitude: float = 0.5,
    noise_std: float = 0.1,
    dt_ms: float = 1.0,
    p_connect: float = 0.1,
    j_exc: float = 1.0,
    g_inh: float = 4.0,
    mu_ext: float = 15.0,
    sigma_ext: float = 5.0,
    delay_ms: float = 3.0,
    drive_cv: float = 0.1,
    seed: int | None = None,
) -> SyntheticNetwork:
    """Calcium imaging (ΔF/F) of the :func:`lif_network` spiking network.

    Spikes are counted per frame (width ``1 / frame_rate_hz``) and convolved with the indicator
    kernel ``spike_amplitude * (exp(-t / tau_decay) - exp(-t / tau_rise))`` (normalised to a
    peak of ``spike_amplitude``), sampled at the frame times; independent Gaussian noise of
    s.d. ``noise_std`` (ΔF/F units) is added per frame. Defaults resemble GCaMP6f.

    Args:
        num_neurons: N (>= 2).
        num_frames: number of frames (>= 2).
        frame_rate_hz: imaging frame rate in Hz, in [2, 30].
        tau_rise_s: indicator rise time in s.
        tau_decay_s: indicator decay time in s (> ``tau_rise_s``).
        spike_amplitude: peak ΔF/F of one spike.
        noise_std: s.d. of the additive frame noise.
        dt_ms, p_connect, j_exc, g_inh, mu_ext, sigma_ext, delay_ms, drive_cv: as in
            :func:`lif_network`.
        seed: seed of wiring, spikes and imaging noise.

    Returns:
        A :class:`SyntheticNetwork` with ``kind="calcium"``, ΔF/F as ``activity`` and the spike
        counts per frame as ``spikes``.

    Example:
        >>> net = calcium_network(30, 50, frame_rate_hz=5.0, seed=0)
        >>> net.activity.shape, net.dt
        ((50, 30), 0.2)
    """
    num_frames = _check_int("num_frames", num_frames, 2)
    frame_rate_hz = check_positive("frame_rate_hz", frame_rate_hz)
    if not 2.0 <= frame_rate_hz <= 30.0:
        fail("frame_rate_hz", "a frame rate in [2, 30] Hz", frame_rate_hz)
    tau_rise_s = check_positive("tau_rise_s", tau_rise_s)
    tau_decay_s = check_positive("tau_decay_s", tau_decay_s)
    if tau_decay_s <= tau_rise_s:
        fail("tau_decay_s", f"a decay time > tau_rise_s={tau_rise_s}", tau_decay_s)
    spike_amplitude = check_positive("spike_amplitude", spike_amplitude)
    noise_std = check_positive("noise_std", noise_std, strict=False)
    dt_ms = check_positive("dt_ms", dt_ms)
    frame_ms = 1000.0 / frame_rate_hz
    bin_steps = max(1, round(frame_ms / dt_ms))
    seed, _, w, types, mu = _lif_common(
        num_neurons, p_connect, j_exc, g_inh, mu_ext, sigma_ext, delay_ms, drive_cv, seed
    )
    frame_s = bin_steps * dt_ms / 1000.0
    burn = int(np.ceil(20.0 * tau_decay_s / frame_s)) + 1  # indicator at steady state
    counts = _simulate_lif(
        w, (num_frames + burn) * bin_steps, bin_steps, dt_ms, mu, sigma_ext, delay_ms, seed
    )
    # The sampled double-exponential kernel is exactly the difference of two first-order
    # recursions d[t] = e^(-frame/tau) d[t-1] + s[t] (no truncation).
    t_peak = (
        np.log(tau_decay_s / tau_rise_s) * tau_rise_s * tau_decay_s / (tau_decay_s - tau_rise_s)
    )
    peak = np.exp(-t_peak / tau_decay_s) - np.exp(-t_peak / tau_rise_s)
    spikes = counts.astype(np.float64)
    slow = lfilter([1.0], [1.0, -np.exp(-frame_s / tau_decay_s)], spikes, axis=0)
    fast = lfilter([1.0], [1.0, -np.exp(-frame_s / tau_rise_s)], spikes, axis=0)
    conv = (spike_amplitude / peak) * (slow - fast)
    dff = conv[burn:] + noise_std * np.random.default_rng([seed, 2]).standard_normal(
        (num_frames, w.shape[0])
    )
    config = _arguments(calcium_network, locals())
    return SyntheticNetwork(
        activity=dff.astype(np.float32),
        weights=w,
        cell_types=types,
        type_names=("E", "I"),
        dt=frame_s,
        kind="calcium",
        spikes=counts[burn:],
        config=config,
    )
