"""Membrane-potential trace plots (matplotlib; safe with the Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurodyn._validation import check_positive, fail

__all__ = ["plot_traces"]


def plot_traces(
    v, *, dt: float, current=None, labels: Sequence[str] | None = None, title: str = "", ax=None
):
    """Plot voltage traces (and optionally the injected current below them).

    Args:
        v: membrane potential (mV), ``(num_steps,)`` or ``(num, num_steps)``, array or tensor.
        dt: sampling interval (ms).
        current: optional ``(num_steps,)`` injected current (µA/cm²), drawn in a lower panel.
        labels: optional legend label per trace.
        title: figure title.
        ax: existing axes for the voltage (then ``current`` is ignored).

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> import numpy as np
        >>> fig = plot_traces(np.zeros((2, 100)), dt=0.1, labels=["a", "b"])
        >>> len(fig.axes)
        1
    """
    import matplotlib.pyplot as plt

    dt = check_positive("dt", dt)
    arr = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=float)
    arr = arr[None] if arr.ndim == 1 else arr
    if arr.ndim != 2:
        fail("v", "a 1-D trace or a 2-D batch (num, num_steps)", arr)
    if labels is not None and len(labels) != arr.shape[0]:
        fail("labels", f"{arr.shape[0]} labels (one per trace)", f"{len(labels)} labels")
    t = np.arange(arr.shape[1]) * dt
    if ax is None:
        if current is not None:
            fig, (ax, ax_i) = plt.subplots(
                2, 1, figsize=(7, 4), sharex=True, gridspec_kw={"height_ratios": [4, 1]}
            )
            ax_i.plot(t, np.asarray(current, dtype=float), color="k", lw=0.8)
            ax_i.set_ylabel("I (µA/cm²)")
            ax_i.set_xlabel("time (ms)")
        else:
            fig, ax = plt.subplots(figsize=(7, 3))
            ax.set_xlabel("time (ms)")
    else:
        fig = ax.figure
    for k, row in enumerate(arr):
        ax.plot(t, row, lw=0.8, label=None if labels is None else labels[k])
    ax.set_ylabel("V (mV)")
    if title:
        ax.set_title(title)
    if labels is not None:
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
