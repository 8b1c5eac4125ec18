"""Run-time settings shared by the package: devices, CPU threads, progress bars."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

from neurodyn._validation import fail

__all__ = ["cpu_threads", "progress", "resolve_device"]

T = TypeVar("T")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``"auto"``/``None``/``"cpu"``/``"cuda"``/``"cuda:1"`` into a :class:`torch.device`.

    ``"auto"`` (or ``None``) picks CUDA when available. Asking for CUDA without a GPU raises a
    ``ValueError`` that says so.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        fail("device", '"cpu", "cuda", "cuda:N" or "auto"', device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        fail(
            "device",
            "a device present on this machine",
            str(device),
            'No CUDA GPU is visible; use device="cpu".',
        )
    if dev.type not in ("cpu", "cuda"):
        fail("device", '"cpu" or "cuda"', str(device))
    return dev


@contextmanager
def cpu_threads(num_threads: int | None = None) -> Iterator[int]:
    """Temporarily set torch's intra-op CPU threads.

    On small machines torch's default thread count makes small networks several times slower
    (measured: small flows ~10x slower per step on 2 cores). ``None`` uses
    ``NEURODYN_NUM_THREADS`` or else ``min(4, cores // 2)`` (at least 1).
    """
    if num_threads is None:
        env = os.environ.get("NEURODYN_NUM_THREADS")
        num_threads = int(env) if env else max(1, min(4, (os.cpu_count() or 2) // 2))
    old = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield num_threads
    finally:
        torch.set_num_threads(old)


def progress(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    description: str = "",
    disable: bool | None = None,
) -> Iterator[T]:
    """Wrap ``iterable`` in a rich progress bar.

    The bar is hidden when ``disable`` is true, or (``disable=None``) when stderr is not a
    terminal or ``NEURODYN_PROGRESS=0``.
    """
    if disable is None:
        disable = os.environ.get("NEURODYN_PROGRESS", "1") == "0"
    if disable:
        yield from iterable
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(description, total=total)
        for item in iterable:
            yield item
            bar.advance(task)


def accepts_keyword(fn: Any, name: str, *, unknown: bool) -> bool:
    """Does callable ``fn`` take the keyword argument ``name`` (or ``**kwargs``)?

    ``unknown`` is returned when the signature cannot be read (builtins, some C extensions).

    Example:
        >>> accepts_keyword(lambda x, *, seed=0: x, "seed", unknown=False)
        True
    """
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return unknown
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
