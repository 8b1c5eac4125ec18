"""HodgkinHuxley against the eLife reference outputs, an independent ODE solver, and itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from numba import njit
from scipy.integrate import solve_ivp

from neurodyn.features import hh_summary
from neurodyn.simulators import HH_TRUE_THETA, HodgkinHuxley, derive_seeds
from neurodyn.simulators._kernels.rng import normal_quad

TRUE = torch.tensor([HH_TRUE_THETA], dtype=torch.float64)


@pytest.fixture(scope="module")
def hh64():
    return HodgkinHuxley(dtype=torch.float64)


def test_noise_free_trace_matches_elife_code(hh64, load_npz):
    ref = load_npz("hh_reference_outputs.npz")
    theta = TRUE.clone()
    theta[0, 6] = 0.0
    v = hh64.simulate(theta, output="trace").numpy()[0]
    assert v.shape == ref["V_noisefree"].shape
    assert np.abs(v - ref["V_noisefree"]).max() <= 1e-6
    np.testing.assert_array_equal(hh64.current, ref["I_uA_per_cm2"])


@pytest.mark.parametrize("key", ["seed1", "seed2", "elife_xo"])
def test_reference_noise_reproduces_traces_and_features(hh64, load_npz, key):
    ref = load_npz("hh_reference_outputs.npz")
    seed = {"seed1": 1, "seed2": 2, "elife_xo": int(ref["elife_xo_noise_seed"])}[key]
    noise = np.random.RandomState(seed).randn(12001)[None, :12000]
    v = hh64.simulate(TRUE, noise=noise, output="trace").numpy()[0]
    assert np.abs(v - ref[f"V_{key}"]).max() <= 1e-6
    x = hh64.simulate(TRUE, noise=noise).numpy()[0]
    np.testing.assert_allclose(x, ref[f"stats_{key}"], rtol=1e-9, atol=1e-9)


def test_elife_xo_published_values(hh64):
    noise = np.random.RandomState(1791095845).randn(12001)[None, :12000]
    x = hh64.simulate(TRUE, noise=noise).numpy()[0]
    published = [5, -70.188, 0.0615, -56.392, 374.64, 3.7018, 18.322]
    np.testing.assert_allclose(x, published, rtol=1e-3)


def _rhs(t, y, g_na, g_k, g_l, g_m, tau_max, vt, e_l, t_on, amp):
    v, m, h, n, p = y
    i_ext = amp if t >= t_on else 0.0

    def efun(z):
        return 1.0 - z / 2.0 if abs(z) < 1e-4 else z / np.expm1(z)

    a_m = 0.32 * efun(-0.25 * (v - vt - 13)) / 0.25
    b_m = 0.28 * efun(0.2 * (v - vt - 40)) / 0.2
    a_h = 0.128 * np.exp(-(v - vt - 17) / 18)
    b_h = 4.0 / (1 + np.exp(-(v - vt - 40) / 5))
    a_n = 0.032 * efun(-0.2 * (v - vt - 15)) / 0.2
    b_n = 0.5 * np.exp(-(v - vt - 10) / 40)
    p_inf = 1 / (1 + np.exp(-(v + 35) / 10))
    tau_p = tau_max / (3.3 * np.exp((v + 35) / 20) + np.exp(-(v + 35) / 20))
    dv = (
        g_na * m**3 * h * (53 - v)
        + g_k * n**4 * (-107 - v)
        + g_l * (e_l - v)
        + g_m * p * (-107 - v)
        + i_ext
    )
    return [
        dv,
        a_m * (1 - m) - b_m * m,
        a_h * (1 - h) - b_h * h,
        a_n * (1 - n) - b_n * n,
        (p_inf - p) / tau_p,
    ]


def test_converges_to_tight_tolerance_ode_solution():
    """Independent reference: scipy Radau at rtol 1e-10 on the same ODE (noise-free, step
    current switched on at a sample boundary). The error must shrink at least like a
    first-order method (>= 1.6x per halving of dt; measured ~4x) and be small at 0.0025 ms."""
    t_max, t_on = 25.0, 5.0
    g_na, g_k, g_l, g_m, tau_max, mvt, _, mel = HH_TRUE_THETA
    amp = 0.5e-3 / (np.pi * (70e-4) ** 2)
    v0 = -70.0
    vt, el = -mvt, -mel

    def inf(a, b):
        return a / (a + b)

    w = v0 - vt
    y0 = [
        v0,
        inf(
            0.32 * (-(w - 13)) / np.expm1(-0.25 * (w - 13)),
            0.28 * (w - 40) / np.expm1(0.2 * (w - 40)),
        ),
        inf(0.128 * np.exp(-(w - 17) / 18), 4 / (1 + np.exp(-(w - 40) / 5))),
        inf(0.032 * (-(w - 15)) / np.expm1(-0.2 * (w - 15)), 0.5 * np.exp(-(w - 10) / 40)),
        1 / (1 + np.exp(-(v0 + 35) / 10)),
    ]
    t_eval = np.arange(0.0, t_max + 1e-9, 0.05)
    args = (g_na, g_k, g_l, g_m, tau_max, vt, el, t_on, amp)
    sol = np.empty_like(t_eval)
    pre = solve_ivp(
        _rhs,
        (0, t_on),
        y0,
        method="Radau",
        rtol=1e-10,
        atol=1e-12,
        args=args,
        t_eval=t_eval[t_eval <= t_on],
    )
    post = solve_ivp(
        _rhs,
        (t_on, t_max),
        pre.y[:, -1],
        method="Radau",
        rtol=1e-10,
        atol=1e-12,
        args=args,
        t_eval=t_eval[t_eval >= t_on],
    )
    sol[t_eval <= t_on] = pre.y[0]
    sol[t_eval >= t_on] = post.y[0]
    assert (sol > 0).any(), "the reference window must contain a spike"
    errors = []
    for dt in (0.01, 0.005, 0.0025):
        hh = HodgkinHuxley(dt=dt, t_max=t_max, t_on=t_on, t_off=t_max, dtype=torch.float64)
        theta = TRUE.clone()
        theta[0, 6] = 0.0
        v = hh.simulate(theta, output="trace").numpy()[0]
        stride = round(0.05 / dt)
        errors.append(np.sqrt(np.mean((v[::stride] - sol) ** 2)))
    assert errors[0] > errors[1] > errors[2]
    assert errors[0] / errors[1] > 1.6 and errors[1] / errors[2] > 1.6
    assert errors[2] < 0.01  # mV, RMS over a window with spikes


@pytest.fixture(scope="module")
def prior_theta():
    hh = HodgkinHuxley(dt=0.025, t_max=60.0, t_on=10.0, t_off=50.0)
    return _prior_sample(hh, 70)


def _prior_sample(hh, num):
    g = torch.Generator().manual_seed(0)
    u = torch.rand((num, 8), generator=g, dtype=torch.float64)
    return hh.prior.low.double() + u * (hh.prior.high - hh.prior.low).double()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_online_features_equal_summary_of_trace(dtype, prior_theta):
    hh = HodgkinHuxley(dt=0.025, t_max=60.0, t_on=10.0, t_off=50.0, dtype=dtype)
    x = hh.simulate(prior_theta, seed=11)
    v = hh.simulate(prior_theta, seed=11, output="trace")
    assert x.dtype == dtype and v.shape == (70, hh.num_steps)
    ref = hh_summary(v, dt=hh.dt, t_on=hh.t_on, t_off=hh.t_off)
    assert torch.equal(torch.isnan(x), torch.isnan(ref))
    ok = ~torch.isnan(ref[:, 0])
    assert ok.sum() > 60
    np.testing.assert_array_equal(x[ok, 0].numpy(), ref[ok, 0].numpy())
    rtol = 1e-6 if dtype == torch.float32 else 1e-9
    np.testing.assert_allclose(x[ok].double().numpy(), ref[ok].numpy(), rtol=rtol, atol=1e-9)


def test_extended_features_and_subsets(prior_theta):
    kw = dict(dt=0.025, t_max=60.0, t_on=10.0, t_off=50.0, dtype=torch.float64)
    v = HodgkinHuxley(**kw).simulate(prior_theta[:8], seed=2, output="trace")
    x13 = HodgkinHuxley(**kw, features="extended13").simulate(prior_theta[:8], seed=2)
    ref = hh_summary(v, dt=0.025, t_on=10.0, t_off=50.0, feature_set="extended13")
    np.testing.assert_allclose(x13.numpy(), ref.numpy(), rtol=1e-12)
    x7 = HodgkinHuxley(**kw).simulate(prior_theta[:8], seed=2)
    for k in (1, 4):
        xk = HodgkinHuxley(**kw, features=f"elife{k}").simulate(prior_theta[:8], seed=2)
        np.testing.assert_array_equal(xk.numpy(), x7[:, :k].numpy())


def test_batch_and_partition_invariance(prior_theta):
    hh = HodgkinHuxley(dt=0.025, t_max=60.0, t_on=10.0, t_off=50.0)
    full = hh.simulate(prior_theta, seed=5, output="trace")
    seeds = derive_seeds(5, 70)
    for i in (0, 33, 69):
        one = hh.simulate(prior_theta[i : i + 1], seed=seeds[i : i + 1], output="trace")
        torch.testing.assert_close(one[0], full[i], rtol=0, atol=0)
    parts = [
        hh.simulate(prior_theta[a:b], seed=derive_seeds(5, b - a, start=a), output="trace")
        for a, b in ((0, 17), (17, 50), (50, 70))
    ]
    torch.testing.assert_close(torch.cat(parts), full, rtol=0, atol=0)


@njit(fastmath=True, error_model="numpy")  # the flags of the kernels
def _kernel_noise(seeds, num_steps, like):
    """The normals of the HH kernels: step ``k`` uses normal ``k & 3`` of
    ``normal_quad(seed, k >> 2, 0)``."""
    out = np.empty((seeds.size, num_steps), dtype=like.dtype)
    for r in range(seeds.size):
        for c in range((num_steps + 3) // 4):
            z = normal_quad(seeds[r], np.uint64(c), np.uint64(0), like[0])
            for q in range(min(4, num_steps - 4 * c)):
                out[r, 4 * c + q] = z[q]
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_generated_noise_is_the_normal_quad_stream(dtype, prior_theta):
    """With the generator, simulation ``i`` gets the trace it gets with the normals of
    ``normal_quad(seed_i, k >> 2)`` passed as ``noise`` (float32: four normals per Philox call,
    float64: ``normal_pair``'s stream), in a batch with a padded lane block.

    float64: bit for bit. float32: the kernel's SIMD lanes and the scalar ``normal_quad`` differ
    in the last bit of ~2 % of the normals (vector vs scalar code of the same fastmath maths),
    which a spiking trace amplifies; so float32 is compared on a passive membrane (linear in
    the noise), where another stream would move ``V`` by ~0.1 mV.
    """
    hh = HodgkinHuxley(dt=0.025, t_max=20.0, t_on=5.0, t_off=15.0, dtype=dtype)
    th = prior_theta[:37].to(dtype)
    if dtype == torch.float32:
        th[:, [0, 1, 3]] = 0.0  # g_Na = g_K = g_M = 0
        th[:, 2] = 0.2  # g_leak: V_inf = E_leak + I / g_leak stays O(100 mV)
    seeds = derive_seeds(6, 37)
    like = np.zeros(1, dtype=np.float32 if dtype == torch.float32 else np.float64)
    z = torch.from_numpy(_kernel_noise(seeds, hh.num_steps - 1, like))
    a = hh.simulate(th, seed=seeds, output="trace")
    b = hh.simulate(th, noise=z, output="trace")
    tol = 0.0 if dtype == torch.float64 else 2e-5
    torch.testing.assert_close(a, b, rtol=0, atol=tol)
    other = hh.simulate(th, seed=seeds + 1, output="trace")
    assert (a - other).abs().amax(dim=1).min() > 100 * max(tol, 1e-5)


def test_seed_determinism(prior_theta):
    hh = HodgkinHuxley(dt=0.025, t_max=60.0, t_on=10.0, t_off=50.0)
    th = prior_theta[:5]
    a, b = hh.simulate(th, seed=1, output="trace"), hh.simulate(th, seed=1, output="trace")
    c = hh.simulate(th, seed=2, output="trace")
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().amax(dim=1).min() > 1e-3
    d, e = hh.simulate(th, output="trace"), hh.simulate(th, output="trace")  # fresh entropy
    assert (d - e).abs().amax(dim=1).min() > 1e-3
    nf = th.clone()
    nf[:, 6] = 0.0  # sigma = 0: the noise-free model, independent of the seed
    torch.testing.assert_close(
        hh.simulate(nf, seed=1, output="trace"),
        hh.simulate(nf, seed=9, output="trace"),
        rtol=0,
        atol=0,
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_noise_statistics_match_sigma(dtype):
    """With a passive membrane (g_Na = g_K = g_M = 0) the noise-driven V is an OU process:
    its stationary variance is sigma^2 / (2 g_leak C) (sigma in µA/cm² ms^0.5).

    The variance of a window of length ``T`` around its own mean is smaller by the variance
    of that mean, ``2 tau / T * (1 - tau / T)`` relative (``tau = C / g_leak`` = 10 ms, T = 300
    ms: -6.4 %; 8 x 256 simulations gave -6.4 +- 0.5 % in float32 and -5.8 +- 0.3 % in float64);
    the spread over seeds of the 256-simulation mean is ~1.5 %.
    """
    hh = HodgkinHuxley(
        dt=0.01, t_max=400.0, current=np.zeros(40001), t_on=10.0, t_off=400.0, dtype=dtype
    )
    th = torch.tensor([[0.0, 0.0, 0.1, 0.0, 600.0, 60.0, 0.15, 70.0]] * 256, dtype=dtype)
    v = hh.simulate(th, seed=4, output="trace")[:, 10000:].double()
    var = float(v.var(dim=1).mean())
    tau, window = 1.0 / 0.1, (v.shape[1] - 1) * 0.01
    expected = 0.15**2 / (2 * 0.1) * (1 - 2 * tau / window * (1 - tau / window))
    assert abs(var / expected - 1) < 0.05


def test_float32_matches_float64():
    """The float32 state against float64 for the same noise, passed explicitly (the generated
    float32 noise is another stream than float64's: four normals per Philox call)."""
    th = TRUE.clone().repeat(3, 1)
    th[1, 6] = 0.0
    th[2, 0] = 20.0
    hh64 = HodgkinHuxley(dt=0.01, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    z = torch.randn((3, hh64.num_steps - 1), generator=g, dtype=torch.float64)
    x32 = HodgkinHuxley(dt=0.01).simulate(th.float(), noise=z.float())
    x64 = hh64.simulate(th, noise=z)
    np.testing.assert_array_equal(x32[:, 0].numpy(), x64[:, 0].numpy())
    np.testing.assert_allclose(x32.double().numpy(), x64.numpy(), rtol=2e-3, atol=1e-3)


def test_allen_recording_protocol(load_npz):
    data = load_npz("elife2020_allen_cells_10sweeps.npz")
    cid, sw = int(data["cell_id"][0]), int(data["sweep"][0])
    v_rec = data[f"V_mV_{cid}_{sw}"].astype(np.float64) - 14.0
    hh = HodgkinHuxley(
        dt=float(data["dt_ms"][0]),
        t_max=None,
        current=data[f"I_uA_{cid}_{sw}"].astype(np.float64) * 1e3,
        soma_area_cm2=float(data["A_soma_cm2"][0]),
        t_on=float(data["t_on_ms"][0]),
        t_off=float(data["t_off_ms"][0]),
        v0=float(v_rec[0]),
    )
    assert hh.num_steps == v_rec.size == 72500
    x = hh.simulate(TRUE.float().repeat(2, 1), seed=0)
    assert x.shape == (2, 7) and torch.isfinite(x).all() and (x[:, 3] > x[:, 1] + 5).all()
    np.testing.assert_allclose(
        hh.current.max(), data[f"I_uA_{cid}_{sw}"].max() / data["A_soma_cm2"][0], rtol=1e-6
    )


def test_protocol_attributes_and_config():
    hh = HodgkinHuxley()
    assert hh.param_names == ("g_Na", "g_K", "g_leak", "g_M", "tau_max", "-V_T", "sigma", "-E_leak")
    assert hh.prior.param_names == hh.param_names and hh.prior.units[4] == "ms"
    assert hh.num_params == 8 and hh.num_features == 7 and hh.num_steps == 12001
    np.testing.assert_allclose(hh.prior.low.numpy(), [0.5, 1e-4, 1e-4, 1e-4, 50, 40, 1e-4, 35])
    np.testing.assert_allclose(hh.prior.high.numpy(), [80, 15, 0.6, 0.6, 3000, 90, 0.15, 100])
    cfg = json.loads(json.dumps(hh.config()))
    assert cfg["dt"] == 0.01 and cfg["features"] == "elife7" and cfg["dtype"] == "float32"
    assert HodgkinHuxley(dt=0.02).config() != cfg
    assert hh.simulate(torch.zeros(0, 8)).shape == (0, 7)


_CUDASIM_SCRIPT = """
import numpy as np, torch
from neurodyn.simulators import HodgkinHuxley
th = torch.tensor([[50, 5, 0.1, 0.07, 600, 60, 0.1, 70], [30, 8, 0.2, 0.1, 300, 55, 0.05, 65],
                   [50, 5, 0.1, 0.07, 600, 60, 0.0, 70]], dtype=torch.float64)
for dtype, rtol, tol in ((torch.float64, 1e-10, 1e-10), (torch.float32, 1e-5, 1e-4)):
    kw = dict(dt=0.025, t_max=8.0, t_on=1.0, t_off=7.0, dtype=dtype)
    for out in ("trace", "features"):
        a = HodgkinHuxley(**kw, device="cuda").simulate(th.to(dtype), seed=3, output=out)
        b = HodgkinHuxley(**kw, device="cpu").simulate(th.to(dtype), seed=3, output=out)
        a, b = a.double().numpy(), b.double().numpy()
        np.testing.assert_allclose(a, b, rtol=rtol, atol=tol)
        if out == "trace":  # the noise is the same stream: another one moves V by ~0.1 mV
            c = HodgkinHuxley(**kw, device="cpu").simulate(th.to(dtype), seed=4, output=out)
            assert np.abs(c.double().numpy() - b)[:2].max() > 1e-2
            print(dtype, "max |cuda - cpu| trace", np.abs(a - b).max())
print("CUDASIM-OK")
"""


@pytest.mark.slow  # compiles every scalar function for the simulator: 2-8 min on 2 busy cores
def test_cuda_kernel_under_numba_simulator():
    """The CUDA kernel (same scalar model code) run by numba's CUDA simulator equals the CPU
    kernel; a subprocess so that NUMBA_ENABLE_CUDASIM takes effect."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", OMP_NUM_THREADS="1")
    res = subprocess.run(
        [sys.executable, "-c", _CUDASIM_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "CUDASIM-OK" in res.stdout, res.stderr[-3000:]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_and_cuda_agree(dtype, prior_theta):
    kw = dict(dt=0.025, t_max=60.0, t_on=10.0, t_off=50.0, dtype=dtype)
    th = prior_theta.to(dtype)
    a = HodgkinHuxley(**kw, device="cuda").simulate(th, seed=7).cpu()
    b = HodgkinHuxley(**kw, device="cpu").simulate(th, seed=7)
    same = (a[:, 0] == b[:, 0]) | (torch.isnan(a[:, 0]) & torch.isnan(b[:, 0]))
    assert same.float().mean() >= 0.9  # hardware vs polynomial exp: rare spike-count flips
    if dtype == torch.float64:
        np.testing.assert_allclose(a[same].numpy(), b[same].numpy(), rtol=1e-6, atol=1e-6)
    ta = HodgkinHuxley(**kw, device="cuda").simulate(th[:4], seed=7, output="trace").cpu()
    tb = HodgkinHuxley(**kw, device="cpu").simulate(th[:4], seed=7, output="trace")
    assert ta.shape == tb.shape


_BAD = [
    (dict(), "theta", torch.zeros(3, 7), "theta: expected shape (num, 8)"),
    (dict(), "theta", torch.zeros(8), "theta: expected a 2-D array"),
    (dict(), "theta", torch.full((2, 8), float("nan")), "theta: expected finite values"),
    (
        dict(),
        "theta",
        torch.tensor([[50, -5, 0.1, 0.07, 600, 60, 0.1, 70.0]]),
        "theta: expected conductances >= 0, tau_max > 0 and sigma >= 0",
    ),
    (
        dict(),
        "theta",
        torch.tensor([[50, 5, 0.1, 0.07, 600, 60, -0.1, 70.0]]),
        "theta: expected conductances >= 0",
    ),
    (dict(), "output", "voltage", "output: expected one of 'features', 'trace'"),
    (dict(), "noise", torch.zeros(1, 10), "noise: expected shape (1, 12000)"),
    (dict(), "seed", np.array([1, 2]), "seed: expected None, an int or an integer array"),
]


@pytest.mark.parametrize(("kw", "arg", "value", "message"), _BAD)
def test_simulate_errors(kw, arg, value, message):
    hh = HodgkinHuxley(**kw)
    theta = torch.tensor([HH_TRUE_THETA])
    call = {"theta": theta, arg: value}
    theta = call.pop("theta")
    with pytest.raises(ValueError) as err:
        hh.simulate(theta, **call)
    assert str(err.value).startswith(message)


_BAD_INIT = [
    (dict(dt=0.0), "dt: expected a finite number > 0"),
    (dict(dt=-0.01), "dt: expected a finite number > 0"),
    (dict(dt=0.5), "dt: expected a time step in (0, 0.1] ms"),
    (dict(current=np.zeros(100)), "current: expected 12001 samples"),
    (dict(current=np.zeros((2, 12001))), "current: expected a 1-D waveform"),
    (dict(t_on=50.0, t_off=20.0), "t_off: expected 0 <= t_on < t_off <= t_max"),
    (dict(features="elife5"), "features: expected one of"),
    (dict(dtype=torch.float16), "dtype: expected one of"),
    (dict(soma_area_cm2=0.0), "soma_area_cm2: expected a finite number > 0"),
    (dict(v0=float("nan")), "v0: expected a finite potential in mV"),
]


@pytest.mark.parametrize(("kw", "message"), _BAD_INIT)
def test_constructor_errors(kw, message):
    with pytest.raises(ValueError) as err:
        HodgkinHuxley(**kw)
    assert str(err.value).startswith(message)
