"""Train NPE on a store inside a memory limit: python _memlimit_train.py STORE OUT MODE
HEADROOM_MB EPOCHS. MODE is "stream" (ZarrSource under RLIMIT_AS = warm-up size + headroom),
"load_all" (the control: read the whole store under the same limit; must fail) or "memory"
(in-memory training, no limit). Prints one JSON line."""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import threading
import time


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")


def main() -> None:
    store, out, mode, headroom_mb, epochs = sys.argv[1:6]
    # small thread stacks: the limit is on address space, and every I/O thread that zarr's
    # pool starts later would otherwise reserve 8 MiB of it without using it
    threading.stack_size(512 * 1024)
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from neurodyn.compute import SimulationStore, ZarrSource
    from neurodyn.inference import NPE, InMemorySource, NPEConfig

    cfg = NPEConfig(
        estimator="mdn",
        num_components=1,
        hidden_features=32,
        batch_size=512,
        max_epochs=int(epochs),
        patience=100,
        validation_fraction=0.02,
        num_threads=1,
        seed=0,
    )
    st = SimulationStore.open(store)
    prior_low, prior_high = st.provenance["prior_low"], st.provenance["prior_high"]
    from neurodyn.priors import BoxUniform

    prior = BoxUniform(prior_low, prior_high)
    # warm-up: every code path (zarr's I/O thread, the prefetch thread, autograd, Adam)
    small = ZarrSource(
        store,
        validation_fraction=0.02,
        shuffle_buffer=20_000,
        moment_samples=20_000,
        allow_incomplete=True,
    )
    warm = NPE(prior, dataclasses.replace(cfg, max_epochs=1))
    theta_w, x_w = next(small.train_batches(2048, torch.Generator().manual_seed(0), "cpu"))
    warm.append_simulations(theta_w, x_w).train(show_progress=False)
    data_bytes = st.num * 4 * (st.num_params + st.num_features)
    limit = None
    if mode != "memory":
        limit = _vm_bytes() + int(headroom_mb) * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    t0 = time.time()
    result = {"mode": mode, "data_bytes": data_bytes, "limit_headroom": int(headroom_mb) * 2**20}
    if mode == "load_all":
        try:
            theta = np.asarray(st.root["theta"][:])
            x = np.asarray(st.root["x"][:])
            result["loaded"] = int(theta.nbytes + x.nbytes)
        except MemoryError:
            result["loaded"] = None
    else:
        if mode == "stream":
            source = ZarrSource(
                store,
                validation_fraction=cfg.validation_fraction,
                shuffle_buffer=50_000,
                moment_samples=100_000,
            )
        else:
            source = InMemorySource(
                torch.from_numpy(np.asarray(st.root["theta"][:])),
                torch.from_numpy(np.asarray(st.root["x"][:])),
                validation_fraction=cfg.validation_fraction,
                seed=0,
            )
        npe = NPE(prior, cfg)
        npe.train(source=source, show_progress=False)
        npe.build_posterior().save(out)
        result.update(
            num_train=source.num_train,
            epochs=npe.summary.epochs,
            best_val_loss=npe.summary.best_val_loss,
        )
    result["seconds"] = time.time() - t0
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
