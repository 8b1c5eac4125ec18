"""A campaign run in a subprocess by the kill tests: python _campaign_script.py STORE N CHUNK
SEED DELAY WORKERS [NUM_NUISANCE]. Uses local worker processes (scheduler=None)."""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    import cloudpickle
    import toys

    from neurodyn.compute import simulate

    cloudpickle.register_pickle_by_value(toys)
    store, num, chunk, seed, delay, workers = sys.argv[1:7]
    sim = toys.LinearGaussian(delay=float(delay))
    res = simulate(
        sim,
        sim.prior,
        int(num),
        store,
        chunk=int(chunk),
        seed=int(seed),
        workers=int(workers),
        show_progress=False,
    )
    print(res, flush=True)
