"""Training sources beyond memory: streamed from a zarr store, or simulated on the fly.

Both implement :class:`neurodyn.inference.data.BatchSource`:

* :class:`ZarrSource` streams one epoch at a time from a simulation store: chunks in a random
  order, rows mixed through a bounded shuffle buffer, valid simulations only, a fixed
  validation part chosen per simulation by a hash of its index. Memory use is bounded by
  the shuffle buffer and the validation cache, not by the store size.
* :class:`OnlineSource` simulates fresh parameters and data for every epoch on the
  simulator's device (a GPU simulator is faster than the training step it feeds).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from neurodyn._validation import check_positive, check_probability, fail
from neurodyn.compute.campaign import _check_simulator, _derive_seeds, sample_seeded
from neurodyn.compute.store import SimulationStore

__all__ = ["OnlineSource", "ZarrSource", "validation_mask"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z += _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def validation_mask(start: int, stop: int, fraction: float, key: int) -> np.ndarray:
    """Whether rows ``start..stop-1`` belong to the validation part (hash of index and key).

    Example:
        >>> m = validation_mask(0, 100_000, 0.1, key=0)
        >>> bool(0.09 < m.mean() < 0.11)
        True
    """
    idx = np.arange(start, stop, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = _splitmix64(idx ^ _splitmix64(np.asarray([key], dtype=np.uint64))[0])
    u = (h >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)
    return u < fraction


class ZarrSource:
    """A :class:`~neurodyn.inference.data.BatchSource` streaming from a simulation store.

    Args:
        store: path of a store written by :func:`neurodyn.compute.simulate`.
        group: group(s) inside the store (e.g. the rounds of a sequential campaign);
            ``None`` for the root campaign.
        validation_fraction: fraction of simulations held out (chosen per simulation by a
            hash of ``(split_seed, group, index)``, so the split does not depend on chunking).
        shuffle_buffer: rows kept in the shuffle buffer (bounds the memory of an epoch).
        moment_samples: training rows read (from random chunks) to estimate the moments.
        split_seed: key of the validation hash.
        allow_incomplete: train on the finished chunks of an unfinished campaign.
        val_cache_bytes: keep the validation part in memory when it is at most this big;
            otherwise it is re-read from the store at each call of :meth:`val_batches`.

    Example:
        >>> import tempfile, numpy as np
        >>> from neurodyn.compute.store import SimulationStore
        >>> prov = {"simulator": "toy", "simulator_version": "1", "config": {},
        ...         "param_names": ["a"], "feature_names": ["f"], "num": 100, "chunk": 50,
        ...         "seed": 0, "proposal": "p", "theta_fingerprint": "0"}
        >>> path = tempfile.mkdtemp() + "/s.zarr"
        >>> st = SimulationStore.create(path, prov)
        >>> for k in range(2):
        ...     t = np.arange(50.0)[:, None] + 50 * k
        ...     st.write_chunk(k, t, t, np.arange(50), None)
        >>> src = ZarrSource(path, validation_fraction=0.2)
        >>> src.num_train + src.num_val
        100
        >>> g = torch.Generator().manual_seed(0)
        >>> sum(len(t) for t, _ in src.train_batches(16, g, "cpu")) == src.num_train
        True
    """

    def __init__(
        self,
        store: str | Path,
        group: str | Sequence[str] | None = None,
        *,
        validation_fraction: float = 0.1,
        shuffle_buffer: int = 100_000,
        moment_samples: int = 100_000,
        split_seed: int = 0,
        allow_incomplete: bool = False,
        val_cache_bytes: int = 512 * 2**20,
    ) -> None:
        if validation_fraction != 0:
            check_probability("validation_fraction", validation_fraction)
        self.shuffle_buffer = check_positive("shuffle_buffer", shuffle_buffer, integer=True)
        self.moment_samples = check_positive("moment_samples", moment_samples, integer=True)
        self.val_cache_bytes = check_positive("val_cache_bytes", val_cache_bytes, integer=True)
        groups = [group] if group is None or isinstance(group, str) else list(group)
        if not groups:
            fail("group", "a group name, a list of group names or None", group)
        self.stores = [SimulationStore.open(store, g) for g in groups]
        first = self.stores[0].provenance
        for g, st in zip(groups[1:], self.stores[1:], strict=True):
            for key in ("param_names", "feature_names"):
                if st.provenance[key] != first[key]:
                    fail(
                        "group", f"groups with the same {key}", f"{g!r} differs from {groups[0]!r}"
                    )
        self.groups = groups
        self.provenance = first
        self.param_names = tuple(first["param_names"])
        self.feature_names = tuple(first["feature_names"])
        self.num_params = len(self.param_names)
        self.num_features = len(self.feature_names)
        self.x_shape = (self.num_features,)
        self.validation_fraction = float(validation_fraction)
        # one entry per usable chunk: (store index, chunk index, start, stop)
        self._chunks: list[tuple[int, int, int, int]] = []
        n_train = n_val = n_invalid = 0
        for s, (g, st) in enumerate(zip(groups, self.stores, strict=True)):
            done = st.done()
            if not done.all() and not allow_incomplete:
                fail(
                    "store",
                    "a finished campaign",
                    f"{int(done.sum())} of {st.num_chunks} chunks done in {store}"
                    + (f" [{g}]" if g else ""),
                    "Resume it by re-running the same simulate command, or pass "
                    "allow_incomplete=True to train on the finished chunks.",
                )
            valid = np.asarray(st.root["status/valid"][:])
            for c in st.chunks():
                if not done[c.index]:
                    continue
                v = valid[c.start : c.stop]
                m = self._val_mask(s, c.start, c.stop)
                n_val += int((v & m).sum())
                n_train += int((v & ~m).sum())
                n_invalid += int((~v).sum())
                self._chunks.append((s, c.index, c.start, c.stop))
        if n_train == 0:
            fail(
                "store",
                "at least one valid training simulation",
                f"{n_train} in {store}",
                "Simulate more, or check the simulator's invalid fraction.",
            )
        self.num_train: int | None = n_train
        self.num_val: int | None = n_val
        self.num_invalid = n_invalid
        self._split_seed = split_seed
        self._val: tuple[np.ndarray, np.ndarray] | None = None
        self._moments: tuple[Tensor, ...] | None = None

    def _val_mask(self, s: int, start: int, stop: int) -> np.ndarray:
        if self.validation_fraction == 0:
            return np.zeros(stop - start, dtype=bool)
        key = (getattr(self, "_split_seed", 0) * 1_000_003 + s) & (2**63 - 1)
        return validation_mask(start, stop, self.validation_fraction, key)

    def _read(self, entry: tuple[int, int, int, int], part: str) -> tuple[np.ndarray, np.ndarray]:
        s, _, start, stop = entry
        st = self.stores[s]
        theta = np.asarray(st.root["theta"][start:stop])
        x = np.asarray(st.root["x"][start:stop])
        valid = np.asarray(st.root["status/valid"][start:stop])
        m = self._val_mask(s, start, stop)
        keep = valid & (m if part == "val" else ~m)
        return theta[keep], x[keep]

    def _stream(self, order: Sequence[int], part: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Chunks in ``order`` (reading the next one in a thread while this one is used)."""
        if not order:
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            nxt = pool.submit(self._read, self._chunks[order[0]], part)
            for i in range(len(order)):
                cur = nxt.result()
                if i + 1 < len(order):
                    nxt = pool.submit(self._read, self._chunks[order[i + 1]], part)
                yield cur

    @staticmethod
    def _tensors(theta: np.ndarray, x: np.ndarray, device) -> tuple[Tensor, Tensor]:
        dtype = torch.get_default_dtype()
        return (
            torch.from_numpy(theta).to(device=device, dtype=dtype),
            torch.from_numpy(x).to(device=device, dtype=dtype),
        )

    def train_batches(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch: every valid training row once, in batches of ``batch_size``.

        Chunk order and the shuffle buffer draw from ``generator`` (a CPU generator).
        """
        batch_size = check_positive("batch_size", batch_size, integer=True)
        order = torch.randperm(len(self._chunks), generator=generator).tolist()
        # one preallocated pool (no growing copies): peak memory ~ pool + half a pool
        max_rows = max(st.chunk for st in self.stores)
        cap = self.shuffle_buffer + batch_size + max_rows
        pool_t = np.empty((cap, self.num_params), dtype=np.float32)
        pool_x = np.empty((cap, self.num_features), dtype=np.float32)
        keep = max(self.shuffle_buffer // 2, batch_size)
        n = 0
        for theta, x in self._stream(order, "train"):
            m = len(theta)
            pool_t[n : n + m] = theta
            pool_x[n : n + m] = x
            n += m
            del theta, x
            if n < self.shuffle_buffer + batch_size:
                continue
            perm = torch.randperm(n, generator=generator).numpy()
            n_out = (n - keep) // batch_size * batch_size
            for i in range(0, n_out, batch_size):
                idx = perm[i : i + batch_size]
                yield self._tensors(pool_t[idx], pool_x[idx], device)
            rest = perm[n_out:]
            pool_t[: len(rest)] = pool_t[rest]
            pool_x[: len(rest)] = pool_x[rest]
            n = len(rest)
        perm = torch.randperm(n, generator=generator).numpy()
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            yield self._tensors(pool_t[idx], pool_x[idx], device)

    def val_batches(
        self, batch_size: int, device: torch.device | str
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """The validation rows in store order, ``batch_size`` at a time."""
        batch_size = check_positive("batch_size", batch_size, integer=True)
        row_bytes = 4 * (self.num_params + self.num_features)
        if self._val is None and (self.num_val or 0) * row_bytes <= self.val_cache_bytes:
            parts = list(self._stream(list(range(len(self._chunks))), "val"))
            self._val = (
                np.concatenate([p[0] for p in parts] or [np.empty((0, self.num_params))]),
                np.concatenate([p[1] for p in parts] or [np.empty((0, self.num_features))]),
            )
        if self._val is not None:
            theta, x = self._val
            for i in range(0, len(theta), batch_size):
                yield self._tensors(theta[i : i + batch_size], x[i : i + batch_size], device)
            return
        carry_t = np.empty((0, self.num_params), dtype=np.float32)
        carry_x = np.empty((0, self.num_features), dtype=np.float32)
        for theta, x in self._stream(list(range(len(self._chunks))), "val"):
            carry_t, carry_x = np.concatenate([carry_t, theta]), np.concatenate([carry_x, x])
            n = len(carry_t) // batch_size * batch_size
            for i in range(0, n, batch_size):
                yield self._tensors(
                    carry_t[i : i + batch_size], carry_x[i : i + batch_size], device
                )
            carry_t, carry_x = carry_t[n:], carry_x[n:]
        if len(carry_t):
            yield self._tensors(carry_t, carry_x, device)

    def moments(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Mean and std (``correction=0``) of the training rows of random chunks (CPU).

        Reads chunks (in a fixed random order) until ``moment_samples`` rows are gathered;
        exact when ``moment_samples >= num_train``. Accumulated in float64.
        """
        if self._moments is None:
            rng = np.random.default_rng(12345)
            order = rng.permutation(len(self._chunks)).tolist()
            n = 0
            s_t = np.zeros(self.num_params)
            q_t = np.zeros(self.num_params)
            s_x = np.zeros(self.num_features)
            q_x = np.zeros(self.num_features)
            for k in order:
                theta, x = self._read(self._chunks[k], "train")
                for i in range(0, len(theta), 8192):  # float64 in small blocks: low memory
                    t64 = theta[i : i + 8192].astype(np.float64)
                    x64 = x[i : i + 8192].astype(np.float64)
                    s_t += t64.sum(0)
                    q_t += (t64**2).sum(0)
                    s_x += x64.sum(0)
                    q_x += (x64**2).sum(0)
                n += len(theta)
                if n >= self.moment_samples:
                    break
            # Two moments via sums are fine in float64 for z-scoring statistics.
            mt, mx = s_t / n, s_x / n
            vt = np.maximum(q_t / n - mt**2, 0.0)
            vx = np.maximum(q_x / n - mx**2, 0.0)
            dtype = torch.get_default_dtype()
            self._moments = tuple(
                torch.as_tensor(a, dtype=dtype) for a in (mt, np.sqrt(vt), mx, np.sqrt(vx))
            )
        return self._moments  # type: ignore[return-value]

    def __repr__(self) -> str:
        return (
            f"ZarrSource(num_train={self.num_train}, num_val={self.num_val}, "
            f"num_invalid={self.num_invalid}, chunks={len(self._chunks)})"
        )


class OnlineSource:
    """A :class:`~neurodyn.inference.data.BatchSource` that simulates every epoch afresh.

    Each call of :meth:`train_batches` draws ``num_per_epoch`` new parameters from the
    proposal and simulates them on the simulator's device (seeds drawn from the training
    generator, so a seeded training run is reproducible); invalid simulations are dropped.
    The validation set and the moments come from fixed simulations made once.

    Args:
        simulator: any Simulator (e.g. a CUDA ``PyloricNetwork``).
        proposal: distribution with ``sample((n,))`` (the prior, or a posterior).
        num_per_epoch: simulations per epoch.
        num_val: simulations of the fixed validation set.
        num_moments: simulations used for the z-scoring moments.
        sim_batch: simulations per simulator call.
        seed: seed of the validation and moment simulations.

    Example:
        >>> import torch
        >>> from neurodyn.priors import BoxUniform
        >>> class Noisy:
        ...     name, version, device, dtype = "noisy", "1", "cpu", torch.float32
        ...     param_names, feature_names = ("a",), ("x",)
        ...     num_params = num_features = 1
        ...     prior = BoxUniform([0.0], [1.0])
        ...     def config(self): return {}
        ...     def simulate(self, theta, *, seed=None, output="features"):
        ...         return theta + 0.1
        >>> src = OnlineSource(Noisy(), Noisy.prior, 300, num_val=50)
        >>> g = torch.Generator().manual_seed(0)
        >>> [len(t) for t, _ in src.train_batches(128, g, "cpu")]
        [128, 128, 44]
        >>> src.num_train is None, src.num_val
        (True, 50)
    """

    def __init__(
        self,
        simulator: Any,
        proposal: Any,
        num_per_epoch: int,
        *,
        num_val: int = 1000,
        num_moments: int = 10_000,
        sim_batch: int = 65_536,
        seed: int = 0,
    ) -> None:
        _check_simulator(simulator)
        if not callable(getattr(proposal, "sample", None)):
            fail(
                "proposal",
                "a distribution with sample((n,))",
                type(proposal).__name__,
                exc=TypeError,
            )
        self.simulator, self.proposal = simulator, proposal
        self.num_per_epoch = check_positive("num_per_epoch", num_per_epoch, integer=True)
        num_val = check_positive("num_val", num_val, integer=True)
        num_moments = check_positive("num_moments", num_moments, integer=True)
        self.sim_batch = check_positive("sim_batch", sim_batch, integer=True)
        self.num_params = int(simulator.num_params)
        self.num_features = int(simulator.num_features)
        self.x_shape = (self.num_features,)
        self.num_train: int | None = None
        base = np.random.SeedSequence(seed).generate_state(2, np.uint64) >> np.uint64(2)
        self._val = self._simulate(int(base[0]), num_val)
        self.num_val: int | None = int(self._val[0].shape[0])
        t, x = self._simulate(int(base[1]), num_moments)
        t, x = t.double(), x.double()
        dtype = torch.get_default_dtype()
        self._moments = tuple(
            a.to("cpu", dtype)
            for a in (t.mean(0), t.std(0, correction=0), x.mean(0), x.std(0, correction=0))
        )

    def _simulate(self, seed: int, num: int) -> tuple[Tensor, Tensor]:
        """``num`` simulations from one integer seed, valid ones only (simulator's device)."""
        parts = [
            self._simulate_block(seed, start, min(self.sim_batch, num - start))
            for start in range(0, num, self.sim_batch)
        ]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def train_batches(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """``num_per_epoch`` fresh simulations (valid ones), in batches of ``batch_size``."""
        batch_size = check_positive("batch_size", batch_size, integer=True)
        dtype = torch.get_default_dtype()
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        carry_t = carry_x = None
        for start in range(0, self.num_per_epoch, self.sim_batch):
            n = min(self.sim_batch, self.num_per_epoch - start)
            theta, x = self._simulate_block(seed, start, n)
            theta = theta.to(device=device, dtype=dtype)
            x = x.to(device=device, dtype=dtype)
            if carry_t is not None:
                theta, x = torch.cat([carry_t, theta]), torch.cat([carry_x, x])
            full = theta.shape[0] // batch_size * batch_size
            for i in range(0, full, batch_size):
                yield theta[i : i + batch_size], x[i : i + batch_size]
            carry_t, carry_x = theta[full:], x[full:]
        if carry_t is not None and carry_t.shape[0]:
            yield carry_t, carry_x

    def _simulate_block(self, seed: int, start: int, n: int) -> tuple[Tensor, Tensor]:
        derive_seeds = _derive_seeds()

        theta = sample_seeded(self.proposal, (seed + start) % 2**63, n)
        x = torch.as_tensor(
            self.simulator.simulate(
                theta, seed=derive_seeds(seed, n, start=start), output="features"
            )
        )
        theta = theta.to(x.device)
        ok = torch.isfinite(x).all(1) & torch.isfinite(theta).all(1)
        return theta[ok], x[ok]

    def val_batches(
        self, batch_size: int, device: torch.device | str
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """The fixed validation simulations, ``batch_size`` at a time."""
        batch_size = check_positive("batch_size", batch_size, integer=True)
        dtype = torch.get_default_dtype()
        theta, x = self._val
        for i in range(0, theta.shape[0], batch_size):
            yield (
                theta[i : i + batch_size].to(device=device, dtype=dtype),
                x[i : i + batch_size].to(device=device, dtype=dtype),
            )

    def moments(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Mean and std of ``num_moments`` fixed simulations (CPU)."""
        return self._moments  # type: ignore[return-value]

    def __repr__(self) -> str:
        return (
            f"OnlineSource({self.simulator.name}, num_per_epoch={self.num_per_epoch}, "
            f"num_val={self.num_val})"
        )
