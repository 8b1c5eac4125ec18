"""Dispatch of ``neurodyn study NAME`` to the study modules (imported lazily)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from neurodyn._validation import check_choice

__all__ = ["STUDIES", "run_study"]

STUDIES = ("hh-synthetic", "hh-allen", "pyloric", "pyloric-posterior")


def run_study(
    name: str,
    *,
    out: str | Path,
    num_simulations: int = 20_000,
    max_epochs: int = 200,
    seed: int = 0,
    device: str = "auto",
    budget_s: float = 420.0,
    echo: Callable[[str], None] = print,
) -> Path:
    """Run study ``name`` (one of :data:`STUDIES`) and return the path of its HTML report.

    ``budget_s`` is the wall-clock budget of ``pyloric-posterior`` (the other studies ignore it).
    """
    check_choice("name", name, STUDIES)
    if name == "hh-synthetic":
        from neurodyn.studies.hh_synthetic import HHSyntheticConfig, run_hh_synthetic

        cfg = HHSyntheticConfig(
            num_simulations=num_simulations, max_epochs=max_epochs, seed=seed, device=device
        )
        return run_hh_synthetic(cfg, out=out, progress=echo).report
    if name == "hh-allen":
        from neurodyn.studies.hh_allen import HHAllenConfig, run_hh_allen

        cfg = HHAllenConfig(
            num_simulations=num_simulations, max_epochs=max_epochs, seed=seed, device=device
        )
        return run_hh_allen(cfg, out=out, progress=echo).report
    if name == "pyloric-posterior":
        from neurodyn.studies.pyloric_posterior import (
            PyloricPosteriorConfig,
            run_pyloric_posterior_study,
        )

        echo(f"pyloric posterior: sequential NPE + analyses within {budget_s:g} s (GPU advised)")
        cfg = PyloricPosteriorConfig(budget_s=budget_s, seed=seed, device=device)
        return run_pyloric_posterior_study(cfg, out=out, echo=echo).report
    from neurodyn.studies.pyloric import PyloricStudyConfig, run_pyloric_study

    echo("simulating 45 pyloric networks along the eLife paths (minutes on a CPU)")
    return run_pyloric_study(PyloricStudyConfig(seed=seed, device=device), out=out).report
