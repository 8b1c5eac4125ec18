"""Read population recordings from plain ``.npz`` files (never with pickle).

Recognised layouts, tried in this order:

* neurodyn's own (written by :meth:`Recording.save_npz`): ``activity`` ``(T, N)``,
  ``rate_hz``, optional ``behaviour``, names, ``start_time_s``;
* calcium: ``dff`` ``(N, T)`` and ``fs_hz``;
* binned counts: ``spikes`` ``(N, T)`` and ``bin_size_s`` (optional time axis ``t``);
  every other array with a length-T axis becomes behaviour (e.g. ``hand_vel`` ``(2, T)``);
* spike times: ``spike_times`` with ``spike_clusters`` or ``spike_unit`` labels (optional
  ``n_units``), binned with ``bin_size_s``; sampled signals ``<p>_t`` with ``<p>_x``,
  ``<p>_y``, ... (e.g. ``pos_t``, ``pos_x``, ``pos_y``) become behaviour resampled to the bins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurodyn._validation import check_file, fail
from neurodyn.io.recording import Recording
from neurodyn.io.spikes import bin_spike_times, resample

__all__ = ["read_npz"]


def read_npz(path: str | Path, *, bin_size_s: float | None = None) -> Recording:
    """Read a recording from an ``.npz`` file (layouts in the module docstring).

    Args:
        path: the file.
        bin_size_s: bin width in seconds for spike-time layouts (required there; ignored for
            already-sampled layouts).

    Returns:
        A :class:`Recording` (time as rows).

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "r.npz")
        >>> _ = Recording(np.ones((10, 2)), rate_hz=5.0).save_npz(path)
        >>> read_npz(path).activity.shape
        (10, 2)
    """
    path = check_file("path", path)
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (ValueError, OSError) as err:
        fail("path", "a numeric .npz file (no pickled objects)", str(path), str(err))
    src = str(path)
    if "activity" in data:
        return _own(data, src)
    if "dff" in data:
        if "fs_hz" not in data:
            fail("path", "an fs_hz entry beside dff", sorted(data), "Add the frame rate.")
        dff = np.asarray(data["dff"]).T
        return Recording(dff, float(data["fs_hz"]), kind="dff", source=f"{src}:dff")
    if "spikes" in data:
        return _binned(data, src)
    if "spike_times" in data:
        return _spike_times(data, src, bin_size_s)
    fail("path", "an npz with 'activity', 'dff', 'spikes' or 'spike_times'", sorted(data))


def _own(data: dict[str, np.ndarray], src: str) -> Recording:
    if "rate_hz" not in data:
        fail("path", "a rate_hz entry beside activity", sorted(data))
    beh = data.get("behaviour")
    return Recording(
        data["activity"],
        float(data["rate_hz"]),
        tuple(data.get("neuron_names", ())),
        beh,
        tuple(data.get("behaviour_names", ())) if beh is not None else (),
        float(data.get("start_time_s", 0.0)),
        str(data.get("kind", "unknown")),
        str(data.get("source", src)) or src,
    )


def _binned(data: dict[str, np.ndarray], src: str) -> Recording:
    if "bin_size_s" not in data:
        fail("path", "a bin_size_s entry beside spikes", sorted(data))
    counts = np.asarray(data["spikes"]).T
    steps = counts.shape[0]
    start = float(data["t"][0]) if "t" in data and data["t"].shape == (steps,) else 0.0
    names, cols = [], []
    for key in sorted(data):
        arr = np.asarray(data[key])
        if key in ("spikes", "t", "bin_size_s") or arr.ndim not in (1, 2):
            continue
        if not np.issubdtype(arr.dtype, np.number):
            continue
        if arr.ndim == 2 and arr.shape[1] == steps and arr.shape[0] != steps:
            arr = arr.T
        if arr.shape[0] != steps:
            continue
        arr = arr.reshape(steps, -1)
        cols.append(arr)
        names += [key] if arr.shape[1] == 1 else [f"{key}_{i}" for i in range(arr.shape[1])]
    beh = np.concatenate(cols, axis=1) if cols else None
    return Recording(
        counts,
        1.0 / float(data["bin_size_s"]),
        (),
        beh,
        tuple(names) if cols else (),
        start,
        "counts",
        f"{src}:spikes",
    )


def _spike_times(data: dict[str, np.ndarray], src: str, bin_size_s: float | None) -> Recording:
    if bin_size_s is None:
        fail(
            "bin_size_s",
            "a bin width in seconds for a spike-time file",
            None,
            "Pass e.g. bin_size_s=0.05.",
        )
    key = next((k for k in ("spike_clusters", "spike_unit", "spike_units") if k in data), None)
    if key is None:
        fail("path", "spike unit labels ('spike_clusters' or 'spike_unit')", sorted(data))
    n_units = int(data["n_units"]) if "n_units" in data else None
    counts, labels = bin_spike_times(
        data["spike_times"], units=data[key], num_units=n_units, bin_size_s=bin_size_s
    )
    t0 = float(np.min(data["spike_times"]))
    centres = t0 + (np.arange(counts.shape[0]) + 0.5) * bin_size_s
    names, cols = [], []
    for tkey in sorted(k for k in data if k.endswith("_t") and k != "spike_times"):
        prefix = tkey[:-2]
        t = np.asarray(data[tkey], dtype=np.float64)
        for vkey in sorted(k for k in data if k.startswith(prefix + "_") and k != tkey):
            v = np.asarray(data[vkey])
            if v.shape == t.shape and np.issubdtype(v.dtype, np.number):
                order = np.argsort(t, kind="stable")
                keep = np.concatenate([[True], np.diff(t[order]) > 0])
                cols.append(resample(t[order][keep], v[order][keep], centres))
                names.append(vkey)
    beh = np.concatenate(cols, axis=1) if cols else None
    return Recording(
        counts,
        1.0 / bin_size_s,
        tuple(str(u) for u in labels),
        beh,
        tuple(names) if cols else (),
        float(centres[0]),
        "counts",
        f"{src}:spike_times",
    )
