"""Plots (matplotlib, Agg-safe): traces, pairplots, diagnostics, reports."""

from neurodyn.plot.traces import plot_traces

__all__ = ["plot_traces"]
