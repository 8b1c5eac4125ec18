"""Plots for population models: connectivity matrices and forecasts against the truth."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from neurodyn._validation import fail

__all__ = ["plot_connectivity", "plot_forecast"]


def _array(name: str, value: Any, ndim: int) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != ndim:
        fail(name, f"a {ndim}-D array", arr)
    return arr


def plot_connectivity(
    adjacency: Any,
    *,
    ax: Any = None,
    title: str = "learned connectivity",
    neuron_names: Sequence[str] | None = None,
    order: Sequence[int] | None = None,
) -> Any:
    """Show a directed adjacency ``(N, N)`` (``A[i, j]``: j -> i) with a symmetric colour map.

    Args:
        adjacency: ``(N, N)`` array or tensor (rows: postsynaptic, columns: presynaptic).
        ax: matplotlib axes to draw into (a new figure when None).
        title: axes title.
        neuron_names: tick labels (shown for N <= 40).
        order: permutation of the neurons for display (e.g. grouped by cell type).

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> fig = plot_connectivity(np.eye(3) - 0.5)
        >>> fig.axes[0].get_title()
        'learned connectivity'
    """
    import matplotlib.pyplot as plt

    a = _array("adjacency", adjacency, 2)
    if a.shape[0] != a.shape[1]:
        fail("adjacency", "a square (N, N) array", a)
    idx = np.arange(a.shape[0]) if order is None else np.asarray(order)
    if sorted(idx.tolist()) != list(range(a.shape[0])):
        fail("order", f"a permutation of range({a.shape[0]})", order)
    a = a[np.ix_(idx, idx)]
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 4.4))
    else:
        fig = ax.figure
    off = a[~np.eye(len(a), dtype=bool)]
    lim = float(np.nanmax(np.abs(off))) if off.size and np.isfinite(off).any() else 1.0
    im = ax.imshow(a, cmap="RdBu_r", vmin=-(lim or 1.0), vmax=lim or 1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, label="weight (pre → post)")
    ax.set_xlabel("presynaptic neuron j")
    ax.set_ylabel("postsynaptic neuron i")
    ax.set_title(title)
    if neuron_names is not None and len(a) <= 40:
        names = [str(neuron_names[k]) for k in idx]
        ax.set_xticks(range(len(a)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(a)), names, fontsize=7)
    return fig


def plot_forecast(
    truth: Any,
    prediction: Any,
    *,
    rate_hz: float = 1.0,
    neurons: Sequence[int] = (0, 1, 2),
    start: int = 0,
    title: str = "one-step forecast",
) -> Any:
    """Overlay predicted and recorded activity of a few neurons.

    Args:
        truth: ``(num_steps, N)`` recorded activity.
        prediction: ``(num_steps, N)`` prediction (NaN rows are skipped, e.g. the first window
            of :meth:`SynapsNet.predict`).
        rate_hz: sampling rate, for a time axis in seconds.
        neurons: columns to show (one panel each).
        start: index of row 0 (its time is ``start / rate_hz``).
        title: figure title.

    Returns:
        The matplotlib ``Figure``; each panel's legend states the Pearson r of its neuron.
    """
    import matplotlib.pyplot as plt

    x = _array("truth", truth, 2)
    p = _array("prediction", prediction, 2)
    if p.shape != x.shape:
        fail("prediction", f"shape {x.shape} (as truth)", p)
    neurons = list(neurons)
    if not neurons or min(neurons) < 0 or max(neurons) >= x.shape[1]:
        fail("neurons", f"column indices in [0, {x.shape[1]})", neurons)
    t = (start + np.arange(len(x))) / rate_hz
    fig, axes = plt.subplots(
        len(neurons), 1, figsize=(8, 1.8 * len(neurons)), sharex=True, squeeze=False
    )
    for ax, k in zip(axes[:, 0], neurons, strict=True):
        ok = np.isfinite(p[:, k]) & np.isfinite(x[:, k])
        r = np.corrcoef(x[ok, k], p[ok, k])[0, 1] if ok.sum() > 2 else np.nan
        ax.plot(t, x[:, k], color="0.3", lw=1.0, label="recorded")
        ax.plot(t, p[:, k], color="tab:red", lw=1.0, label=f"predicted (r = {r:.2f})")
        ax.set_ylabel(f"neuron {k}")
        ax.legend(loc="upper right", fontsize=7, frameon=False)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
