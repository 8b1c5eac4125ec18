"""Diagnostics of posteriors (neurodyn or sbi): C2ST, SBC, expected coverage / TARP, PPC.

Every check works with any posterior that has ``sample((n,), x=...)`` (and ``log_prob`` for
HPD coverage); batched methods (``sample_batched``/``log_prob_batched``) are used when present.
"""

from neurodyn.diagnostics.c2st import c2st
from neurodyn.diagnostics.coverage import CoverageResult, expected_coverage, tarp
from neurodyn.diagnostics.ppc import PPCResult, posterior_predictive_check
from neurodyn.diagnostics.sbc import SBCResult, rank_band, sbc

__all__ = [
    "CoverageResult",
    "PPCResult",
    "SBCResult",
    "c2st",
    "expected_coverage",
    "posterior_predictive_check",
    "rank_band",
    "sbc",
    "tarp",
]
