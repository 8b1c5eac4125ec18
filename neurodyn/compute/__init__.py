"""Simulation campaigns at scale and training beyond memory.

* :func:`simulate` runs (or resumes) a campaign on ``dask.distributed`` (local worker
  processes by default, any scheduler address, GPU workers for CUDA simulators) into a
  resumable zarr store (:class:`SimulationStore`).
* :class:`ZarrSource` streams training batches from a store larger than memory;
  :class:`OnlineSource` simulates fresh batches while training.
* :func:`simulate_rounds` runs sequential rounds, one store group per round.
"""

from neurodyn.compute.campaign import CampaignResult, draw_theta, simulate
from neurodyn.compute.cluster import connect
from neurodyn.compute.sources import OnlineSource, ZarrSource
from neurodyn.compute.store import SimulationStore

__all__ = [
    "CampaignResult",
    "OnlineSource",
    "SimulationStore",
    "ZarrSource",
    "connect",
    "draw_theta",
    "simulate",
]
