"""Read population recordings from NWB files with pynwb.

Activity comes from a ``RoiResponseSeries`` (dF/F or fluorescence), from the ``units`` table
(spike times binned to counts) or from any named ``TimeSeries`` (e.g. the
``CurrentClampSeries`` sweeps of an intracellular file, stacked as columns). Behaviour
``TimeSeries`` (``SpatialSeries`` in ``Position``, series in ``BehavioralTimeSeries``, or any
named series) are resampled linearly onto the activity's time grid.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurodyn._validation import check_file, fail
from neurodyn.io.recording import Recording
from neurodyn.io.spikes import bin_spike_times, resample

__all__ = ["list_nwb_series", "read_nwb"]


def _walk(nwbfile: Any) -> Iterator[tuple[str, Any]]:
    """Yield ``(path, TimeSeries)`` for every time series in the file."""
    from pynwb import TimeSeries

    def inner(prefix: str, obj: Any) -> Iterator[tuple[str, Any]]:
        if isinstance(obj, TimeSeries):
            yield prefix, obj
            return
        for attr in ("roi_response_series", "spatial_series", "time_series"):
            children = getattr(obj, attr, None)
            if isinstance(children, dict):
                for name, child in children.items():
                    yield f"{prefix}/{name}", child

    for name, obj in nwbfile.acquisition.items():
        yield from inner(f"acquisition/{name}", obj)
    for name, obj in nwbfile.stimulus.items():
        yield from inner(f"stimulus/{name}", obj)
    for mod_name, module in nwbfile.processing.items():
        for name, obj in module.data_interfaces.items():
            yield from inner(f"processing/{mod_name}/{name}", obj)


def list_nwb_series(path: str | Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Map each time series of an NWB file to ``(neurodata type, data shape)``.

    Paths look like ``"acquisition/CurrentClampSeries_01"`` or
    ``"processing/ophys/DfOverF/RoiResponseSeries"``; :func:`read_nwb` accepts a path or its
    last component when that is unique.
    """
    from pynwb import NWBHDF5IO

    path = check_file("path", path)
    with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
        f = io.read()
        return {p: (type(ts).__name__, tuple(ts.data.shape)) for p, ts in _walk(f)}


def _find(series: dict[str, Any], name: str, arg: str) -> tuple[str, Any]:
    if name in series:
        return name, series[name]
    hits = [p for p in series if p.rsplit("/", 1)[-1] == name]
    if len(hits) != 1:
        what = "no series" if not hits else f"{len(hits)} series {hits}"
        fail(
            arg,
            f"the name of one time series among {sorted(series)}",
            name,
            f"Found {what} of that name; give the full path.",
        )
    return hits[0], series[hits[0]]


def _values_and_times(ts: Any) -> tuple[np.ndarray, np.ndarray, float | None]:
    data = np.asarray(ts.data[()], dtype=np.float64)
    data = data * float(ts.conversion) + float(getattr(ts, "offset", 0.0) or 0.0)
    if data.ndim == 1:
        data = data[:, None]
    elif data.ndim > 2:
        data = data.reshape(data.shape[0], -1)
    if ts.timestamps is not None:
        return data, np.asarray(ts.timestamps[()], dtype=np.float64), None
    times = float(ts.starting_time or 0.0) + np.arange(data.shape[0]) / float(ts.rate)
    return data, times, float(ts.rate)


def _rate_and_start(times: np.ndarray, name: str) -> tuple[float, float]:
    if times.size < 2:
        return 1.0, float(times[0]) if times.size else 0.0
    dt = np.diff(times)
    step = float(np.median(dt))
    if step <= 0 or np.abs(dt - step).max() > 0.01 * step:
        fail(
            name,
            "a regularly sampled series (constant timestamp step)",
            f"steps from {dt.min():.3g} to {dt.max():.3g} s",
            "Resample it first.",
        )
    return 1.0 / step, float(times[0])


def read_nwb(
    path: str | Path,
    *,
    activity: str | Sequence[str] = "auto",
    behaviour: str | Sequence[str] | None = None,
    bin_size_s: float | None = None,
    t_start: float | None = None,
    t_stop: float | None = None,
) -> Recording:
    """Read activity (and behaviour aligned to it) from an NWB file.

    Args:
        path: the ``.nwb`` file (NWB 2.x, HDF5).
        activity: ``"auto"`` (the first ``RoiResponseSeries``, preferring one inside
            ``DfOverF``; else the ``units`` table), ``"units"``, or the name/path of one time
            series, or a list of names of equally long series (stacked as columns).
        behaviour: None, ``"auto"`` (every series in a processing module named ``behavior``
            or ``behaviour``), or names of series; each is resampled linearly onto the
            activity times (NaN outside its time range).
        bin_size_s: bin width in seconds, required for ``"units"``.
        t_start, t_stop: binning range for units (default: first and last spike).

    Returns:
        A :class:`Recording`; ``kind`` is ``"dff"`` (DfOverF), ``"counts"`` (units) or
        ``"trace"`` (other series), values in the file's units times ``conversion``.
    """
    from pynwb import NWBHDF5IO

    path = check_file("path", path)
    with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
        f = io.read()
        series = dict(_walk(f))
        if activity == "auto":
            rois = [p for p, ts in series.items() if type(ts).__name__ == "RoiResponseSeries"]
            rois.sort(key=lambda p: "DfOverF" not in p)
            if rois:
                activity = rois[0]
            elif f.units is not None and len(f.units) > 0:
                activity = "units"
            else:
                fail(
                    "activity",
                    "a RoiResponseSeries or a units table in the file",
                    sorted(series),
                    "Name one of the series with activity=...",
                )
        if activity == "units":
            if f.units is None or len(f.units) == 0:
                fail("activity", "a file with a units table", str(path))
            if bin_size_s is None:
                fail(
                    "bin_size_s",
                    "a bin width in seconds to bin the units",
                    None,
                    "Pass e.g. bin_size_s=0.05.",
                )
            trains = [np.asarray(f.units.get_unit_spike_times(i)) for i in range(len(f.units))]
            counts, _ = bin_spike_times(
                trains, bin_size_s=bin_size_s, t_start=t_start, t_stop=t_stop
            )
            first = min((t.min() for t in trains if t.size), default=0.0)
            t0 = first if t_start is None else t_start
            rate, start = 1.0 / bin_size_s, t0 + 0.5 * bin_size_s
            ids = [str(i) for i in f.units.id[:]]
            values, names, kind, src = counts, ids, "counts", f"{path}:units"
        else:
            names_in = [activity] if isinstance(activity, str) else list(activity)
            cols, names, times, rate = [], [], None, None
            for name in names_in:
                full, ts = _find(series, name, "activity")
                data, t, rate = _values_and_times(ts)
                if times is not None and (t.shape != times.shape or not np.allclose(t, times)):
                    fail("activity", "series on one time grid", name)
                times = t
                cols.append(data)
                short = full.rsplit("/", 1)[-1]
                names += (
                    [short]
                    if data.shape[1] == 1
                    else [f"{short}_{i}" for i in range(data.shape[1])]
                )
                kind = "dff" if "DfOverF" in full else "trace"
            values = np.concatenate(cols, axis=1)
            if rate is None:
                rate, start = _rate_and_start(times, "activity")
            else:
                start = float(times[0])
            src = f"{path}:{','.join(names_in)}"
        beh, bnames = None, ()
        if behaviour is not None:
            beh, bnames = _behaviour(f, series, behaviour, start + np.arange(len(values)) / rate)
    return Recording(values, rate, tuple(names), beh, bnames, start, kind, src)


def _behaviour(f: Any, series: dict[str, Any], behaviour: Any, target: np.ndarray):
    if behaviour == "auto":
        modules = (["processing", "behavior"], ["processing", "behaviour"])
        picks = sorted(p for p in series if p.split("/")[:2] in modules)
        if not picks:
            fail(
                "behaviour",
                "a processing module 'behavior' with time series",
                sorted(f.processing),
                "Name the behaviour series instead.",
            )
    else:
        picks = [behaviour] if isinstance(behaviour, str) else list(behaviour)
    cols, names = [], []
    for name in picks:
        full, ts = _find(series, name, "behaviour")
        data, t, _ = _values_and_times(ts)
        cols.append(resample(t, data, target))
        short = full.rsplit("/", 1)[-1]
        names += [short] if data.shape[1] == 1 else [f"{short}_{i}" for i in range(data.shape[1])]
    return np.concatenate(cols, axis=1), tuple(names)
