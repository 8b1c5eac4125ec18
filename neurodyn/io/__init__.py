"""Recordings in and out: NWB (pynwb), plain npz, spike binning, the :class:`Recording`.

:func:`load_recording` picks the reader from the file suffix (``.nwb`` or ``.npz``).
"""

from __future__ import annotations

from pathlib import Path

from neurodyn._validation import check_file, fail
from neurodyn.io.npz import read_npz
from neurodyn.io.nwb import list_nwb_series, read_nwb
from neurodyn.io.recording import Recording
from neurodyn.io.spikes import bin_spike_times, resample

__all__ = [
    "Recording",
    "bin_spike_times",
    "list_nwb_series",
    "load_recording",
    "read_npz",
    "read_nwb",
    "resample",
]


def load_recording(path: str | Path, *, bin_size_s: float | None = None) -> Recording:
    """Read a ``.npz`` or ``.nwb`` recording with default options.

    NWB files use ``read_nwb(path, activity="auto", behaviour=None)`` (behaviour: call
    :func:`read_nwb` directly); ``bin_size_s`` is needed for spike times.
    """
    path = check_file("path", path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return read_npz(path, bin_size_s=bin_size_s)
    if suffix == ".nwb":
        return read_nwb(path, bin_size_s=bin_size_s)
    fail("path", "a .npz or .nwb file", str(path))
