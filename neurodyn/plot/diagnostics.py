"""Plots of posterior diagnostics: SBC rank histograms and coverage curves (matplotlib)."""

from __future__ import annotations

from typing import Any

import numpy as np

from neurodyn._validation import check_positive, fail
from neurodyn.diagnostics.coverage import CoverageResult
from neurodyn.diagnostics.sbc import SBCResult, rank_band

__all__ = ["plot_coverage", "plot_sbc_ranks"]


def plot_sbc_ranks(
    result: SBCResult, *, num_bins: int = 20, level: float = 0.99, max_columns: int = 4
) -> Any:
    """Rank histogram per parameter with the band expected for uniform ranks.

    Args:
        result: output of :func:`neurodyn.diagnostics.sbc`.
        num_bins: histogram bins.
        level: probability of the grey band (binomial, per bin).
        max_columns: panels per row.

    Returns:
        The matplotlib figure.

    Example:
        >>> import numpy as np
        >>> r = SBCResult(ranks=np.random.default_rng(0).integers(0, 101, (200, 2)),
        ...               ks_pvalues=np.array([0.5, 0.5]), num_posterior_samples=100,
        ...               alpha=0.05, passed=True, param_names=("a", "b"))
        >>> len(plot_sbc_ranks(r).axes)
        2
    """
    import matplotlib.pyplot as plt

    if not isinstance(result, SBCResult):
        fail("result", "an SBCResult", type(result).__name__, exc=TypeError)
    num_bins = check_positive("num_bins", num_bins, integer=True)
    n, d = result.ranks.shape
    cols = min(d, max_columns)
    rows = (d + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False)
    lo, hi = rank_band(n, num_bins, level)
    edges = np.linspace(0, result.num_posterior_samples + 1, num_bins + 1)
    for i, ax in enumerate(axes.flat):
        if i >= d:
            ax.remove()
            continue
        ax.axhspan(lo, hi, color="0.85", zorder=0)
        ax.axhline(n / num_bins, color="0.5", lw=0.8)
        ax.hist(result.ranks[:, i], bins=edges, color="C0", edgecolor="white")
        ax.set_title(f"{result.param_names[i]}  (KS p={result.ks_pvalues[i]:.2g})", fontsize=9)
        ax.set_xlabel("rank")
        ax.set_yticks([])
    fig.suptitle("SBC " + ("passed" if result.passed else "FAILED"), fontsize=10)
    fig.tight_layout()
    return fig


def plot_coverage(*results: CoverageResult, labels: tuple[str, ...] | None = None) -> Any:
    """Empirical coverage vs credibility level (the diagonal is perfect calibration).

    Example:
        >>> import numpy as np
        >>> lv = np.linspace(0, 1, 11)
        >>> r = CoverageResult(lv, lv, lv, 1.0, 0.0, 0.05, True, "hpd")
        >>> len(plot_coverage(r).axes)
        1
    """
    import matplotlib.pyplot as plt

    if not results or not all(isinstance(r, CoverageResult) for r in results):
        fail(
            "results",
            "one or more CoverageResult",
            [type(r).__name__ for r in results],
            exc=TypeError,
        )
    fig, ax = plt.subplots(figsize=(3.6, 3.4))
    ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1)
    for i, r in enumerate(results):
        name = labels[i] if labels else r.method
        ax.plot(r.levels, r.coverage, label=f"{name} (KS p={r.ks_pvalue:.2g})")
    ax.set_xlabel("credibility level")
    ax.set_ylabel("empirical coverage")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
