"""The zarr simulation store: chunked θ, x, seeds and status with provenance.

Layout of a store (or of one group of it, e.g. one round of a sequential campaign)::

    <store>/[<group>/]
        theta          (num, num_params)   float32, NaN where not yet simulated
        x              (num, num_features) float32, NaN for invalid simulations
        seeds          (num,)              uint64, per-simulation seeds
        status/valid   (num,)              bool, x finite
        status/done    (num_chunks,)       uint8, 1 once the chunk is completely written
        status/checksum (num_chunks,)      uint64, hash of the chunk's theta, x, seeds, valid
        attrs["neurodyn"]                  provenance (simulator, version, config, feature
                                           order, seed, chunk, proposal, date, versions)

Every array is chunked along the simulation axis with the campaign's chunk size, so one task
writes whole zarr chunks and never touches another task's files. A chunk becomes visible
only when its ``done`` flag is set, after all its arrays and its checksum were written; a
killed writer therefore leaves a chunk that reads as not done and is simulated again.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurodyn._validation import fail

__all__ = ["FORMAT", "FORMAT_VERSION", "SimulationStore", "chunk_checksum"]

FORMAT = "neurodyn.simulation_store"
FORMAT_VERSION = 1

#: Provenance keys that must agree before a campaign may write into an existing store.
MATCH_KEYS = (
    "simulator",
    "simulator_version",
    "config",
    "param_names",
    "feature_names",
    "num",
    "chunk",
    "seed",
    "proposal",
    "theta_fingerprint",
)


def chunk_checksum(theta: np.ndarray, x: np.ndarray, seeds: np.ndarray, valid: np.ndarray) -> int:
    """64-bit BLAKE2b digest of one chunk's arrays (as stored: float32, uint64, bool).

    NaN payloads are canonicalised so that the digest depends on values only.
    """
    h = hashlib.blake2b(digest_size=8)
    for arr, dtype in ((theta, np.float32), (x, np.float32), (seeds, np.uint64), (valid, bool)):
        a = np.ascontiguousarray(arr, dtype=dtype)
        if a.dtype.kind == "f":
            a = np.where(np.isnan(a), np.float32(np.nan), a)
        h.update(a.tobytes())
    return int.from_bytes(h.digest(), "little")


def _zarr():
    import zarr

    if int(zarr.__version__.split(".")[0]) < 3:
        fail("zarr", "zarr >= 3", zarr.__version__, "pip install 'zarr>=3'.", exc=ImportError)
    return zarr


@dataclass(frozen=True)
class ChunkRange:
    """Rows ``[start, stop)`` of chunk ``index``."""

    index: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


class SimulationStore:
    """A zarr group holding one simulation campaign (create with :meth:`create`/:meth:`open`).

    Args:
        root: the zarr group of the campaign.
        path: where the store lives (for messages).

    Example:
        >>> import tempfile, numpy as np
        >>> prov = {"simulator": "toy", "simulator_version": "1", "config": {},
        ...         "param_names": ["a"], "feature_names": ["f"], "num": 5, "chunk": 2,
        ...         "seed": 0, "proposal": "p", "theta_fingerprint": "0"}
        >>> store = SimulationStore.create(tempfile.mkdtemp() + "/s.zarr", prov)
        >>> [c.size for c in store.chunks()]
        [2, 2, 1]
        >>> store.write_chunk(1, np.ones((2, 1)), np.ones((2, 1)), np.arange(2), None)
        >>> store.done().tolist(), store.num_done_sims()
        ([False, True, False], 2)
    """

    def __init__(self, root: Any, path: str) -> None:
        self.root = root
        self.path = path
        self.provenance: dict[str, Any] = dict(root.attrs["neurodyn"])
        self.num = int(self.provenance["num"])
        self.chunk = int(self.provenance["chunk"])
        self.num_chunks = math.ceil(self.num / self.chunk)
        self.num_params = len(self.provenance["param_names"])
        self.num_features = len(self.provenance["feature_names"])

    # ------------------------------------------------------------------ opening
    @staticmethod
    def _group(path: str | Path, group: str | None, mode: str):
        zarr = _zarr()
        root = zarr.open_group(str(path), mode=mode)
        if group:
            root = root.require_group(group) if mode != "r" else root[group]
        return root

    @classmethod
    def exists(cls, path: str | Path, group: str | None = None) -> bool:
        """Whether ``path`` (and ``group``) already hold a neurodyn campaign."""
        p = Path(path) / (group or "")
        if not (p / "zarr.json").is_file():
            return False
        try:
            root = cls._group(path, group, "r")
        except (KeyError, FileNotFoundError, ValueError):
            return False
        return "neurodyn" in root.attrs

    @classmethod
    def create(
        cls, path: str | Path, provenance: dict[str, Any], group: str | None = None
    ) -> SimulationStore:
        """Create the arrays of a new campaign described by ``provenance``.

        ``provenance`` holds at least the keys of :data:`MATCH_KEYS`.
        """
        missing = [k for k in MATCH_KEYS if k not in provenance]
        if missing:
            fail("provenance", f"the keys {list(MATCH_KEYS)}", f"missing {missing}")
        prov = json.loads(json.dumps(provenance))  # JSON-clean copy; raises on bad values
        prov.setdefault("format", FORMAT)
        prov.setdefault("format_version", FORMAT_VERSION)
        num, chunk = int(prov["num"]), int(prov["chunk"])
        num_chunks = math.ceil(num / chunk)
        root = cls._group(path, group, "a")
        if "neurodyn" in root.attrs:
            fail(
                "store",
                "an empty location for a new campaign",
                str(path),
                "Open it with SimulationStore.open instead.",
            )
        p, f = len(prov["param_names"]), len(prov["feature_names"])
        nan = np.float32(np.nan)
        root.create_array(
            "theta",
            shape=(num, p),
            chunks=(chunk, p),
            dtype="float32",
            fill_value=nan,
            overwrite=True,
        )
        root.create_array(
            "x",
            shape=(num, f),
            chunks=(chunk, max(f, 1)),
            dtype="float32",
            fill_value=nan,
            overwrite=True,
        )
        root.create_array(
            "seeds", shape=(num,), chunks=(chunk,), dtype="uint64", fill_value=0, overwrite=True
        )
        status = root.require_group("status")
        status.create_array(
            "valid", shape=(num,), chunks=(chunk,), dtype="bool", fill_value=False, overwrite=True
        )
        status.create_array(
            "done", shape=(num_chunks,), chunks=(1,), dtype="uint8", fill_value=0, overwrite=True
        )
        status.create_array(
            "checksum",
            shape=(num_chunks,),
            chunks=(1,),
            dtype="uint64",
            fill_value=0,
            overwrite=True,
        )
        # The provenance goes last: a store without it is not yet a campaign.
        root.attrs["neurodyn"] = prov
        return cls(root, str(path))

    @classmethod
    def open(
        cls, path: str | Path, group: str | None = None, *, mode: str = "r"
    ) -> SimulationStore:
        """Open an existing campaign (``mode="r"`` to read, ``"r+"`` to write chunks)."""
        if not cls.exists(path, group):
            where = f"{path}" + (f" (group {group!r})" if group else "")
            fail(
                "store",
                "a neurodyn simulation store",
                where,
                "Create it with neurodyn.compute.simulate (CLI: neurodyn simulate).",
                exc=FileNotFoundError,
            )
        root = cls._group(path, group, "r+" if mode == "r+" else "r")
        prov = root.attrs["neurodyn"]
        if prov.get("format") != FORMAT or int(prov.get("format_version", -1)) > FORMAT_VERSION:
            fail(
                "store",
                f"format {FORMAT} version <= {FORMAT_VERSION}",
                f"{prov.get('format')} version {prov.get('format_version')}",
                "Upgrade neurodyn to read this store.",
            )
        return cls(root, str(path))

    def check_compatible(self, provenance: dict[str, Any]) -> None:
        """Raise a ``ValueError`` saying why ``provenance`` may not write into this store."""
        new = json.loads(json.dumps(provenance))
        for key in MATCH_KEYS:
            old_v, new_v = self.provenance.get(key), new.get(key)
            if old_v != new_v:
                fail(
                    "store",
                    f"a store written by the same campaign (same {key})",
                    f"{key}={_short(old_v)} in {self.path}, but this campaign has "
                    f"{key}={_short(new_v)}",
                    "Refusing to mix simulations: use a new store path, or re-run with the "
                    "original settings to resume.",
                )

    # ------------------------------------------------------------------ chunks
    def chunks(self) -> list[ChunkRange]:
        """All chunks of the campaign in order."""
        return [
            ChunkRange(k, k * self.chunk, min(self.num, (k + 1) * self.chunk))
            for k in range(self.num_chunks)
        ]

    def chunk_range(self, k: int) -> ChunkRange:
        """Rows of chunk ``k``."""
        return ChunkRange(k, k * self.chunk, min(self.num, (k + 1) * self.chunk))

    def done(self) -> np.ndarray:
        """Boolean ``(num_chunks,)``: chunks completely written."""
        return np.asarray(self.root["status/done"][:]) == 1

    def num_done_sims(self) -> int:
        """Number of simulations in completed chunks."""
        return int(sum(c.size for c, d in zip(self.chunks(), self.done(), strict=True) if d))

    def is_complete(self) -> bool:
        """Whether every chunk is done."""
        return bool(self.done().all())

    def read_chunk(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(theta, x, seeds, valid)`` of chunk ``k`` as numpy arrays (no check)."""
        c = self.chunk_range(k)
        r = self.root
        return (
            np.asarray(r["theta"][c.start : c.stop]),
            np.asarray(r["x"][c.start : c.stop]),
            np.asarray(r["seeds"][c.start : c.stop]),
            np.asarray(r["status/valid"][c.start : c.stop]),
        )

    def write_chunk(
        self,
        k: int,
        theta: np.ndarray,
        x: np.ndarray,
        seeds: np.ndarray,
        valid: np.ndarray | None,
    ) -> None:
        """Write chunk ``k``: data arrays first, then its checksum, then its done flag."""
        c = self.chunk_range(k)
        theta = np.asarray(theta, dtype=np.float32).reshape(c.size, self.num_params)
        x = np.asarray(x, dtype=np.float32).reshape(c.size, self.num_features)
        seeds = np.asarray(seeds, dtype=np.uint64).reshape(c.size)
        valid = np.isfinite(x).all(axis=1) if valid is None else np.asarray(valid, dtype=bool)
        r = self.root
        r["status/done"][k] = 0  # a re-run chunk is invisible while it is rewritten
        r["theta"][c.start : c.stop] = theta
        r["x"][c.start : c.stop] = x
        r["seeds"][c.start : c.stop] = seeds
        r["status/valid"][c.start : c.stop] = valid
        r["status/checksum"][k] = np.uint64(chunk_checksum(theta, x, seeds, valid))
        r["status/done"][k] = 1

    def verify(self, chunks: list[int] | None = None) -> list[int]:
        """Re-read done chunks and return those that are corrupt (unreadable or bad checksum).

        Corrupt chunks are marked not done so that a resumed campaign simulates them again.
        """
        done = self.done()
        todo = [k for k in (range(self.num_chunks) if chunks is None else chunks) if done[k]]
        sums = np.asarray(self.root["status/checksum"][:])
        bad = []
        for k in todo:
            try:
                ok = chunk_checksum(*self.read_chunk(k)) == int(sums[k])
            except Exception:  # an unreadable chunk file (truncated, garbage) is corrupt
                ok = False
            if not ok:
                bad.append(k)
        if bad:
            done_arr = self.root["status/done"]
            for k in bad:
                done_arr[k] = 0
        return bad

    def summary(self) -> dict[str, Any]:
        """Counts of done/valid simulations, the invalid fraction, and the simulator name."""
        done = self.done()
        valid = np.asarray(self.root["status/valid"][:])
        mask = np.zeros(self.num, dtype=bool)
        for c, d in zip(self.chunks(), done, strict=True):
            mask[c.start : c.stop] = d
        n_done = int(mask.sum())
        n_valid = int(valid[mask].sum())
        return {
            "simulator": self.provenance["simulator"],
            "num": self.num,
            "num_done": n_done,
            "num_valid": n_valid,
            "num_invalid": n_done - n_valid,
            "invalid_fraction": (n_done - n_valid) / n_done if n_done else float("nan"),
            "chunks_done": int(done.sum()),
            "num_chunks": self.num_chunks,
        }


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."
