"""PyloricNetwork against the authors' simulator outputs (``pyloric_reference_outputs.npz``)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from neurodyn.simulators._kernels.rng import derive_seeds
from neurodyn.simulators.pyloric import PYLORIC_PARAM_NAMES, PyloricNetwork, pyloric_prior

REF = "pyloric_reference_outputs.npz"


@pytest.fixture
def ref(load_npz):
    return load_npz(REF)


def _rel(a, b):
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-12)


def test_prior_matches_reference_bounds(ref):
    prior = pyloric_prior()
    assert prior.param_names == PYLORIC_PARAM_NAMES
    np.testing.assert_allclose(prior.low.numpy(), ref["prior_lower"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(prior.high.numpy(), ref["prior_upper"], rtol=1e-6, atol=1e-6)
    assert [str(n) for n in ref["theta_names"]] == list(PYLORIC_PARAM_NAMES)


def test_noise_free_trace_matches_reference_first_3s(ref):
    net = PyloricNetwork(t_max=3000.0, noise=False, dtype=torch.float64)
    v = net.simulate(torch.tensor(ref["theta"][:1]), output="trace")[0].numpy()
    expected = ref["elife_start_noisefree_V_first3000ms_dt0p025"].T
    assert v.shape == expected.shape
    assert np.abs(v - expected).max() <= 1e-3
    # stronger than the requirement: equal to the float32 storage precision
    assert np.abs(v - expected).max() <= 2e-5


def test_noise_free_features_exact_and_elife_endpoints_close_to_xo(ref, shared_data):
    """One noise-free float64 trace per reference set; both orders from it (the kernel's
    online features equal the trace features: test_features_from_trace_equal_online_features).
    """
    from neurodyn.features import pyloric_summary

    net = PyloricNetwork(noise=False, dtype=torch.float64)
    v = net.simulate(torch.tensor(ref["theta"]), output="trace")
    for order, key in (("elife", "stats_elife_order"), ("pnas", "stats_pyloric_order")):
        x = pyloric_summary(v, order=order, extras=True).numpy()
        expected = ref[key][:, 3]  # seed -1 = noise off
        np.testing.assert_array_equal(np.isnan(x[:, :18]), np.isnan(expected[:, :18]))
        assert np.nanmax(_rel(x[:, :18], expected[:, :18])) <= 1e-6
        np.testing.assert_array_equal(x[:, 24], expected[:, -1])  # pyloric_like
        if order == "pnas":
            np.testing.assert_array_equal(x[:, 18:24], expected[:, 18:24])  # bursts, spikes
        else:
            _assert_close_to_xo(x[:2], shared_data)


def _assert_close_to_xo(x, shared_data):
    """eLife path endpoints: triphasic, pyloric-like, within the population sd of x_o."""
    with open(shared_data / "stg_xo_845_082_0044_elife_order.csv") as fh:
        rows = list(csv.DictReader(fh))
    xo = np.array([float(r["xo_prep845_082_0044"]) for r in rows])
    sd = np.array([float(r["hardcoded_pop_std"] or "nan") for r in rows])
    assert np.all(x[:, 25] == 0)  # rhythm class: triphasic
    assert np.all(x[:, 24] == 1)  # pyloric_like
    assert (np.abs(x[:, :15] - xo[:15]) <= sd[:15]).all(), (x[:, :15], xo[:15])
    np.testing.assert_array_equal(x[:, 15:18], 2.5)  # no plateaus, as in x_o


def test_float32_default_dtype_is_finite_and_as_valid_as_float64(ref, shared_data):
    """The default dtype (float32, CPU lane kernel): spiking presynaptic neurons (V > 48 mV
    rounds the float32 synaptic steady state to exactly 1) must not turn the postsynaptic
    neuron into NaN. With numba 0.68 / llvmlite 0.50 the former ``dt / (1 - s_inf)`` did,
    for every reference set (all traces NaN, 0 valid rhythms; posterior samples 4 % valid
    instead of float64's 74 %)."""
    theta = torch.tensor(ref["theta"])
    short32 = PyloricNetwork(t_max=3000.0, noise=False)
    assert short32.dtype == torch.float32
    v = short32.simulate(theta.float(), output="trace")
    assert torch.isfinite(v).all()
    assert v.max() > 48.0  # the case that matters: spike peaks above 48 mV
    x32 = PyloricNetwork(noise=False, extras=True).simulate(theta.float()).numpy()
    x64 = PyloricNetwork(noise=False, extras=True, dtype=torch.float64).simulate(theta).numpy()
    ok32, ok64 = np.isfinite(x32[:, :18]).all(1), np.isfinite(x64[:, :18]).all(1)
    assert ok64.sum() == 5 and ok32.sum() >= 4  # float32 trajectories drift (chaotic spikes)
    _assert_close_to_xo(x32[:2], shared_data)  # the eLife path endpoints, as in float64
    # with noise, 4 seeds per set: valid fractions agree
    noisy = torch.tensor(np.repeat(ref["theta"], 4, 0))
    y32 = PyloricNetwork().simulate(noisy.float(), seed=5)
    y64 = PyloricNetwork(dtype=torch.float64).simulate(noisy, seed=5)
    f32 = float(torch.isfinite(y32).all(1).double().mean())
    f64 = float(torch.isfinite(y64).all(1).double().mean())
    assert f64 > 0.5 and abs(f32 - f64) <= 0.2, (f32, f64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_syn_step_saturated_presynaptic_neuron(dtype):
    """Graded synapse at and above the spike peak: s relaxes to s_inf (1 in float32) in one
    step, finite; below, the exponential-Euler-like relaxation of the reference."""
    from neurodyn.simulators._kernels.pyloric_model import syn_step

    f = dtype
    for v_pre in (40.0, 48.5, 55.0, 80.0, 200.0):
        out = syn_step(f(0.3), f(v_pre), f(0.025 * 0.01))
        s_inf = 1.0 / (1.0 + np.exp((-35.0 - v_pre) / 5.0))
        assert np.isfinite(out) and abs(out - s_inf) <= 1e-6, (v_pre, out)
    dtq, s, v_pre = 1e-4, 0.2, -40.0
    s_inf = 1.0 / (1.0 + np.exp((-35.0 - v_pre) / 5.0))
    expected = s + (s_inf - s) * dtq / (1.0 - s_inf)
    assert abs(syn_step(f(s), f(v_pre), f(dtq)) - expected) <= 1e-6 * max(1.0, abs(expected))


@pytest.mark.slow
def test_features_all_reference_sets_and_noise_settings_with_replayed_noise(ref):
    """6 sets x 4 noise settings, the reference's numpy noise replayed through ``noise=``."""
    n = 440000
    for si, s in enumerate(ref["seeds"]):
        if s < 0:
            noise = torch.zeros(6, n, 3, dtype=torch.float64)
        else:
            one = np.random.RandomState(int(s)).normal(0, 0.001, (3, n)).T
            noise = torch.from_numpy(np.repeat(one[None], 6, 0))
        for order, key in (("elife", "stats_elife_order"), ("pnas", "stats_pyloric_order")):
            net = PyloricNetwork(noise=True, dtype=torch.float64, order=order)
            x = net.simulate(torch.tensor(ref["theta"]), noise=noise).numpy()
            expected = ref[key][:, si, :18]
            np.testing.assert_array_equal(np.isnan(x), np.isnan(expected))
            assert np.nanmax(_rel(x, expected)) <= 5e-3


@pytest.mark.slow
def test_elife_path_endpoints_with_noise_close_to_xo_on_average(ref, shared_data):
    """With our counter-based noise: the mean over 8 noise seeds per endpoint."""
    net = PyloricNetwork(dtype=torch.float64, extras=True)
    theta = torch.tensor(np.repeat(ref["theta"][:2], 8, 0))
    x = net.simulate(theta, seed=2024).numpy()
    assert np.all(x[:, 25] == 0)
    mean = np.stack([x[:8].mean(0), x[8:].mean(0)])
    _assert_close_to_xo(mean, shared_data)


@pytest.mark.slow
def test_noise_statistics_match_numpy_noise(ref):
    """Counter-based noise vs the reference's numpy noise: feature means agree within 3 SE."""
    n, m = 440000, 8
    theta = torch.tensor(np.repeat(ref["theta"][:1], m, 0))
    net = PyloricNetwork(dtype=torch.float64)
    ours = net.simulate(theta, seed=123).numpy()
    noise = np.stack([np.random.RandomState(100 + s).normal(0, 0.001, (3, n)).T for s in range(m)])
    numpy_noise = net.simulate(theta, noise=torch.from_numpy(noise)).numpy()
    se = np.sqrt((ours.var(0) + numpy_noise.var(0)) / m)
    assert (np.abs(ours.mean(0) - numpy_noise.mean(0)) <= 3 * se + 1e-9).all()


def test_batch_invariance_and_seed_determinism():
    net = PyloricNetwork(t_max=1500.0, t_burn_in=500.0, dtype=torch.float64)
    theta = pyloric_prior().sample((5,)).double()
    a = net.simulate(theta, seed=7, output="trace")
    b = net.simulate(theta, seed=7, output="trace")
    assert torch.equal(a, b)
    seeds = derive_seeds(7, 5)
    c = net.simulate(theta[2:3], seed=seeds[2:3], output="trace")
    assert torch.equal(a[2], c[0])
    d = net.simulate(theta, seed=8, output="trace")
    assert not torch.equal(a, d)
    quiet = PyloricNetwork(t_max=1500.0, t_burn_in=500.0, dtype=torch.float64, noise=False)
    e = quiet.simulate(theta, seed=1, output="trace")
    assert torch.equal(e, quiet.simulate(theta, seed=2, output="trace"))
    # noise is 1 nA sd per step: the membrane sees it
    assert (a - e).abs().max() > 1e-4


def test_features_from_trace_equal_online_features(ref):
    from neurodyn.features import pyloric_summary

    net = PyloricNetwork(t_max=4000.0, dtype=torch.float64, extras=True)
    theta = torch.tensor(ref["theta"][[0, 5]])
    v = net.simulate(theta, seed=11, output="trace")
    x_online = net.simulate(theta, seed=11)
    x_trace = pyloric_summary(v, extras=True)
    np.testing.assert_allclose(x_online.numpy(), x_trace.numpy(), rtol=1e-12, equal_nan=True)


def test_energy_output_is_positive_and_scales_with_window(ref):
    net = PyloricNetwork(t_max=2000.0, noise=False, dtype=torch.float64, energy=True)
    x = net.simulate(torch.tensor(ref["theta"][:1]))
    assert x.shape == (1, 21)
    assert net.feature_names[-3:] == ("energy_ABPD", "energy_LP", "energy_PY")
    assert bool((x[0, -3:] > 0).all())


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"dt": 0.0}, ValueError, "dt: expected"),
        ({"t_max": -1.0}, ValueError, "t_max: expected"),
        ({"noise": "yes"}, TypeError, "noise: expected a bool"),
        ({"dtype": torch.int32}, TypeError, "dtype: expected torch.float32 or torch.float64"),
        ({"order": "prinz"}, ValueError, "order: expected"),
        ({"t_max": 1000.0, "t_burn_in": 1000.0}, ValueError, "t_burn_in: expected"),
        ({"noise_std": -1.0}, ValueError, "noise_std: expected"),
    ],
)
def test_constructor_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        PyloricNetwork(**kwargs)


@pytest.mark.parametrize(
    ("theta", "kw", "exc", "match"),
    [
        (torch.zeros(2, 30), {}, ValueError, r"theta: expected shape \(num, 31\)"),
        (torch.zeros(31), {}, ValueError, "theta: expected"),
        (torch.full((1, 31), float("nan")), {}, ValueError, "theta: expected finite values"),
        (-torch.ones(1, 31), {}, ValueError, "theta: expected non-negative membrane"),
        (torch.zeros(1, 31), {"output": "spikes"}, ValueError, "output: expected"),
        (torch.zeros(2, 31), {"seed": [1, 2, 3]}, ValueError, "seed: expected"),
        (torch.zeros(1, 31), {"noise": torch.zeros(1, 5, 3)}, ValueError, "noise: expected shape"),
    ],
)
def test_simulate_errors(theta, kw, exc, match):
    net = PyloricNetwork(t_max=100.0, t_burn_in=10.0)
    with pytest.raises(exc, match=match):
        net.simulate(theta, **kw)


def test_config_and_protocol_attributes():
    net = PyloricNetwork(order="pnas", extras=True)
    assert net.num_params == 31 and len(net.param_names) == 31
    assert net.num_features == 26 == len(net.feature_names)
    assert net.feature_names[10] == "start_to_start_LP_PY"
    cfg = net.config()
    assert cfg["order"] == "pnas" and cfg["dtype"] == "float32"
    assert net.simulate(torch.zeros(0, 31)).shape == (0, 26)


def test_temperature_q10_constants_and_faster_rhythm_when_warmer(ref):
    from neurodyn.simulators._kernels.pyloric_model import kinetic_constants

    k283, k293 = kinetic_constants(0.025, 283.0), kinetic_constants(0.025, 293.0)
    np.testing.assert_allclose(k293[0:7] / k283[0:7], [2.4, 2.4, 2.0, 2.4, 1.6, 2.4, 2.4])
    np.testing.assert_allclose(k293[7:11] / k283[7:11], 2.8)
    np.testing.assert_allclose(k293[14:21] / k283[14:21], 1.7)
    assert k293[13] / k283[13] == pytest.approx(293.0 / 283.0)  # Nernst RT/zF
    theta = torch.tensor(ref["theta"][:2])
    periods = []
    for temperature in (283.0, 293.0):
        net = PyloricNetwork(
            t_max=5000.0, noise=False, dtype=torch.float64, temperature=temperature, extras=True
        )
        x = net.simulate(theta).numpy()
        assert np.all(x[:, 25] == 0)  # still triphasic
        periods.append(x[:, 0])
    q10_frequency = periods[0] / periods[1]
    assert np.all((q10_frequency > 1.5) & (q10_frequency < 2.5))  # pyloric Q10 ~ 2


_CUDASIM_SCRIPT = """
import torch
from neurodyn.simulators import PyloricNetwork
theta = PyloricNetwork().prior.sample((4,)).double()
for noise in (True, False):
    kw = dict(t_max=30.0, t_burn_in=5.0, dtype=torch.float64, noise=noise)
    a = PyloricNetwork(device="cpu", **kw).simulate(theta, seed=3, output="trace")
    b = PyloricNetwork(device="cuda", **kw).simulate(theta, seed=3, output="trace")
    print(float((a - b).abs().max()))
"""


@pytest.mark.slow
def test_cuda_kernel_in_numba_simulator_matches_cpu_trace():
    """The 3-threads-per-network CUDA kernel (run in numba's CUDA simulator) equals the CPU
    lane kernel in float64, with and without noise (same counter-based noise streams)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    out = subprocess.run(
        [sys.executable, "-c", _CUDASIM_SCRIPT], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    diffs = [float(line) for line in out.stdout.split()]
    assert len(diffs) == 2 and max(diffs) < 1e-9
