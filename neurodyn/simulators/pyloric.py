"""Pyloric network of the crab stomatogastric ganglion (Prinz, Bucher & Marder 2004).

Three single-compartment neurons (AB/PD pacemaker, LP, PY), 8 membrane conductances each and 7
graded synapses: 31 parameters, as in Gonçalves et al. 2020 (eLife) and Deistler et al. 2022
(PNAS). Equations, constants, update order, initial state and noise follow the authors' Cython
simulator; see ``docs/pyloric.md``.
"""

from __future__ import annotations

import numpy as np
import torch

from neurodyn._validation import check_choice, check_positive, check_tensor, fail
from neurodyn.features.pyloric import BURST_MIN_MS, feature_columns
from neurodyn.priors import BoxUniform
from neurodyn.simulators._kernels._cuda import cuda_simulator_enabled, numba_cuda
from neurodyn.simulators._kernels.launch import kernel_device
from neurodyn.simulators._kernels.pyloric_model import (
    AREA_CM2,
    Q10_GBAR,
    initial_state,
    kinetic_constants,
)
from neurodyn.simulators._kernels.pyloric_online import (
    NUM_FULL,
    burst_capacity,
    sg_matrix,
)
from neurodyn.simulators._kernels.rng import resolve_seeds

__all__ = ["PYLORIC_PARAM_NAMES", "PyloricNetwork", "pyloric_prior"]

_NEURONS = ("ABPD", "LP", "PY")
_CHANNELS = ("Na", "CaT", "CaS", "A", "KCa", "Kd", "H", "Leak")
_SYNAPSES = ("AB-LP", "PD-LP", "AB-PY", "PD-PY", "LP-PD", "LP-PY", "PY-LP")
PYLORIC_PARAM_NAMES = tuple(f"{n}_{c}" for n in _NEURONS for c in _CHANNELS) + tuple(
    f"syn_{s}" for s in _SYNAPSES
)
_LOW = [0, 0, 0, 0, 0, 25, 0, 0, 0, 0, 2, 10, 0, 0, 0, 0.01, 0, 0, 0, 30, 0, 50, 0, 0]
_HIGH = [500, 7.5, 8, 60, 15, 150, 0.02, 0.01, 200, 2.5, 12, 60, 10, 125, 0.06, 0.04]
_HIGH = [*_HIGH, 600, 12.5, 4, 60, 5, 150, 0.06, 0.04]
_SYN_LOW, _SYN_HIGH = float(np.log(1e-8)), float(np.log(1e-3))


def pyloric_prior(device: str | torch.device = "cpu") -> BoxUniform:
    """The 31-parameter uniform box of eLife 2020 / PNAS 2022 (pyloric-package units).

    Membrane maximal conductances in mS/cm² (AB/PD, LP, PY × Na, CaT, CaS, A, KCa, Kd, H,
    leak), synaptic conductances as ln(g / mS) on [ln 1e-8, ln 1e-3] (AB-LP up to ln 1e-2).

    Example:
        >>> prior = pyloric_prior()
        >>> prior.sample((2,)).shape, prior.param_names[24]
        (torch.Size([2, 31]), 'syn_AB-LP')
    """
    low = _LOW + [_SYN_LOW] * 7
    high = _HIGH + [float(np.log(1e-2))] + [_SYN_HIGH] * 6
    units = ["mS/cm^2"] * 24 + ["ln(mS)"] * 7
    return BoxUniform(
        torch.tensor(low, dtype=torch.float64).float(),
        torch.tensor(high, dtype=torch.float64).float(),
        param_names=PYLORIC_PARAM_NAMES,
        units=units,
        device=device,
    )


class PyloricNetwork:
    """Batched simulator of the 3-neuron pyloric network with online rhythm features.

    Args:
        dt: time step (ms); the reference uses 0.025 (features assume a 21-sample filter).
        t_max: simulated time (ms), from t = 0 (initial transient included).
        noise: add the intrinsic noise current (``noise_std`` µA per step, not dt-scaled).
        temperature: kelvin; Q10 factors are 1 at 283 K (11 °C), the published setting.
        dtype: state precision (``torch.float32`` fast; ``torch.float64`` reproduces the
            reference trajectories to ~1e-5 mV and its features exactly).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        order: feature order ``"elife"`` (default; bursts > 50 ms) or ``"pnas"`` (> 40 ms).
        t_burn_in: transient (ms) excluded from the features and energies.
        extras: append num_bursts (3), num_spikes (3), pyloric_like and rhythm class
            (0 triphasic, 1 not bursting, 2 irregular) to the features.
        energy: append the energy dissipated per neuron (nJ, over the analysis window).
        noise_std: noise standard deviation (µA); 0.001 = 1 nA as in the reference.

    Example:
        >>> net = PyloricNetwork(t_max=1500.0, t_burn_in=500.0, dtype=torch.float64)
        >>> theta = net.prior.sample((2,))
        >>> net.simulate(theta, seed=0).shape
        torch.Size([2, 18])
    """

    name = "pyloric"
    version = "1"

    def __init__(
        self,
        dt: float = 0.025,
        t_max: float = 11000.0,
        noise: bool = True,
        temperature: float = 283.0,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        *,
        order: str = "elife",
        t_burn_in: float = 1000.0,
        extras: bool = False,
        energy: bool = False,
        noise_std: float = 0.001,
    ) -> None:
        self.dt = float(check_positive("dt", dt))
        self.t_max = float(check_positive("t_max", t_max))
        if not isinstance(noise, (bool, np.bool_)):
            fail("noise", "a bool", noise, exc=TypeError)
        self.noise = bool(noise)
        self.temperature = float(check_positive("temperature", temperature))
        if dtype not in (torch.float32, torch.float64):
            fail("dtype", "torch.float32 or torch.float64", dtype, exc=TypeError)
        self.dtype = dtype
        self.device = kernel_device(device)
        # under numba's CUDA simulator without a torch GPU, data stays on the CPU
        self._use_cuda = self.device.type == "cuda"
        if self._use_cuda and not torch.cuda.is_available():
            self.device = torch.device("cpu")
        self.order = check_choice("order", order, ("elife", "pnas"))
        self.t_burn_in = float(check_positive("t_burn_in", t_burn_in, strict=False))
        self.extras = bool(extras)
        self.energy = bool(energy)
        self.noise_std = float(check_positive("noise_std", noise_std, strict=False))
        self.num_steps = round(self.t_max / self.dt)
        self._i0 = round(self.t_burn_in / self.dt)
        if self.num_steps - self._i0 < 21 * 2:
            fail(
                "t_burn_in",
                f"at least 42 steps shorter than t_max={self.t_max}",
                t_burn_in,
                "Increase t_max or reduce t_burn_in.",
            )
        idx, names = feature_columns(self.order, self.extras)
        self._columns = list(idx)
        self.feature_names = names + (
            ("energy_ABPD", "energy_LP", "energy_PY") if self.energy else ()
        )
        self.prior = pyloric_prior(self.device)
        self.param_names = PYLORIC_PARAM_NAMES
        self.num_params = 31
        self.num_features = len(self.feature_names)

    def config(self) -> dict:
        """JSON-serialisable constructor settings."""
        return {
            "name": self.name,
            "version": self.version,
            "dt": self.dt,
            "t_max": self.t_max,
            "noise": self.noise,
            "temperature": self.temperature,
            "dtype": str(self.dtype).replace("torch.", ""),
            "order": self.order,
            "t_burn_in": self.t_burn_in,
            "extras": self.extras,
            "energy": self.energy,
            "noise_std": self.noise_std,
        }

    def __repr__(self) -> str:
        return f"PyloricNetwork({self.config()})"

    def _params(self, theta: torch.Tensor) -> torch.Tensor:
        th = theta.to(torch.float64)
        factor = Q10_GBAR ** ((self.temperature - 283.0) / 10.0)
        return torch.cat([th[:, :24] * (AREA_CM2 * factor), torch.exp(th[:, 24:]) * factor], 1)

    def simulate(self, theta, *, seed=None, output: str = "features", noise=None) -> torch.Tensor:
        """Simulate ``num`` networks.

        Args:
            theta: ``(num, 31)`` parameters in prior units (membrane mS/cm² >= 0, synapses
                ln(mS)), any float dtype/device.
            seed: None (fresh entropy), an int (per-simulation seeds ``derive_seeds(seed,
                num)``) or an integer array ``(num,)`` of per-simulation seeds.
            output: ``"features"`` -> ``(num, num_features)`` (NaN where undefined, see
                :mod:`neurodyn.features.pyloric`); ``"trace"`` -> ``(num, num_steps, 3)``
                voltages (mV) of AB/PD, LP, PY from t = 0.
            noise: optional explicit noise currents ``(num, num_steps, 3)`` (µA; row i is
                added during step i, row 0 unused) replacing the generator, e.g. to replay
                ``np.random.RandomState(s).normal(0, 0.001, (3, num_steps)).T``.

        Returns:
            tensor on ``self.device`` with ``self.dtype``.
        """
        check_choice("output", output, ("features", "trace"))
        theta = check_tensor("theta", theta, ndim=2, dtype=torch.float64)
        if theta.shape[1] != 31:
            fail("theta", "shape (num, 31)", theta)
        if not bool(torch.isfinite(theta).all()):
            fail("theta", "finite values", theta, "Remove NaN/inf parameter sets.")
        if bool((theta[:, :24] < 0).any()):
            fail("theta", "non-negative membrane conductances (columns 0-23)", theta)
        num = theta.shape[0]
        seeds = resolve_seeds(seed, num)
        want_trace = output == "trace"
        nz = None
        if noise is not None:
            nz = check_tensor("noise", noise, ndim=3, dtype=torch.float64, device="cpu")
            if tuple(nz.shape) != (num, self.num_steps, 3):
                fail("noise", f"shape ({num}, {self.num_steps}, 3)", nz)
        if num == 0:
            shape = (0, self.num_steps, 3) if want_trace else (0, self.num_features)
            return torch.empty(shape, dtype=self.dtype, device=self.device)
        params = self._params(theta.to(self.device))
        if self._use_cuda:
            feats, energy, trace = self._run_cuda(params, seeds, nz, want_trace)
        else:
            feats, energy, trace = self._run_cpu(params, seeds, nz, want_trace)
        if want_trace:
            return trace.to(self.device, self.dtype)
        out = feats[:, self._columns]
        if self.energy:
            out = torch.cat([out, energy], 1)
        return out.to(self.device, self.dtype)

    def _common(self):
        min_dur = BURST_MIN_MS[self.order]
        cap = burst_capacity((self.num_steps - self._i0) * self.dt, min_dur)
        sig = self.noise_std if self.noise else 0.0
        kin = kinetic_constants(self.dt, self.temperature)
        return min_dur, cap, sig, kin

    def _run_cpu(self, params, seeds, nz, want_trace, want_features=None):
        from neurodyn.simulators._kernels.pyloric_cpu import cpu_kernel

        ft = np.float32 if self.dtype == torch.float32 else np.float64
        min_dur, cap, sig, kin = self._common()
        num = params.shape[0]
        p = np.ascontiguousarray(params.detach().cpu().numpy())
        noise_arr = np.zeros((1, 1, 3)) if nz is None else np.ascontiguousarray(nz.numpy())
        trace = np.zeros((num, self.num_steps, 3) if want_trace else (1, 1, 3), ft)
        feats = np.zeros((num, NUM_FULL))
        energy = np.zeros((num, 3))
        cpu_kernel(
            p,
            kin,
            initial_state().astype(ft),
            seeds,
            sig,
            noise_arr,
            self.num_steps,
            self._i0,
            sg_matrix(),
            self.dt,
            min_dur,
            cap,
            self.energy,
            want_trace,
            (not want_trace) if want_features is None else want_features,
            trace,
            feats,
            energy,
        )
        return torch.from_numpy(feats), torch.from_numpy(energy), torch.from_numpy(trace)

    def _run_cuda(self, params, seeds, nz, want_trace, want_features=None):
        from neurodyn.simulators._kernels.pyloric_cuda import (
            THREADS_PER_BLOCK,
            cuda_kernel,
            launch_config,
        )

        cuda = numba_cuda()
        ft = np.float32 if self.dtype == torch.float32 else np.float64
        tdt = torch.float32 if ft is np.float32 else torch.float64
        min_dur, cap, sig, kin = self._common()
        num = params.shape[0]
        sim = cuda_simulator_enabled()
        dev = torch.device("cpu") if sim else self.device

        def arr(t):
            t = t.contiguous()
            return t.numpy() if sim else cuda.as_cuda_array(t)

        p = params.to(dev).contiguous()
        noise_t = torch.zeros((1, 1, 3), dtype=torch.float64) if nz is None else nz
        noise_t = noise_t.to(dev)
        trace = torch.zeros(
            (num, self.num_steps, 3) if want_trace else (1, 1, 3), dtype=tdt, device=dev
        )
        feats = torch.zeros((num, NUM_FULL), dtype=torch.float64, device=dev)
        energy = torch.zeros((num, 3), dtype=torch.float64, device=dev)
        bs = torch.zeros((num + 1, 3, cap), dtype=torch.float64, device=dev)
        be = torch.zeros_like(bs)
        aux = torch.zeros((num, 3, 4), dtype=torch.float64, device=dev)
        kin_t = torch.from_numpy(kin).to(dev)
        s0 = torch.from_numpy(initial_state().astype(ft)).to(dev)
        sg = torch.from_numpy(sg_matrix()).to(dev)
        seeds_d = seeds if sim else cuda.to_device(seeds)
        blocks, threads = launch_config(num, 32 if sim else THREADS_PER_BLOCK)
        cuda_kernel[blocks, threads](
            arr(p),
            arr(kin_t),
            arr(s0),
            seeds_d,
            sig,
            arr(noise_t),
            self.num_steps,
            self._i0,
            arr(sg),
            self.dt,
            min_dur,
            self.energy,
            want_trace,
            (not want_trace) if want_features is None else want_features,
            arr(trace),
            arr(bs),
            arr(be),
            arr(aux),
            arr(feats),
            arr(energy),
        )
        if not sim:
            cuda.synchronize()
        return feats, energy, trace
