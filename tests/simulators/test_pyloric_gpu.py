"""PyloricNetwork on CUDA against the CPU kernel (``gpu`` marker; skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodyn.simulators.pyloric import PyloricNetwork, pyloric_prior

pytestmark = pytest.mark.gpu


def test_cuda_float64_matches_cpu_trace_and_features():
    theta = pyloric_prior().sample((8,)).double()
    kw = {"t_max": 3000.0, "dtype": torch.float64, "extras": True}
    cpu = PyloricNetwork(device="cpu", **kw)
    gpu = PyloricNetwork(device="cuda", **kw)
    a = cpu.simulate(theta, seed=3, output="trace")
    b = gpu.simulate(theta, seed=3, output="trace").cpu()
    assert (a - b).abs().max() < 1e-3  # float64 libm vs libdevice exp: ulp-level differences
    x = cpu.simulate(theta, seed=3)
    y = gpu.simulate(theta, seed=3).cpu()
    np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-3, atol=1e-6, equal_nan=True)


def test_cuda_batch_invariance():
    theta = pyloric_prior().sample((300,))
    net = PyloricNetwork(t_max=1500.0, t_burn_in=500.0, device="cuda")
    full = net.simulate(theta, seed=5)
    from neurodyn.simulators._kernels.rng import derive_seeds

    part = net.simulate(theta[100:103], seed=derive_seeds(5, 300)[100:103])
    torch.testing.assert_close(full[100:103], part, equal_nan=True, rtol=0, atol=0)


def test_cuda_reference_features_with_replayed_noise(load_npz):
    ref = load_npz("pyloric_reference_outputs.npz")
    n = 440000
    net = PyloricNetwork(device="cuda", dtype=torch.float64, order="pnas")
    for si, s in list(enumerate(ref["seeds"]))[2:]:  # seed 5340 and noise-free
        one = np.zeros((n, 3)) if s < 0 else np.random.RandomState(int(s)).normal(0, 1e-3, (3, n)).T
        noise = torch.from_numpy(np.repeat(one[None], 6, 0))
        x = net.simulate(torch.tensor(ref["theta"]), noise=noise).cpu().numpy()
        expected = ref["stats_pyloric_order"][:, si, :18]
        np.testing.assert_array_equal(np.isnan(x), np.isnan(expected))
        rel = np.abs(x - expected) / np.maximum(np.abs(expected), 1e-12)
        assert np.nanmax(rel) <= 5e-3
