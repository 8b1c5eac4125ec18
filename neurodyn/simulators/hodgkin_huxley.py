"""Batched Hodgkin-Huxley neuron (Pospischil et al. 2008), the eLife 2020 HH model.

Eight free parameters in the eLife order and units, the eLife prior, the step protocol (0.5 nA
on a pi*(70 µm)² soma from 10 to 110 ms of 120 ms) by default or any current waveform; the
exponential-Euler update of the authors' code; float32 or float64; counter-based per-simulation
noise (or an explicit noise array); CPU (numba, SIMD lanes) or CUDA kernels; outputs full
traces or the eLife summary features computed online inside the kernel.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch

from neurodyn._validation import check_choice, check_positive, check_tensor, fail
from neurodyn.features.hh import HH_FEATURE_SETS, hh_feature_names, hh_summary
from neurodyn.priors import BoxUniform
from neurodyn.simulators._buffers import TRACE_POOL
from neurodyn.simulators._kernels._cuda import cuda_simulator_enabled
from neurodyn.simulators._kernels.launch import cuda_launch_config, kernel_device
from neurodyn.simulators._kernels.rng import resolve_seeds
from neurodyn.simulators.stimuli import ELIFE_SOMA_AREA_CM2, num_steps_for, step_current

__all__ = ["HH_PARAM_NAMES", "HH_PARAM_UNITS", "HH_TRUE_THETA", "HodgkinHuxley", "hh_prior"]

HH_PARAM_NAMES = ("g_Na", "g_K", "g_leak", "g_M", "tau_max", "-V_T", "sigma", "-E_leak")
HH_PARAM_UNITS = ("mS/cm^2", "mS/cm^2", "mS/cm^2", "mS/cm^2", "ms", "mV", "uA/cm^2 ms^0.5", "mV")
#: Parameters of the eLife synthetic observation.
HH_TRUE_THETA = (50.0, 5.0, 0.1, 0.07, 600.0, 60.0, 0.1, 70.0)
_LOW = (0.5, 1e-4, 1e-4, 1e-4, 50.0, 40.0, 1e-4, 35.0)
_HIGH = (80.0, 15.0, 0.6, 0.6, 3000.0, 90.0, 0.15, 100.0)
#: Largest accepted time step (ms): beyond it spikes are no longer resolved.
MAX_DT_MS = 0.1
_CHUNK = 4096  # simulations per kernel call when traces are reduced to features on the host


def hh_prior(device: str | torch.device = "cpu") -> BoxUniform:
    """The eLife 8-parameter uniform prior (``utils.prior(prior_extent=True)``).

    Example:
        >>> hh_prior().param_names[:2]
        ('g_Na', 'g_K')
    """
    return BoxUniform(_LOW, _HIGH, param_names=HH_PARAM_NAMES, units=HH_PARAM_UNITS, device=device)


class HodgkinHuxley:
    """Batched HH simulator with the eLife 2020 protocol and features.

    Args:
        dt: time step (ms), in ``(0, 0.1]``.
        t_max: duration (ms); ``num_steps = round(t_max / dt) + 1`` samples from t = 0. May be
            None when ``current`` is given (then ``(len(current) - 1) * dt``).
        current: injected current (nA), ``(num_steps,)``; None = the eLife step protocol
            (0.5 nA from ``t_on`` to ``t_off``).
        soma_area_cm2: membrane area converting nA to µA/cm² (default pi*(70 µm)²).
        t_on, t_off: stimulus window of the features (ms); defaults 10 and ``t_max - 10``.
        v0: initial membrane potential (mV); gates start at steady state.
        features: ``"elife7"`` (default), ``"elife1"``, ``"elife4"`` (online in the kernel)
            or ``"extended13"`` (from traces, in chunks).
        dtype: ``torch.float32`` (default) or ``torch.float64`` state and output.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Example:
        >>> import torch
        >>> hh = HodgkinHuxley(dt=0.025, t_max=30.0, t_on=5.0, t_off=25.0)
        >>> theta = torch.tensor([[50.0, 5.0, 0.1, 0.07, 600.0, 60.0, 0.1, 70.0]])
        >>> hh.simulate(theta, seed=0).shape, hh.simulate(theta, output="trace").shape
        (torch.Size([1, 7]), torch.Size([1, 1201]))
    """

    name = "hodgkin_huxley"
    version = "1"
    param_names = HH_PARAM_NAMES
    units = HH_PARAM_UNITS
    num_params = 8

    def __init__(
        self,
        dt: float = 0.01,
        t_max: float | None = 120.0,
        *,
        current=None,
        soma_area_cm2: float = ELIFE_SOMA_AREA_CM2,
        t_on: float = 10.0,
        t_off: float | None = None,
        v0: float = -70.0,
        features: str = "elife7",
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        dt = check_positive("dt", dt)
        if dt > MAX_DT_MS:
            fail(
                "dt",
                f"a time step in (0, {MAX_DT_MS}] ms",
                dt,
                "Larger steps do not resolve spikes; the eLife code uses 0.01 ms.",
            )
        self.soma_area_cm2 = check_positive("soma_area_cm2", soma_area_cm2)
        if current is None:
            if t_max is None:
                fail("t_max", "a duration in ms when no current is given", t_max)
            t_max = check_positive("t_max", t_max)
            t_off_ = t_max - t_on if t_off is None else t_off
            density = step_current(
                t_max, dt, t_on=t_on, t_off=t_off_, soma_area_cm2=self.soma_area_cm2
            )
        else:
            arr = np.asarray(
                current.detach().cpu() if hasattr(current, "detach") else current, dtype=np.float64
            )
            if arr.ndim != 1 or arr.size < 2:
                fail("current", "a 1-D waveform (num_steps,) in nA", arr)
            if t_max is None:
                t_max = (arr.size - 1) * dt
            t_max = check_positive("t_max", t_max)
            if arr.size != num_steps_for(t_max, dt):
                fail(
                    "current",
                    f"{num_steps_for(t_max, dt)} samples "
                    f"(round(t_max / dt) + 1 for t_max={t_max} ms, dt={dt} ms)",
                    f"{arr.size} samples",
                    "Pass t_max=None to derive it from the current.",
                )
            if not np.isfinite(arr).all():
                fail("current", "finite values", f"{int((~np.isfinite(arr)).sum())} NaN/inf")
            density = arr * 1e-3 / self.soma_area_cm2
        self.dt, self.t_max = dt, float(t_max)
        self.t_on = float(t_on)
        self.t_off = float(self.t_max - t_on if t_off is None else t_off)
        if not 0.0 < self.t_on < self.t_off <= self.t_max:
            fail(
                "t_off",
                f"0 < t_on < t_off <= t_max = {self.t_max}",
                f"t_on={self.t_on}, t_off={self.t_off}",
            )
        if not math.isfinite(v0):
            fail("v0", "a finite potential in mV", v0)
        self.v0 = float(v0)
        self.features = check_choice("features", features, HH_FEATURE_SETS)
        self.feature_names = hh_feature_names(features)
        self.num_features = len(self.feature_names)
        self.dtype = check_choice("dtype", dtype, (torch.float32, torch.float64))
        self._np_dtype = np.float32 if dtype == torch.float32 else np.float64
        self._kernel_device = kernel_device(device)
        self._cudasim = self._kernel_device.type == "cuda" and cuda_simulator_enabled()
        self.device = torch.device("cpu") if self._cudasim else self._kernel_device
        self.current = density  # µA/cm², float64 (num_steps,)
        self.num_steps = density.size
        t = np.arange(self.num_steps, dtype=np.float64) * dt
        self._windows = np.array(
            [
                np.count_nonzero(t < self.t_on),
                int(0.9 * self.t_on / dt),
                int(self.t_on / dt),
                int(np.searchsorted(t, self.t_on, side="right")),
                int(np.searchsorted(t, self.t_off, side="left")),
            ],
            dtype=np.int64,
        )
        self.prior = hh_prior(self.device)

    # ------------------------------------------------------------------ public API
    def config(self) -> dict:
        """JSON-serialisable constructor settings (the current as a SHA-1 of its bytes)."""
        return {
            "name": self.name,
            "version": self.version,
            "dt": self.dt,
            "t_max": self.t_max,
            "t_on": self.t_on,
            "t_off": self.t_off,
            "v0": self.v0,
            "soma_area_cm2": self.soma_area_cm2,
            "features": self.features,
            "dtype": str(self.dtype).removeprefix("torch."),
            "current_sha1": hashlib.sha1(self.current.tobytes()).hexdigest(),
        }

    def simulate(self, theta, *, seed=None, output: str = "features", noise=None) -> torch.Tensor:
        """Simulate a batch.

        Args:
            theta: ``(num, 8)`` parameters in the order of :attr:`param_names`.
            seed: None (fresh entropy), an int (per-simulation seeds
                ``derive_seeds(seed, num)``) or an integer array ``(num,)``.
            output: ``"features"`` -> ``(num, num_features)`` (NaN rows for traces that
                diverged), or ``"trace"`` -> ``(num, num_steps)`` membrane potential (mV).
            noise: optional explicit standard normals ``(num, num_steps - 1)``; step ``i``
                uses ``noise[:, i - 1]`` (reproduces the eLife x_o with
                ``RandomState(1791095845).randn(num_steps)``). Overrides ``seed``.

        Returns:
            Tensor on :attr:`device` with :attr:`dtype`.
        """
        check_choice("output", output, ("features", "trace"))
        th = self._check_theta(theta)
        num = th.shape[0]
        seeds = resolve_seeds(seed, num)
        nz = None
        if noise is not None:
            nz = check_tensor("noise", noise, ndim=2, dtype=self.dtype)
            if tuple(nz.shape) != (num, self.num_steps - 1):
                fail("noise", f"shape ({num}, {self.num_steps - 1}) (num, num_steps - 1)", nz)
        if output == "trace":
            return self._run(th, seeds, nz, want_feat=False)[1]
        if self.features == "extended13":
            rows = []
            for a in range(0, num, _CHUNK):
                sl = slice(a, a + _CHUNK)
                tr = self._run(th[sl], seeds[sl], None if nz is None else nz[sl], want_feat=False)[
                    1
                ]
                rows.append(
                    hh_summary(
                        tr, dt=self.dt, t_on=self.t_on, t_off=self.t_off, feature_set="extended13"
                    )
                )
            feats = torch.cat(rows) if rows else torch.empty(0, 13, dtype=torch.float64)
        else:
            feats = self._run(th, seeds, nz, want_feat=True)[0][:, : self.num_features]
        return feats.to(device=self.device, dtype=self.dtype)

    def __repr__(self) -> str:
        return (
            f"HodgkinHuxley(dt={self.dt}, t_max={self.t_max}, features={self.features!r}, "
            f"dtype={self.dtype}, device={self.device})"
        )

    # ------------------------------------------------------------------ internals
    def _check_theta(self, theta) -> torch.Tensor:
        th = check_tensor("theta", theta, ndim=2, dtype=self.dtype)
        if th.shape[1] != 8:
            fail(
                "theta", "shape (num, 8): g_Na, g_K, g_leak, g_M, tau_max, -V_T, sigma, -E_leak", th
            )
        bad = (th[:, :4] < 0).any(dim=1) | (th[:, 4] <= 0) | (th[:, 6] < 0)
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0, 0])
            fail(
                "theta",
                "conductances >= 0, tau_max > 0 and sigma >= 0",
                f"row {i} = {th[i].tolist()}",
                "Sample from hh.prior or clip the values.",
            )
        return th

    def _run(
        self, th: torch.Tensor, seeds: np.ndarray, noise: torch.Tensor | None, *, want_feat: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        num = th.shape[0]
        use_rng = noise is None and bool((th[:, 6] != 0).any())
        args = dict(v0=self.v0, dt=self.dt, dedup=0.5, use_rng=use_rng)
        if self._kernel_device.type == "cuda" and not self._cudasim:
            return self._run_cuda(th, seeds, noise, want_feat, args)
        npd = self._np_dtype
        theta_np = np.ascontiguousarray(th.detach().cpu().numpy())
        noise_np = (
            np.zeros((0, 0), npd)
            if noise is None
            else np.ascontiguousarray(noise.detach().cpu().numpy())
        )
        current = self.current.astype(npd)
        feats = np.full((num, 8), np.nan) if want_feat else np.zeros((0, 8))
        # every element is written by the kernel: a reused buffer needs no initialisation
        trace = np.zeros((0, 0), npd) if want_feat else TRACE_POOL.empty((num, self.num_steps), npd)
        if num:
            if self._cudasim:
                self._launch_cudasim(theta_np, seeds, current, noise_np, feats, trace, args)
            else:
                from neurodyn.simulators._kernels.hh_cpu import hh_cpu_kernel

                hh_cpu_kernel(
                    theta_np,
                    seeds,
                    current,
                    noise_np,
                    args["v0"],
                    args["dt"],
                    self._windows,
                    args["dedup"],
                    args["use_rng"],
                    feats,
                    trace,
                )
        if want_feat:
            return torch.from_numpy(feats), None
        return None, torch.from_numpy(trace)

    def _launch_cudasim(self, theta, seeds, current, noise, feats, trace, args) -> None:
        from neurodyn.simulators._kernels.hh_cuda import hh_cuda_kernel

        trace_tm = (
            np.zeros((0, 0), trace.dtype)
            if trace.size == 0
            else np.empty(trace.T.shape, trace.dtype)
        )
        blocks, threads = cuda_launch_config(theta.shape[0], 32)
        hh_cuda_kernel[blocks, threads](
            theta,
            seeds,
            current,
            noise,
            args["v0"],
            args["dt"],
            self._windows,
            args["dedup"],
            args["use_rng"],
            feats,
            trace_tm,
        )
        if trace.size:
            trace[...] = trace_tm.T

    def _run_cuda(self, th, seeds, noise, want_feat, args):
        from neurodyn.simulators._kernels._cuda import numba_cuda
        from neurodyn.simulators._kernels.hh_cuda import hh_cuda_kernel

        cuda = numba_cuda()
        dev = self._kernel_device
        num = th.shape[0]
        theta_d = th.to(dev).contiguous()
        current_d = torch.as_tensor(self.current, dtype=self.dtype, device=dev)
        noise_d = (
            torch.zeros((0, 0), dtype=self.dtype, device=dev)
            if noise is None
            else noise.to(dev).contiguous()
        )
        feats = (
            torch.full((num, 8), math.nan, dtype=torch.float64, device=dev)
            if want_feat
            else torch.zeros((0, 8), dtype=torch.float64, device=dev)
        )
        trace_tm = (
            torch.zeros((0, 0), dtype=self.dtype, device=dev)
            if want_feat
            else torch.empty((self.num_steps, num), dtype=self.dtype, device=dev)
        )
        if num:
            with cuda.gpus[dev.index or 0]:
                seeds_d = cuda.to_device(np.ascontiguousarray(seeds, dtype=np.uint64))
                windows_d = cuda.to_device(self._windows)
                torch.cuda.synchronize(dev)
                blocks, threads = cuda_launch_config(num)
                hh_cuda_kernel[blocks, threads](
                    theta_d,
                    seeds_d,
                    current_d,
                    noise_d,
                    args["v0"],
                    args["dt"],
                    windows_d,
                    args["dedup"],
                    args["use_rng"],
                    feats,
                    trace_tm,
                )
                cuda.synchronize()
        if want_feat:
            return feats, None
        return None, trace_tm.t().contiguous()
