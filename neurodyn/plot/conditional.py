"""Conditional pairplots (eLife Fig 9b) and log-probability profiles along paths (Fig 8).

Figures use :class:`matplotlib.figure.Figure` directly (backend-independent, Agg-safe).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from neurodyn._validation import fail

__all__ = ["conditional_pairplot", "path_profile"]


def _np(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float)


def conditional_pairplot(
    posterior: Any,
    condition: Any,
    x_o: Any = None,
    *,
    dims: Sequence[int] | None = None,
    limits: Any = None,
    resolution: int = 50,
    prior: Any = None,
    labels: Sequence[str] | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Conditional densities around ``condition``: 1-D on the diagonal, 2-D above it.

    Each panel shows the posterior with all parameters but the panel's one or two fixed to
    ``condition`` (a posterior sample, say); the condition is marked in white.

    Args:
        posterior: object with ``log_prob(theta, x=...)``.
        condition: ``(num_params,)`` conditioning point, parameter units.
        x_o: observation ``(num_features,)``; ``None`` uses the posterior's default.
        dims: parameter indices to show (eLife Fig 9b: ``[4, 5, 11, 12, 19, 22]``).
        limits: ``(num_params, 2)`` grid bounds; ``None`` uses the prior box.
        resolution: grid cells per axis.
        prior: prior; ``None`` uses ``posterior.prior``.
        labels: one name per parameter (all ``num_params``).
        figsize: figure size in inches.

    Returns:
        A matplotlib :class:`~matplotlib.figure.Figure`.

    Example:
        >>> import torch
        >>> from torch.distributions import MultivariateNormal
        >>> from neurodyn.priors import BoxUniform
        >>> q = MultivariateNormal(torch.zeros(3), torch.eye(3))
        >>> prior = BoxUniform([-3.0] * 3, [3.0] * 3)
        >>> fig = conditional_pairplot(q, torch.zeros(3), prior=prior, resolution=20)
        >>> len(fig.axes)
        9
    """
    from neurodyn.analysis import conditional_density
    from neurodyn.analysis._density import ZDensity

    dens = ZDensity(posterior, x_o, prior)
    cond = _np(condition).reshape(-1)
    if cond.size != dens.dim:
        fail("condition", f"{dens.dim} parameters (the prior's dimension)", cond)
    dims = list(range(dens.dim)) if dims is None else [int(d) for d in dims]
    if not dims or any(d < 0 or d >= dens.dim for d in dims):
        fail("dims", f"indices in [0, {dens.dim - 1}]", dims)
    if labels is not None and len(labels) != dens.dim:
        fail("labels", f"{dens.dim} names (one per parameter)", len(labels))
    names = list(labels) if labels is not None else [f"θ{d}" for d in range(dens.dim)]
    k = len(dims)
    fig = Figure(figsize=figsize or (1.7 * k + 0.6, 1.7 * k + 0.4))
    axes = fig.subplots(k, k, squeeze=False)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.05, top=0.93, wspace=0.25, hspace=0.35)
    for r, i in enumerate(dims):
        for c, j in enumerate(dims):
            ax = axes[r, c]
            if c < r:
                ax.set_axis_off()
                continue
            if r == c:
                cd = conditional_density(
                    posterior, cond, (i,), x_o, limits=limits, resolution=resolution, prior=prior
                )
                ax.plot(_np(cd.axes[0]), _np(cd.density), color="#1f77b4")
                ax.axvline(cond[i], color="k", lw=0.8, ls="--")
                ax.set_yticks([])
            else:
                cd = conditional_density(
                    posterior, cond, (j, i), x_o, limits=limits, resolution=resolution, prior=prior
                )
                ax_j, ax_i = _np(cd.axes[0]), _np(cd.axes[1])
                half_j, half_i = (ax_j[1] - ax_j[0]) / 2, (ax_i[1] - ax_i[0]) / 2
                ax.imshow(
                    _np(cd.density).T,
                    origin="lower",
                    aspect="auto",
                    cmap="viridis",
                    extent=(
                        ax_j[0] - half_j,
                        ax_j[-1] + half_j,
                        ax_i[0] - half_i,
                        ax_i[-1] + half_i,
                    ),
                )
                ax.plot(cond[j], cond[i], "o", color="white", ms=4, mec="k", mew=0.5)
            if r == 0 or r == c:
                ax.set_title(names[j], fontsize=9)
            ax.tick_params(labelsize=7)
    return fig


def path_profile(
    path: Any,
    *,
    normalize: bool = True,
    breakdown: Any = None,
    figsize: tuple[float, float] = (6.0, 3.2),
    title: str | None = None,
) -> Figure:
    """Posterior log-probability along a path (and along the straight line, when known).

    Args:
        path: a result with ``log_prob`` and ``arc_length`` (``high_probability_path`` also
            provides ``straight_log_prob``; ``orthogonal_path`` does not).
        normalize: subtract the maximum over the shown curves (eLife: "log q normalised by
            its maximum"), so 0 is the highest value.
        breakdown: optional :class:`~neurodyn.analysis.BreakdownResult` for this path; its
            evaluated points are marked green (valid) or red (invalid).
        figsize: figure size in inches.
        title: axes title.

    Returns:
        A matplotlib :class:`~matplotlib.figure.Figure`.
    """
    if not (hasattr(path, "log_prob") and hasattr(path, "arc_length")):
        fail(
            "path", "a path result with log_prob and arc_length", type(path).__name__, exc=TypeError
        )
    lp, s = _np(path.log_prob), _np(path.arc_length)
    curves = [("path", s, lp)]
    straight = getattr(path, "straight_log_prob", None)
    if straight is not None:
        chord = float(getattr(path, "straight_length", s[-1]))
        sl = _np(straight)
        curves.append(("straight line", np.linspace(0.0, chord, sl.size), sl))
    top = max(float(np.nanmax(c[2])) for c in curves) if normalize else 0.0
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    for (label, xs, ys), style in zip(curves, ("-", "--"), strict=False):
        ax.plot(xs, ys - top, style, label=label)
    if breakdown is not None:
        idx = _np(breakdown.indices).astype(int)
        ok = _np(breakdown.valid).astype(bool)
        ax.scatter(s[idx][ok], lp[idx][ok] - top, color="#2ca02c", zorder=3, label="valid")
        ax.scatter(s[idx][~ok], lp[idx][~ok] - top, color="#d62728", zorder=3, label="invalid")
    ax.set_xlabel("arc length (z-units)")
    ax.set_ylabel("log q − max" if normalize else "log q")
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    return fig
