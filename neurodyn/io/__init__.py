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


def load_recording(
    path: str | Path,
    *,
    bin_size_s: float | None = None,
    activity: str | list[str] = "auto",
    behaviour: str | list[str] | None = None,
) -> Recording:
    """Read a ``.npz`` or ``.nwb`` recording.

    ``activity`` and ``behaviour`` select NWB series (see :func:`read_nwb`); npz files take
    their behaviour from the file itself, so these must keep their defaults there.
    ``bin_size_s`` is needed for spike times.
    """
    path = check_file("path", path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        if activity != "auto" or behaviour is not None:
            fail(
                "activity",
                "the defaults for an .npz file (series names are for NWB)",
                (activity, behaviour),
            )
        return read_npz(path, bin_size_s=bin_size_s)
    if suffix == ".nwb":
        return read_nwb(path, activity=activity, behaviour=behaviour, bin_size_s=bin_size_s)
    fail("path", "a .npz or .nwb file", str(path))
