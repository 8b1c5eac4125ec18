"""Toy simulators following the Simulator protocol, for the compute tests.

``LinearGaussian``: x = [theta + noise * z_1..d, z_{d+1}..z_{d+k}] with standard normals z
drawn from a counter-based hash of (per-simulation seed, feature index), so simulation i
depends only on theta[i] and its seed (the Simulator contract). Simulations with
theta[0] > invalid_above return NaN features (invalid). ``delay`` seconds of sleep per call
make campaigns slow enough to be killed mid-run.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from neurodyn.compute.campaign import _derive_seeds
from neurodyn.priors import BoxUniform

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hashed_normals(seeds: np.ndarray, num: int) -> np.ndarray:
    """Standard normals ``(len(seeds), num)``, a pure function of (seed, column)."""
    seeds = np.asarray(seeds, dtype=np.uint64)[:, None]
    cols = np.arange(2 * num, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        h = _mix(_mix(seeds) ^ (cols * np.uint64(0xD1B54A32D192ED03)))
    u = ((h >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 2**53)
    u1, u2 = u[:, :num], u[:, num:]
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


class LinearGaussian:
    """x = theta + noise * z (first num_params features) and k pure-noise features."""

    name = "toy_linear_gaussian"
    version = "1.0"

    def __init__(
        self,
        num_params: int = 2,
        noise: float = 0.1,
        num_nuisance: int = 0,
        delay: float = 0.0,
        invalid_above: float = 0.8,
        bound: float = 1.0,
        device: str = "cpu",
    ) -> None:
        self.num_params = num_params
        self.noise = noise
        self.num_nuisance = num_nuisance
        self.delay = delay
        self.invalid_above = invalid_above
        self.bound = bound
        self.device = torch.device(device)
        self.dtype = torch.float64
        self.param_names = tuple(f"t{i}" for i in range(num_params))
        self.feature_names = tuple(f"x{i}" for i in range(num_params)) + tuple(
            f"n{i}" for i in range(num_nuisance)
        )
        self.num_features = len(self.feature_names)
        self.prior = BoxUniform(
            [-bound] * num_params, [bound] * num_params, param_names=self.param_names
        )

    def config(self) -> dict:
        return {
            "num_params": self.num_params,
            "noise": self.noise,
            "num_nuisance": self.num_nuisance,
            "invalid_above": self.invalid_above,
            "bound": self.bound,
        }

    def simulate(self, theta, *, seed=None, output: str = "features") -> torch.Tensor:
        derive_seeds = _derive_seeds()
        theta = torch.as_tensor(theta, dtype=self.dtype).reshape(-1, self.num_params)
        n = theta.shape[0]
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        seeds = derive_seeds(seed, n) if np.ndim(seed) == 0 else np.asarray(seed, np.uint64)
        if self.delay:
            time.sleep(self.delay)
        z = torch.from_numpy(hashed_normals(seeds, self.num_features))
        x = torch.cat(
            [theta + self.noise * z[:, : self.num_params], z[:, self.num_params :]], dim=1
        )
        x[theta[:, 0] > self.invalid_above] = float("nan")
        return x.to(self.device)
