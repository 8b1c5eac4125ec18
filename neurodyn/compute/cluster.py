"""Connecting to a ``dask.distributed`` cluster: a local one by default, or any scheduler.

``scheduler`` may be

* ``None``: start a :class:`distributed.LocalCluster` of worker *processes* (CPU simulators:
  ``workers`` processes with ``cores // workers`` numba threads each; CUDA simulators: one
  worker per visible GPU, each seeing only its own GPU through ``CUDA_VISIBLE_DEVICES``);
* a scheduler address such as ``"tcp://10.0.0.5:8786"`` (``dask scheduler`` on a head node,
  or a ``dask_jobqueue.SLURMCluster``'s ``scheduler_address``);
* the path of a scheduler file (``*.json``, written by ``dask scheduler --scheduler-file``);
* an existing :class:`distributed.Client`, used as is and left open.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neurodyn._validation import check_positive, fail

__all__ = ["check_scheduler", "connect"]


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _local_cluster(workers: int | None, gpu: bool):
    from distributed import LocalCluster, Nanny, Scheduler, SpecCluster

    cores = os.cpu_count() or 1
    if gpu:
        n_gpu = _gpu_count()
        if n_gpu == 0:
            fail(
                "simulator",
                "a CPU simulator or a machine with a CUDA GPU",
                "a CUDA simulator on a machine without a GPU",
                'Use device="cpu".',
            )
        n = min(workers or n_gpu, n_gpu)
        threads = max(1, cores // n)
        specs = {
            f"gpu-{i}": {
                "cls": Nanny,
                "options": {
                    "nthreads": 1,
                    "env": {
                        "CUDA_VISIBLE_DEVICES": str(i),
                        "NUMBA_NUM_THREADS": str(threads),
                        "OMP_NUM_THREADS": "1",
                    },
                    "silence_logs": logging.ERROR,
                },
            }
            for i in range(n)
        }
        scheduler = {"cls": Scheduler, "options": {"dashboard_address": ":0"}}
        return SpecCluster(workers=specs, scheduler=scheduler, silence_logs=logging.ERROR)
    n = workers or max(1, min(cores, 2))
    threads = max(1, cores // n)
    return LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
        env={"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": "1"},
    )


def check_scheduler(scheduler: Any) -> dict[str, Any]:
    """Validate a scheduler address or file; return the ``Client`` keyword arguments."""
    if not isinstance(scheduler, (str, Path)):
        fail(
            "scheduler",
            "None, a scheduler address, a scheduler file or a distributed.Client",
            type(scheduler).__name__,
            exc=TypeError,
        )
    text = str(scheduler)
    if text.endswith(".json"):
        if not Path(text).is_file():
            fail(
                "scheduler",
                "an existing scheduler file",
                text,
                "Check the path.",
                exc=FileNotFoundError,
            )
        return {"scheduler_file": text}
    if "://" not in text and ":" not in text:
        fail("scheduler", "an address like 'tcp://host:8786' or a scheduler file (.json)", text)
    return {"address": text}


def connect(
    scheduler: Any = None,
    *,
    workers: int | None = None,
    gpu: bool = False,
    timeout: float = 20.0,
) -> tuple[Any, Callable[[], None]]:
    """Return ``(client, close)`` for ``scheduler`` (see the module docstring).

    Args:
        scheduler: ``None``, an address, a scheduler-file path or a ``distributed.Client``.
        workers: number of local worker processes (only with ``scheduler=None``).
        gpu: start one worker per GPU (only with ``scheduler=None``).
        timeout: seconds to wait for a remote scheduler before raising ``ConnectionError``.

    Returns:
        The client and a function that closes what this call started (a no-op for a
        client passed in).

    Example:
        >>> client, close = connect("tcp://127.0.0.1:9", timeout=0.5)
        Traceback (most recent call last):
        ...
        ConnectionError: scheduler: expected a reachable dask scheduler...
    """
    from distributed import Client

    timeout = check_positive("timeout", timeout)
    if workers is not None:
        workers = check_positive("workers", workers, integer=True)
    if isinstance(scheduler, Client):
        return scheduler, lambda: None
    if scheduler is None:
        cluster = _local_cluster(workers, gpu)
        client = Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close
    kwargs = check_scheduler(scheduler)
    text = str(scheduler)
    try:
        client = Client(**kwargs, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError) as err:
        fail(
            "scheduler",
            "a reachable dask scheduler",
            text,
            f"No connection within {timeout:g} s ({type(err).__name__}). Start one with "
            "`dask scheduler` (and `dask worker ADDRESS`), check the address/firewall, or "
            "leave --scheduler out to run on local worker processes.",
            exc=ConnectionError,
        )
    return client, client.close
