"""Pairplots of posterior samples with points and paths overlaid.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot state), so they
work on any backend, including Agg on headless machines; save with ``fig.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from neurodyn._validation import check_positive, fail

__all__ = ["pairplot"]

_COLOURS = ("#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#e377c2")


def _array(name: str, value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        fail(name, "a numeric array", type(value).__name__, exc=TypeError)
    return arr


def _named(name: str, value: Any, dim: int) -> dict[str, np.ndarray]:
    """``None`` / array ``(m, dim)`` / mapping label -> array, as a dict of 2-D arrays."""
    if value is None:
        return {}
    items = value.items() if isinstance(value, Mapping) else [(name, value)]
    out = {}
    for label, v in items:
        arr = _array(name, v)
        arr = arr[None] if arr.ndim == 1 else arr
        if arr.ndim != 2 or arr.shape[1] != dim:
            fail(name, f"arrays of shape (m, {dim})", arr)
        out[str(label)] = arr
    return out


def pairplot(
    samples: Any,
    *,
    points: Any = None,
    paths: Any = None,
    dims: Sequence[int] | None = None,
    labels: Sequence[str] | None = None,
    limits: Any = None,
    bins: int = 40,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Histograms (diagonal) and 2-D histograms (upper triangle) of samples.

    Args:
        samples: ``(num_samples, num_params)`` array or tensor.
        points: points to mark, ``(m, num_params)`` or a mapping label -> ``(m, num_params)``
            (e.g. ``{"true θ": theta_true}``).
        paths: curves to draw in the 2-D panels, ``(L, num_params)`` or a mapping label ->
            ``(L, num_params)`` (e.g. a high-probability path and the straight line).
        dims: parameter indices to show; ``None`` shows all.
        labels: one name per parameter (all ``num_params``).
        limits: ``(num_params, 2)`` axis limits; ``None`` uses the sample range.
        bins: histogram bins per axis.
        figsize: figure size in inches; ``None`` scales with the number of dims.
        title: figure title.

    Returns:
        A matplotlib :class:`~matplotlib.figure.Figure`.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> fig = pairplot(rng.normal(size=(500, 3)), points={"truth": np.zeros(3)})
        >>> len(fig.axes)
        9
    """
    x = _array("samples", samples)
    if x.ndim != 2 or x.shape[0] < 1:
        fail("samples", "a 2-D array (num_samples, num_params)", x)
    x = x[np.isfinite(x).all(1)]
    dim = x.shape[1]
    pts = _named("points", points, dim)
    crv = _named("paths", paths, dim)
    dims = list(range(dim)) if dims is None else [int(d) for d in dims]
    if not dims or any(d < 0 or d >= dim for d in dims):
        fail("dims", f"indices in [0, {dim - 1}]", dims)
    if labels is not None and len(labels) != dim:
        fail("labels", f"{dim} names (one per parameter)", len(labels))
    names = list(labels) if labels is not None else [f"θ{d}" for d in range(dim)]
    bins = check_positive("bins", bins, integer=True)
    if limits is None:
        lo, hi = (x.min(0), x.max(0)) if len(x) else (np.zeros(dim), np.ones(dim))
        extras = [a for a in (*pts.values(), *crv.values())]
        for a in extras:
            lo, hi = np.minimum(lo, np.nanmin(a, 0)), np.maximum(hi, np.nanmax(a, 0))
        pad = 0.02 * np.where(hi > lo, hi - lo, 1.0)
        lim = np.stack([lo - pad, hi + pad], 1)
    else:
        lim = _array("limits", limits)
        if lim.shape != (dim, 2):
            fail("limits", f"shape ({dim}, 2)", lim)
    k = len(dims)
    # fixed margins: constrained layout costs seconds for large grids
    fig = Figure(figsize=figsize or (1.7 * k + 0.6, 1.7 * k + 0.4))
    axes = fig.subplots(k, k, squeeze=False)
    fig.subplots_adjust(left=0.04, right=0.98, bottom=0.05, top=0.93, wspace=0.25, hspace=0.35)
    colour = {label: _COLOURS[i % len(_COLOURS)] for i, label in enumerate([*pts, *crv])}
    for r, i in enumerate(dims):
        for c, j in enumerate(dims):
            ax = axes[r, c]
            if c < r:
                ax.set_axis_off()
                continue
            if r == c:
                ax.hist(x[:, i], bins=bins, range=tuple(lim[i]), color="#1f77b4", alpha=0.8)
                for label, a in pts.items():
                    for v in a[:, i]:
                        ax.axvline(v, color=colour[label], lw=1.5)
                ax.set_yticks([])
                ax.set_xlim(*lim[i])
            else:
                h, _, _ = np.histogram2d(x[:, j], x[:, i], bins=bins, range=[lim[j], lim[i]])
                ax.imshow(
                    h.T, origin="lower", aspect="auto", cmap="Blues", extent=(*lim[j], *lim[i])
                )
                for label, a in crv.items():
                    ax.plot(a[:, j], a[:, i], color=colour[label], lw=1.5)
                for label, a in pts.items():
                    ax.plot(a[:, j], a[:, i], "o", color=colour[label], ms=4)
                ax.set_xlim(*lim[j])
                ax.set_ylim(*lim[i])
            if r == 0 or r == c:
                ax.set_title(names[j], fontsize=9)
            ax.tick_params(labelsize=7)
    handles = []
    for label in [*pts, *crv]:
        (line,) = axes[0, 0].plot(
            [], [], color=colour[label], label=label, marker="o" if label in pts else None
        )
        handles.append(line)
    if handles:
        fig.legend(handles=handles, loc="lower left", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return fig
