"""Simulation campaigns: chunks of a campaign run on ``dask.distributed``, written to zarr.

A campaign of ``num`` simulations is cut into chunks of ``chunk`` rows. Chunk ``k`` draws
its parameters from the proposal with a torch seed derived from ``(seed, k)`` and simulates
them with the per-simulation seeds ``derive_seeds(seed, n_k, start=k * chunk)``. Every
simulation therefore depends only on ``(seed, chunk, k)``: the store is identical whatever
the number of workers, the order the chunks ran in, or how often the campaign was killed and
resumed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodyn._runtime import progress
from neurodyn._validation import check_positive, fail
from neurodyn.compute.cluster import check_scheduler, connect
from neurodyn.compute.store import ChunkRange, SimulationStore

__all__ = ["CampaignResult", "draw_theta", "simulate"]

_THETA_STREAM = 0x7468657461  # "theta": separates θ draws from simulation noise seeds

_SIM_ATTRS = (
    "name",
    "version",
    "param_names",
    "feature_names",
    "num_params",
    "num_features",
    "device",
    "config",
    "simulate",
)


@dataclass(frozen=True)
class CampaignResult:
    """What a call of :func:`simulate` did and what the store now holds.

    Attributes:
        store: path of the store; ``group``: the group inside it (``None``: root).
        num: simulations requested; ``num_valid``/``num_invalid``: finished ones by validity.
        chunks_run: chunks simulated by this call; ``chunks_skipped``: already done before.
        chunks_corrupt: done chunks found corrupt (bad checksum/unreadable) and re-run.
        invalid_by_feature: per feature, NaN count among the simulations run by this call.
        seconds: wall time of this call (s); ``sims_per_second``: throughput of this call.
    """

    store: str
    group: str | None
    num: int
    num_valid: int
    num_invalid: int
    chunks_run: int
    chunks_skipped: int
    chunks_corrupt: tuple[int, ...]
    invalid_by_feature: dict[str, int]
    seconds: float
    sims_run: int

    @property
    def sims_per_second(self) -> float:
        """Simulations per second of wall time in this call."""
        return self.sims_run / self.seconds if self.seconds > 0 else float("nan")

    def __str__(self) -> str:
        frac = self.num_invalid / self.num if self.num else 0.0
        lines = [
            f"store {self.store}" + (f" [{self.group}]" if self.group else ""),
            f"  {self.num} simulations: {self.num_valid} valid, {self.num_invalid} invalid "
            f"({100 * frac:.1f} %)",
            f"  chunks: {self.chunks_run} simulated now, {self.chunks_skipped} already done"
            + (f", {len(self.chunks_corrupt)} corrupt re-run" if self.chunks_corrupt else ""),
            f"  {self.sims_run} simulations in {self.seconds:.1f} s "
            f"({self.sims_per_second:.3g} sims/s)",
        ]
        worst = sorted(self.invalid_by_feature.items(), key=lambda kv: -kv[1])[:5]
        worst = [(k, v) for k, v in worst if v > 0]
        if worst:
            lines.append("  most often invalid: " + ", ".join(f"{k} ({v})" for k, v in worst))
        return "\n".join(lines)


def _derive_seeds():
    """``neurodyn.simulators.derive_seeds`` (the counter-based per-simulation seeds)."""
    try:
        from neurodyn.simulators import derive_seeds
    except ImportError:  # not yet re-exported by the simulators package
        from neurodyn.simulators._kernels.rng import derive_seeds
    return derive_seeds


def _theta_seed(seed: int, k: int) -> int:
    ss = np.random.SeedSequence(seed, spawn_key=(_THETA_STREAM, k))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def sample_seeded(proposal: Any, torch_seed: int, n: int) -> torch.Tensor:
    """``proposal.sample((n,))`` under ``torch.manual_seed(torch_seed)``, global RNG restored."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(torch_seed)
        theta = proposal.sample((n,))
    return torch.as_tensor(theta).detach()


def draw_theta(proposal: Any, seed: int, k: int, n: int) -> np.ndarray:
    """Parameters of chunk ``k`` (``(n, num_params)`` float32), a function of ``(seed, k)`` only.

    Example:
        >>> from neurodyn.priors import BoxUniform
        >>> prior = BoxUniform([0.0], [1.0])
        >>> bool((draw_theta(prior, 3, 5, 4) == draw_theta(prior, 3, 5, 4)).all())
        True
    """
    theta = sample_seeded(proposal, _theta_seed(seed, k), n)
    return theta.to("cpu", torch.float32).numpy().reshape(n, -1)


def describe_proposal(proposal: Any) -> str:
    """A short description of the proposal (class and, for box priors, the bounds)."""
    text = type(proposal).__name__
    low, high = getattr(proposal, "low", None), getattr(proposal, "high", None)
    if isinstance(low, torch.Tensor) and isinstance(high, torch.Tensor):
        text += f"(low={low.cpu().tolist()}, high={high.cpu().tolist()})"
    return text


def _check_simulator(simulator: Any) -> None:
    missing = [a for a in _SIM_ATTRS if not hasattr(simulator, a)]
    if missing:
        fail(
            "simulator",
            "an object following the neurodyn Simulator protocol",
            type(simulator).__name__,
            f"It lacks {missing}.",
            exc=TypeError,
        )


def _simulate_chunk(
    simulator: Any, path: str, group: str | None, k: int, theta: np.ndarray, seeds: np.ndarray
) -> tuple[int, np.ndarray]:
    """Worker task: simulate chunk ``k`` and write it; returns ``(k, nan_count_per_feature)``."""
    torch.set_num_threads(1)
    th = torch.from_numpy(theta)
    x = simulator.simulate(th, seed=seeds, output="features")
    x = torch.as_tensor(x).detach().to("cpu", torch.float32).numpy()
    if x.shape != (theta.shape[0], simulator.num_features):
        raise ValueError(
            f"simulator returned features of shape {x.shape}, expected "
            f"{(theta.shape[0], simulator.num_features)}"
        )
    valid = np.isfinite(x).all(axis=1)
    store = SimulationStore.open(path, group, mode="r+")
    store.write_chunk(k, theta, x, seeds, valid)
    return k, (~np.isfinite(x)).sum(axis=0)


def _check_inputs(num: Any, chunk: Any, seed: Any, store: Any) -> tuple[int, int, int, str]:
    num = check_positive("num", num, integer=True)
    chunk = check_positive("chunk", chunk, integer=True)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        fail(
            "seed",
            "a non-negative integer",
            seed,
            exc=TypeError
            if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)
            else ValueError,
        )
    if not isinstance(store, (str, Path)):
        fail("store", "a path (str or pathlib.Path)", type(store).__name__, exc=TypeError)
    if Path(store).exists() and not Path(store).is_dir():
        fail("store", "a zarr directory store", str(store), "The path is a file.")
    return num, chunk, int(seed), str(store)


def simulate(
    simulator: Any,
    prior_or_proposal: Any,
    num: int,
    store: str | Path,
    *,
    scheduler: Any = None,
    chunk: int = 10_000,
    seed: int = 0,
    workers: int | None = None,
    group: str | None = None,
    verify: bool = True,
    timeout: float = 20.0,
    show_progress: bool | None = None,
) -> CampaignResult:
    """Run (or resume) a simulation campaign into a zarr store.

    Args:
        simulator: any object of the Simulator protocol (``HodgkinHuxley``, ``PyloricNetwork``).
            Chunks are simulated on its device (CUDA simulators get one worker per GPU).
        prior_or_proposal: distribution with ``sample((n,))`` returning ``(n, num_params)``.
        num: number of simulations.
        store: path of the zarr store (created if missing; resumed if it holds this campaign).
        scheduler: ``None`` (local worker processes), a scheduler address or scheduler file,
            or a ``distributed.Client`` (see :func:`neurodyn.compute.cluster.connect`).
        chunk: simulations per task and per zarr chunk.
        seed: campaign seed; θ of chunk k is a function of ``(seed, k)``, simulation i uses
            ``derive_seeds(seed, ., start=i)``.
        workers: local worker processes (``scheduler=None`` only).
        group: zarr group inside the store (e.g. ``"round_2"``), ``None`` for the root.
        verify: re-read the chunks already done and re-run corrupt ones (checksums).
        timeout: seconds to reach a remote scheduler before ``ConnectionError``.
        show_progress: progress bar (``None``: unless ``NEURODYN_PROGRESS=0``).

    Returns:
        A :class:`CampaignResult` (``print`` it for the summary of invalid simulations).

    Raises:
        ValueError: bad ``num``/``chunk``/``seed``, or the store holds another campaign (other
            simulator, version, config, feature order, size, chunking, seed or proposal).
        ConnectionError: the scheduler could not be reached within ``timeout``.

    Example:
        >>> import tempfile, torch
        >>> from neurodyn.priors import BoxUniform
        >>> class Square:  # the smallest Simulator: x = theta ** 2
        ...     name, version, device, dtype = "square", "1", "cpu", torch.float32
        ...     param_names, feature_names = ("a",), ("a2",)
        ...     num_params = num_features = 1
        ...     prior = BoxUniform([0.0], [1.0])
        ...     def config(self): return {}
        ...     def simulate(self, theta, *, seed=None, output="features"): return theta**2
        >>> from distributed import Client
        >>> with Client(processes=False, n_workers=1, dashboard_address=":0") as client:
        ...     res = simulate(Square(), Square.prior, 10, tempfile.mkdtemp() + "/s.zarr",
        ...                    scheduler=client, chunk=4, seed=1, show_progress=False)
        >>> res.num_valid, res.chunks_run
        (10, 3)
    """
    derive_seeds = _derive_seeds()

    _check_simulator(simulator)
    if not callable(getattr(prior_or_proposal, "sample", None)):
        fail(
            "prior_or_proposal",
            "a distribution with sample((n,))",
            type(prior_or_proposal).__name__,
            exc=TypeError,
        )
    num, chunk, seed, path = _check_inputs(num, chunk, seed, store)
    if workers is not None:
        workers = check_positive("workers", workers, integer=True)
    if scheduler is not None and not _is_client(scheduler):
        check_scheduler(scheduler)
    t0 = time.perf_counter()
    first = draw_theta(prior_or_proposal, seed, 0, min(chunk, num))
    if first.shape[1] != simulator.num_params:
        fail(
            "prior_or_proposal",
            f"samples with {simulator.num_params} parameters",
            first.shape[1],
            "Use the simulator's prior or a posterior over its parameters.",
        )
    provenance = {
        "simulator": simulator.name,
        "simulator_version": str(simulator.version),
        "config": simulator.config(),
        "param_names": list(simulator.param_names),
        "feature_names": list(simulator.feature_names),
        "num": num,
        "chunk": chunk,
        "seed": seed,
        "proposal": describe_proposal(prior_or_proposal),
        "theta_fingerprint": hashlib.blake2b(first.tobytes(), digest_size=8).hexdigest(),
    }
    corrupt: list[int] = []
    st: SimulationStore | None = None
    if SimulationStore.exists(path, group):
        st = SimulationStore.open(path, group, mode="r+")
        st.check_compatible(provenance)
        if verify:
            corrupt = st.verify()
        done = st.done()
        todo = [c for c in st.chunks() if not done[c.index]]
    else:
        todo = [
            ChunkRange(k, k * chunk, min(num, (k + 1) * chunk))
            for k in range(math.ceil(num / chunk))
        ]
    nan_counts = np.zeros(simulator.num_features, dtype=np.int64)
    if todo:
        is_cuda = torch.device(str(simulator.device)).type == "cuda"
        # connect first: an unreachable scheduler leaves no new store behind
        client, close = connect(scheduler, workers=workers, gpu=is_cuda, timeout=timeout)
        try:
            if st is None:
                st = _create(path, group, provenance, simulator, prior_or_proposal)
            nan_counts = _run(
                client,
                simulator,
                prior_or_proposal,
                path,
                group,
                todo,
                seed,
                derive_seeds,
                show_progress,
                first,
            )
        finally:
            close()
    if st is None:  # unreachable: todo is never empty for a new store
        st = SimulationStore.open(path, group)
    summary = st.summary()
    return CampaignResult(
        store=path,
        group=group,
        num=num,
        num_valid=summary["num_valid"],
        num_invalid=summary["num_invalid"],
        chunks_run=len(todo),
        chunks_skipped=st.num_chunks - len(todo),
        chunks_corrupt=tuple(corrupt),
        invalid_by_feature=dict(zip(simulator.feature_names, nan_counts.tolist(), strict=True)),
        seconds=time.perf_counter() - t0,
        sims_run=sum(c.size for c in todo),
    )


def _is_client(obj: Any) -> bool:
    from distributed import Client

    return isinstance(obj, Client)


def _create(path, group, provenance, simulator, proposal) -> SimulationStore:
    import neurodyn

    prov = dict(provenance)
    prov.update(
        {
            "units": list(getattr(getattr(simulator, "prior", None), "units", ()) or ()),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "neurodyn_version": neurodyn.__version__,
            "torch_version": torch.__version__,
            "prior_low": _bounds(proposal, "low"),
            "prior_high": _bounds(proposal, "high"),
        }
    )
    return SimulationStore.create(path, prov, group)


def _bounds(dist: Any, which: str) -> list[float] | None:
    value = getattr(dist, which, None)
    return value.cpu().tolist() if isinstance(value, torch.Tensor) else None


def _run(
    client, simulator, proposal, path, group, todo, seed, derive_seeds, show_progress, first_theta
) -> np.ndarray:
    from distributed import as_completed

    # the simulator travels inside every task (a few kB): a scattered copy would be lost
    # with the worker holding it, cancelling every later chunk ("lost dependencies")
    nthreads = sum(client.nthreads().values()) or 1
    window = max(2, 2 * nthreads)
    pending = iter(todo)

    def submit(c):
        # chunk 0 was drawn already (for the fingerprint): the same numbers
        theta = first_theta if c.index == 0 else draw_theta(proposal, seed, c.index, c.size)
        seeds = np.asarray(derive_seeds(seed, c.size, start=c.start), dtype=np.uint64)
        # pure=False: a fresh key per submission, never a stale result of an earlier run.
        # θ of a chunk travels with its task (MBs for large chunks; dask would warn).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sending large graph")
            return client.submit(
                _simulate_chunk, simulator, path, group, c.index, theta, seeds, pure=False
            )

    first = [submit(c) for c in itertools.islice(pending, window)]
    ac = as_completed(first)
    nan_counts = np.zeros(simulator.num_features, dtype=np.int64)
    n_chunks = len(todo)
    disable = None if show_progress is None else not show_progress
    try:
        for fut in progress(
            ac, total=n_chunks, description=f"simulate {simulator.name}", disable=disable
        ):
            try:
                _, counts = fut.result()
            except Exception as err:
                raise RuntimeError(
                    f"simulate: a chunk failed on a worker ({type(err).__name__}: {err}). "
                    "The chunks already done stay in the store; fix the cause and re-run the "
                    "same command to resume."
                ) from err
            nan_counts += np.asarray(counts, dtype=np.int64)
            nxt = next(pending, None)
            if nxt is not None:
                ac.add(submit(nxt))
    except BaseException:
        for f in list(ac.futures):
            f.cancel()
        raise
    return nan_counts
