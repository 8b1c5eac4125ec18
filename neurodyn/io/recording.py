"""The :class:`Recording` container: population activity, behaviour and their sampling."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurodyn._validation import check_positive, fail

__all__ = ["Recording"]


@dataclass(frozen=True, eq=False)
class Recording:
    """Population activity on a regular time grid, with optional behaviour on the same grid.

    Row ``k`` of ``activity`` and ``behaviour`` is the sample at ``start_time_s + k / rate_hz``
    seconds (for binned spike counts: the centre of bin ``k``).

    Attributes:
        activity: ``(num_steps, num_neurons)`` float64 (dF/F, counts per bin, voltage, ...).
        rate_hz: sampling rate of the rows in Hz (1 / bin width for counts).
        neuron_names: one name per column (default ``"0"``, ``"1"``, ...).
        behaviour: ``(num_steps, num_behaviour)`` float64 aligned to the activity, or None.
        behaviour_names: one name per behaviour column.
        start_time_s: time of row 0 in seconds.
        kind: what the activity is: ``"dff"``, ``"counts"``, ``"trace"`` or ``"unknown"``.
        source: where it came from (file path and series), for provenance.

    Example:
        >>> rec = Recording(np.zeros((100, 3)), rate_hz=20.0)
        >>> rec.num_steps, rec.num_neurons, rec.duration_s, rec.neuron_names
        (100, 3, 5.0, ('0', '1', '2'))
    """

    activity: np.ndarray
    rate_hz: float
    neuron_names: tuple[str, ...] = ()
    behaviour: np.ndarray | None = None
    behaviour_names: tuple[str, ...] = ()
    start_time_s: float = 0.0
    kind: str = "unknown"
    source: str = field(default="")

    def __post_init__(self) -> None:
        act = np.asarray(self.activity)
        if not np.issubdtype(act.dtype, np.number) or np.iscomplexobj(act):
            fail("activity", "a real numeric array", act, exc=TypeError)
        if act.ndim != 2:
            fail("activity", "a 2-D array (num_steps, num_neurons)", act)
        object.__setattr__(self, "activity", act.astype(np.float64, copy=False))
        object.__setattr__(self, "rate_hz", check_positive("rate_hz", self.rate_hz))
        names = tuple(str(n) for n in self.neuron_names) or tuple(
            str(i) for i in range(act.shape[1])
        )
        if len(names) != act.shape[1]:
            fail("neuron_names", f"{act.shape[1]} names", len(names))
        object.__setattr__(self, "neuron_names", names)
        if self.behaviour is not None:
            beh = np.asarray(self.behaviour, dtype=np.float64)
            if beh.ndim == 1:
                beh = beh[:, None]
            if beh.ndim != 2 or beh.shape[0] != act.shape[0]:
                fail(
                    "behaviour",
                    f"shape ({act.shape[0]}, num_behaviour)",
                    beh,
                    "Resample it to the activity's time grid first.",
                )
            object.__setattr__(self, "behaviour", beh)
            bnames = tuple(str(n) for n in self.behaviour_names) or tuple(
                f"b{i}" for i in range(beh.shape[1])
            )
            if len(bnames) != beh.shape[1]:
                fail("behaviour_names", f"{beh.shape[1]} names", len(bnames))
            object.__setattr__(self, "behaviour_names", bnames)
        elif self.behaviour_names:
            fail("behaviour_names", "no names without behaviour", self.behaviour_names)

    @property
    def num_steps(self) -> int:
        """Number of rows (time steps)."""
        return self.activity.shape[0]

    @property
    def num_neurons(self) -> int:
        """Number of columns (neurons, units, channels)."""
        return self.activity.shape[1]

    @property
    def duration_s(self) -> float:
        """``num_steps / rate_hz`` in seconds."""
        return self.num_steps / self.rate_hz

    def times(self) -> np.ndarray:
        """``(num_steps,)`` time of each row in seconds."""
        return self.start_time_s + np.arange(self.num_steps) / self.rate_hz

    def save_npz(self, path: str | Path) -> Path:
        """Write the recording as a plain ``.npz`` that :func:`read_npz` reads back."""
        path = Path(path)
        arrays = {
            "activity": self.activity,
            "rate_hz": np.float64(self.rate_hz),
            "neuron_names": np.asarray(self.neuron_names, dtype=str),
            "start_time_s": np.float64(self.start_time_s),
            "kind": np.asarray(self.kind),
            "source": np.asarray(self.source),
        }
        if self.behaviour is not None:
            arrays["behaviour"] = self.behaviour
            arrays["behaviour_names"] = np.asarray(self.behaviour_names, dtype=str)
        np.savez(path, **arrays)
        return path
