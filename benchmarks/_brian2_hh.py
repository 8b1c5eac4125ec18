"""brian2 (C++ standalone) worker for the Hodgkin-Huxley benchmark in ``simulators.py``.

Runs the model that :class:`neurodyn.simulators.HodgkinHuxley` simulates (Pospischil et al.
2008 kinetics as in the eLife 2020 code: I_Na with m^3 h, I_K with n^4, I_M with p, leak;
E_Na 53 mV, E_K -107 mV, C 1 µF/cm², V0 -70 mV with all gates at steady state; 0.5 nA on a
pi*(70 µm)² soma from 10 to 110 ms of 120 ms, dt 0.025 ms) as one brian2 ``NeuronGroup`` of
``num`` neurons, one neuron per simulation, the 8 eLife parameters per neuron as
``(constant)`` variables. The standalone project is generated and compiled once (``build_s``)
and then re-run with new parameter values through ``device.run(run_args={...})`` (brian2 >=
2.6); only those runs are timed, each including the transfer of the parameters and the
loading of the recorded traces ``(num, 4800)`` back into numpy (``float64``, brian2's
default).

Numerics (and how they differ from neurodyn's):

* noise-free: brian2's ``exponential_euler``. It updates every variable from the state at the
  start of the step, so the gates relax towards their steady state at the OLD ``V``, while
  the eLife code (and neurodyn) evaluates the gates' rates at the NEW ``V``. The equations
  are the same (a numpy port of either scheme agrees with its simulator to <= 1e-6 mV over
  120 ms); the traces differ by the scheme only.
* noisy, ``noise_method="euler"`` (default): ``sigma * xi`` in ``dv/dt`` with brian2's
  ``euler`` (Euler-Maruyama for the additive noise, explicit Euler for the rest). brian2's
  ``xi`` has units of 1/sqrt(time), so each step adds ``sigma * sqrt(dt) * N(0, 1) / C`` to
  ``V``: the same as neurodyn's current ``sigma * xi_k / sqrt(dt)`` held for one step.
* noisy, ``noise_method="exponential_euler"``: neurodyn's discretisation of the noise, a
  current ``I_noise = sigma * randn() / sqrt(dt)`` redrawn every step by ``run_regularly``,
  integrated with ``exponential_euler``.

Requires brian2 (2.9.0 does not import with numpy 2.4, the main environment's), so it runs in
its own virtual environment, which needs neither torch nor neurodyn::

    python -m venv /tmp/b2venv && /tmp/b2venv/bin/pip install brian2 "numpy<2.4"
    NEURODYN_BENCH_THREADS=2 /tmp/b2venv/bin/python benchmarks/_brian2_hh.py --num 1000

``main`` prints one line ``ROWS [...]`` (JSON) with the rows of :func:`bench_brian2` for
``noise`` False and True. A C++ compiler (g++) is needed; the standalone binary uses
``NEURODYN_BENCH_THREADS`` OpenMP threads (default ``os.cpu_count()``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import tempfile
import time
from typing import Any

import numpy as np

DT_MS = 0.025
T_MAX_MS = 120.0
T_ON_MS = 10.0
T_OFF_MS = 110.0
AMPLITUDE_NA = 0.5
SOMA_AREA_CM2 = math.pi * (70.0e-4) ** 2  # neurodyn.simulators.stimuli.ELIFE_SOMA_AREA_CM2
V0_MV = -70.0
E_NA_MV = 53.0
E_K_MV = -107.0
C_M_UF_CM2 = 1.0
SPIKE_THRESHOLD_MV = -10.0

#: The eLife prior bounds in neurodyn's parameter order (g_Na, g_K, g_leak, g_M [mS/cm²],
#: tau_max [ms], -V_T [mV], sigma [µA/cm² ms^0.5], -E_leak [mV]): copied from
#: ``neurodyn.simulators.hodgkin_huxley._LOW`` / ``_HIGH`` (= ``HodgkinHuxley().prior.low`` /
#: ``.high``), hard-coded because this environment has neither torch nor neurodyn.
PRIOR_LOW = (0.5, 1e-4, 1e-4, 1e-4, 50.0, 40.0, 1e-4, 35.0)
PRIOR_HIGH = (80.0, 15.0, 0.6, 0.6, 3000.0, 90.0, 0.15, 100.0)

#: Pospischil et al. 2008 as in the eLife code (``5_hh/model/biophys_cython_comp.pyx``);
#: ``1 / exprel(z) = z / (exp(z) - 1)`` is the reference's ``efun``. ``{noise}`` is replaced by
#: the noise term of the chosen method.
_EQUATIONS = """
dv/dt = (gNa*m**3*h*(ENa - v) + gK*n**4*(EK - v) + gleak*(Eleak - v) + gM*p*(EK - v)
         + I_stim(t){noise}) / Cm : volt
dm/dt = alpha_m*(1 - m) - beta_m*m : 1
dh/dt = alpha_h*(1 - h) - beta_h*h : 1
dn/dt = alpha_n*(1 - n) - beta_n*n : 1
dp/dt = (p_inf - p)/tau_p : 1
w = (v - VT)/mV : 1
alpha_m = 1.28/exprel(-0.25*(w - 13))/ms : Hz
beta_m = 1.4/exprel(0.2*(w - 40))/ms : Hz
alpha_h = 0.128*exp(-(w - 17)/18)/ms : Hz
beta_h = 4/(1 + exp(-(w - 40)/5))/ms : Hz
alpha_n = 0.16/exprel(-0.2*(w - 15))/ms : Hz
beta_n = 0.5*exp(-(w - 10)/40)/ms : Hz
p_inf = 1/(1 + exp(-(v/mV + 35)/10)) : 1
tau_p = tau_max/(3.3*exp((v/mV + 35)/20) + exp(-(v/mV + 35)/20)) : second
gNa : siemens/metre**2 (constant)
gK : siemens/metre**2 (constant)
gleak : siemens/metre**2 (constant)
gM : siemens/metre**2 (constant)
tau_max : second (constant)
VT : volt (constant)
Eleak : volt (constant)
"""
_NOISE_TERMS = {
    "euler": (" + sigma*xi", "sigma : amp/metre**2*second**0.5 (constant)\n"),
    "exponential_euler": (
        " + I_noise",
        "sigma : amp/metre**2*second**0.5 (constant)\nI_noise : amp/metre**2\n",
    ),
}


def bench_threads() -> int:
    """OpenMP threads of the standalone binary: ``NEURODYN_BENCH_THREADS`` or all cores."""
    return int(os.environ.get("NEURODYN_BENCH_THREADS", "0") or 0) or (os.cpu_count() or 1)


def prior_theta(num: int, noise: bool, seed: int = 0) -> np.ndarray:
    """``(num, 8)`` parameters uniform on the eLife prior (numpy ``default_rng(seed)``);
    ``sigma = 0`` when ``noise`` is False."""
    low, high = np.asarray(PRIOR_LOW), np.asarray(PRIOR_HIGH)
    th = low + np.random.default_rng(seed).random((num, 8)) * (high - low)
    if not noise:
        th[:, 6] = 0.0
    return th


def step_current_density(dt_ms: float = DT_MS, t_max_ms: float = T_MAX_MS) -> np.ndarray:
    """The step protocol in µA/cm² on ``round(t_max/dt) + 1`` samples, nonzero for
    ``round(t_on/dt) <= i < round(t_off/dt)`` (``neurodyn.simulators.stimuli.step_current``)."""
    cur = np.zeros(round(t_max_ms / dt_ms) + 1)
    cur[round(T_ON_MS / dt_ms) : round(T_OFF_MS / dt_ms)] = AMPLITUDE_NA * 1e-3 / SOMA_AREA_CM2
    return cur


class HHStandalone:
    """A compiled brian2 standalone project of ``num`` HH neurons that can be re-run with new
    parameters (:meth:`run`). Only one can exist at a time (brian2's device is global);
    :meth:`close` deletes its directory.

    Args:
        num: simulations (neurons) per run.
        noise: include the noise term (``sigma`` per neuron); False integrates the
            noise-free model with ``exponential_euler``.
        output: ``"trace"`` (StateMonitor of ``v`` at every step, ``(num, 4800)`` mV, the
            samples at t = 0 .. 119.975 ms) or ``"spikes"`` (SpikeMonitor, upward crossings of
            -10 mV, returns ``(num,)`` counts).
        noise_method: ``"euler"`` or ``"exponential_euler"`` (see the module docstring).
        threads: OpenMP threads (None: :func:`bench_threads`).
        seed: brian2's random seed (noise); None draws a fresh one per run.
    """

    def __init__(
        self,
        num: int,
        noise: bool,
        *,
        output: str = "trace",
        noise_method: str = "euler",
        threads: int | None = None,
        seed: int | None = 0,
        dt_ms: float = DT_MS,
        t_max_ms: float = T_MAX_MS,
    ) -> None:
        import brian2 as b2
        from brian2 import cm, ms, msiemens, mV, uA, uF

        if output not in ("trace", "spikes"):
            raise ValueError(f"output must be 'trace' or 'spikes', got {output!r}")
        if noise_method not in _NOISE_TERMS:
            raise ValueError(f"noise_method must be one of {sorted(_NOISE_TERMS)}")
        self.b2, self.num, self.noise, self.output = b2, num, noise, output
        self.noise_method = noise_method if noise else "exponential_euler"
        self.threads = bench_threads() if threads is None else threads
        self.num_steps = round(t_max_ms / dt_ms)
        self.directory = tempfile.mkdtemp(prefix="neurodyn_brian2_")
        self._units = {
            "g": msiemens / cm**2,
            "ms": ms,
            "mV": mV,
            "sigma": uA / cm**2 * ms**0.5,
        }
        t0 = time.perf_counter()
        b2.BrianLogger.log_level_error()  # OpenMP "not yet well tested" warning
        b2.device.reinit()
        b2.set_device("cpp_standalone", build_on_run=False, directory=self.directory)
        b2.prefs.devices.cpp_standalone.openmp_threads = self.threads
        b2.defaultclock.dt = dt_ms * ms
        noise_term, noise_vars = _NOISE_TERMS[noise_method] if noise else ("", "")
        eqs = _EQUATIONS.format(noise=noise_term) + noise_vars
        i_stim = b2.TimedArray(step_current_density(dt_ms, t_max_ms) * uA / cm**2, dt=dt_ms * ms)
        namespace = {
            "ENa": E_NA_MV * mV,
            "EK": E_K_MV * mV,
            "Cm": C_M_UF_CM2 * uF / cm**2,
            "I_stim": i_stim,
        }
        kw: dict[str, Any] = {}
        if output == "spikes":
            thr = f"v > {SPIKE_THRESHOLD_MV}*mV"
            kw = {"threshold": thr, "refractory": thr}
        group = b2.NeuronGroup(num, eqs, method=self.noise_method, namespace=namespace, **kw)
        # parameters from the command line come first, then the initial state that uses them
        b2.device.apply_run_args()
        group.v = V0_MV * mV
        group.m = "alpha_m/(alpha_m + beta_m)"
        group.h = "alpha_h/(alpha_h + beta_h)"
        group.n = "alpha_n/(alpha_n + beta_n)"
        group.p = "p_inf"
        objs: list[Any] = [group]
        if noise and noise_method == "exponential_euler":
            objs.append(group.run_regularly("I_noise = sigma*randn()/sqrt(dt)", when="start"))
        if output == "trace":
            self.monitor = b2.StateMonitor(group, "v", record=True)
        else:
            self.monitor = b2.SpikeMonitor(group, record=True)
        objs.append(self.monitor)
        self.group = group
        if seed is not None:
            b2.seed(seed)
        net = b2.Network(*objs)
        net.run(self.num_steps * dt_ms * ms)
        b2.device.build(directory=self.directory, run=False, with_output=False)
        self.build_s = time.perf_counter() - t0

    def run(self, theta: np.ndarray) -> np.ndarray:
        """Simulate ``theta`` ``(num, 8)`` (neurodyn's order and units): traces ``(num,
        num_steps)`` in mV or spike counts ``(num,)``."""
        th = np.asarray(theta, dtype=np.float64)
        if th.shape != (self.num, 8):
            raise ValueError(f"theta must have shape ({self.num}, 8), got {th.shape}")
        g, u = self.group, self._units
        args: dict[Any, Any] = {
            g.gNa: th[:, 0] * u["g"],
            g.gK: th[:, 1] * u["g"],
            g.gleak: th[:, 2] * u["g"],
            g.gM: th[:, 3] * u["g"],
            g.tau_max: th[:, 4] * u["ms"],
            g.VT: -th[:, 5] * u["mV"],
            g.Eleak: -th[:, 7] * u["mV"],
        }
        if self.noise:
            args[g.sigma] = th[:, 6] * u["sigma"]
        self.b2.device.run(run_args=args, with_output=False)
        if self.output == "spikes":
            return np.asarray(self.monitor.count[:])
        return np.asarray(self.monitor.v_) * 1e3  # volt -> mV, (num, num_steps)

    def close(self) -> None:
        """Delete the project directory (code, binary, results)."""
        shutil.rmtree(self.directory, ignore_errors=True)


def _child_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def bench_brian2(
    num: int,
    noise: bool,
    repeats: int = 3,
    *,
    output: str = "trace",
    noise_method: str = "euler",
) -> dict | None:
    """Median of ``repeats`` runs of the compiled standalone project (parameters from the
    eLife prior, seed 0; ``sigma = 0`` and no noise term when ``noise`` is False).

    A run is ``device.run(run_args=...)`` (writes the parameter arrays, starts the binary,
    which integrates and writes its results) plus reading the output back into numpy. CPU
    time is this process's plus the finished children's (the binary is a subprocess).
    Returns None (and prints why) when brian2 cannot be imported.
    """
    try:
        import brian2
    except ImportError as err:  # also numpy 2.4 with brian2 2.9.0
        print(f"brian2 not available ({err}); see benchmarks/_brian2_hh.py for its venv")
        return None
    theta = prior_theta(num, noise)
    sim = HHStandalone(num, noise, output=output, noise_method=noise_method)
    try:
        walls, cpus, binary = [], [], []
        for _ in range(repeats):
            t0, c0, k0 = time.perf_counter(), time.process_time(), _child_cpu_s()
            out = sim.run(theta)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0 + _child_cpu_s() - k0)
            binary.append(float(brian2.device.timers["run_binary"]))
            del out
    finally:
        sim.close()
    wall, cpu = float(np.median(walls)), float(np.median(cpus))
    return {
        "tool": f"brian2 {brian2.__version__} (cpp_standalone)",
        "batch": num,
        "output": output,
        "noise": noise,
        "method": sim.noise_method,
        "dtype": "float64",
        "threads": sim.threads,
        "sims_per_s": num / wall,
        "sims_per_cpu_s": num / cpu,
        "wall_s_runs": walls,
        "cpu_s_runs": cpus,
        "binary_s_runs": binary,
        "build_s": sim.build_s,
    }


def main(argv: list[str] | None = None) -> None:
    """``--num N [--repeats R] [--output trace|spikes] [--noise-method M]``: prints
    ``ROWS [...]`` (JSON) for noise False and True."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, nargs="+", default=[1000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--output", choices=("trace", "spikes"), default="trace")
    ap.add_argument("--noise-method", choices=sorted(_NOISE_TERMS), default="euler")
    args = ap.parse_args(argv)
    rows = []
    for num in args.num:
        for noise in (False, True):
            row = bench_brian2(
                num, noise, args.repeats, output=args.output, noise_method=args.noise_method
            )
            if row is None:
                break
            rows.append(row)
    print("ROWS " + json.dumps(rows), flush=True)


if __name__ == "__main__":
    main()
