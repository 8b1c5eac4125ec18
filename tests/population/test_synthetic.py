"""Ground-truth generators: wiring statistics, dynamics equations and analytic firing rates."""

from __future__ import annotations

import numpy as np
import pytest

from neurodyn.population.synthetic import (
    NETFORMER_CONNECTION_MEAN,
    NETFORMER_CONNECTION_PROB,
    calcium_network,
    cell_type_weights,
    lif_network,
    rate_network,
)


def test_cell_type_weights_follow_the_netformer_table():
    n = 1000
    w, types = cell_type_weights(n, seed=0)
    assert np.bincount(types).tolist() == [760, 80, 80, 80]
    assert np.all(np.diag(w) == 0)
    for post in range(4):
        for pre in range(4):
            block = w[np.ix_(types == post, types == pre)]
            size = block.size - (block.shape[0] if post == pre else 0)  # no diagonal
            p = NETFORMER_CONNECTION_PROB[post, pre]
            density = (block != 0).sum() / size
            assert abs(density - p) < 5 * np.sqrt(p * (1 - p) / size) + 1e-12
            if (block != 0).sum() > 30:
                nz = block[block != 0]
                mu = NETFORMER_CONNECTION_MEAN[post, pre]
                assert abs(nz.mean() - mu) < 5 * 0.1 / np.sqrt(nz.size)
                assert abs(nz.std() - 0.1) < 0.03


def test_rate_network_obeys_its_update_equation():
    net = rate_network(50, 3000, noise_std=0.5, bias_scale=0.0, leak=0.5, seed=3, burn_in=10)
    x = net.activity.astype(np.float64)
    resid = x[1:] - (0.5 * x[:-1] + 0.5 * np.tanh(x[:-1] @ net.weights.T))
    # residuals are the injected noise: zero mean, s.d. 0.5, white, independent of the state
    assert abs(resid.mean()) < 0.01
    assert resid.std() == pytest.approx(0.5, rel=0.02)  # float32 storage adds ~1e-7
    lag1 = np.mean(resid[1:] * resid[:-1]) / resid.var()
    assert abs(lag1) < 0.01
    assert abs(np.corrcoef(resid[:, 0], x[:-1, 1])[0, 1]) < 0.06
    assert net.kind == "rate" and net.config["seed"] == 3


def test_rate_network_seeding():
    a, b, c = (
        rate_network(20, 50, seed=1),
        rate_network(20, 50, seed=1),
        rate_network(20, 50, seed=2),
    )
    np.testing.assert_array_equal(a.activity, b.activity)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.weights, c.weights)
    assert a.edges.sum() == (a.weights != 0).sum() and a.num_neurons == 20


@pytest.mark.parametrize("mu", [22.0, 30.0])
def test_lif_uncoupled_deterministic_rate_matches_analytic(mu):
    # no synapses, no noise, suprathreshold drive: the LIF fires periodically with
    # period = t_ref + tau_m ln((mu - V_reset) / (mu - theta))
    sim_s, dt = 20.0, 0.05
    net = lif_network(
        8, 1000, bin_ms=20.0, dt_ms=dt, j_exc=0.0, mu_ext=mu, sigma_ext=0.0, drive_cv=0.0, seed=0
    )
    rate = net.spikes.sum(0) / sim_s
    period = 2.0 + 20.0 * np.log((mu - 10.0) / (mu - 20.0))
    # Euler error dt / (2 tau) + threshold-crossing quantisation dt / period + one spike of
    # count resolution
    tol = dt / 40.0 + dt / period + period / (1000.0 * sim_s)
    np.testing.assert_allclose(rate, 1000.0 / period, rtol=tol)


def test_lif_subthreshold_without_noise_is_silent():
    net = lif_network(8, 200, j_exc=0.0, mu_ext=19.0, sigma_ext=0.0, drive_cv=0.0, seed=0)
    assert net.spikes.sum() == 0


def test_lif_network_statistics():
    net = lif_network(100, 1500, seed=5)
    assert net.activity.shape == (1500, 100) and net.dt == 0.01
    assert np.array_equal(net.activity, net.spikes) and net.spikes.dtype.kind == "i"
    assert np.bincount(net.cell_types).tolist() == [80, 20]
    w = net.weights
    assert np.all(w[:, net.cell_types == 0] >= 0) and np.all(w[:, net.cell_types == 1] <= 0)
    assert abs((w != 0).sum() / (100 * 99) - 0.1) < 0.01
    rate = net.spikes.mean() / net.dt
    assert 2.0 < rate < 60.0
    assert net.spikes.max() <= 10 // 2 + 1  # refractory period 2 ms in 10-ms bins
    again = lif_network(100, 1500, seed=5)
    np.testing.assert_array_equal(net.spikes, again.spikes)


def test_calcium_is_spikes_convolved_with_the_indicator_kernel():
    net = calcium_network(
        20, 400, frame_rate_hz=5.0, noise_std=0.0, tau_rise_s=0.1, tau_decay_s=0.8, seed=2
    )
    assert net.dt == pytest.approx(0.2) and net.activity.shape == (400, 20)
    t = np.arange(0, 80.0, 0.2)
    k = np.exp(-t / 0.8) - np.exp(-t / 0.1)
    fine = np.linspace(0, 2, 200001)
    k *= 0.5 / np.max(np.exp(-fine / 0.8) - np.exp(-fine / 0.1))  # peak ΔF/F = 0.5
    ref = np.stack([np.convolve(net.spikes[:, i], k)[:400] for i in range(20)], 1)
    start = 80  # earlier frames also hold spikes from before the window (e^(-16 s / 0.8 s))
    np.testing.assert_allclose(net.activity[start:], ref[start:], rtol=1e-5, atol=1e-5)
    noisy = calcium_network(
        20, 400, frame_rate_hz=5.0, noise_std=0.2, tau_rise_s=0.1, tau_decay_s=0.8, seed=2
    )
    np.testing.assert_array_equal(noisy.spikes, net.spikes)
    assert (noisy.activity - net.activity).std() == pytest.approx(0.2, rel=0.05)


@pytest.mark.parametrize(
    ("func", "kwargs", "exc", "match"),
    [
        (
            cell_type_weights,
            {"num_neurons": 3},
            ValueError,
            "num_neurons: expected an integer >= 4",
        ),
        (cell_type_weights, {"num_neurons": 10.0}, TypeError, "num_neurons: expected an integer"),
        (cell_type_weights, {"seed": -1}, ValueError, "seed: expected an integer >= 0"),
        (rate_network, {"num_steps": 1}, ValueError, "num_steps: expected an integer >= 2"),
        (rate_network, {"noise_std": -1.0}, ValueError, "noise_std: expected a finite number >= 0"),
        (rate_network, {"leak": 0.0}, ValueError, r"leak: expected a number in \(0, 1\]"),
        (rate_network, {"leak": 1.5}, ValueError, r"leak: expected a number in \[0, 1\]"),
        (
            lif_network,
            {"bin_ms": 2.5, "dt_ms": 1.0},
            ValueError,
            "bin_ms: expected a multiple of dt_ms=1.0",
        ),
        (lif_network, {"p_connect": 1.0}, ValueError, r"p_connect: expected a number in \(0, 1\)"),
        (lif_network, {"num_neurons": 1}, ValueError, "num_neurons: expected an integer >= 2"),
        (lif_network, {"mu_ext": 0.0}, ValueError, "mu_ext: expected a finite number > 0"),
        (
            calcium_network,
            {"frame_rate_hz": 60.0},
            ValueError,
            r"frame_rate_hz: expected a frame rate in \[2, 30\] Hz",
        ),
        (
            calcium_network,
            {"tau_decay_s": 0.01},
            ValueError,
            "tau_decay_s: expected a decay time > tau_rise_s=0.05",
        ),
        (calcium_network, {"noise_std": "a"}, TypeError, "noise_std: expected a number"),
    ],
)
def test_generator_errors(func, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        func(**kwargs)
