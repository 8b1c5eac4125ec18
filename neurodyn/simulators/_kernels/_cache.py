"""Disk-cache freshness for the compiled kernels: one stamp for the whole kernel package.

numba stamps an on-disk cache entry (``cache=True``) with the hash of the ONE file that defines
the function. A kernel in ``hh_cpu.py`` that calls ``fexp`` from ``mathfn.py`` therefore keeps
loading its old machine code after ``mathfn.py`` changes (an upgrade of neurodyn, or a local
edit): a silent wrong (or slow) kernel. :func:`install` registers cache locators, ahead of
numba's own, that serve the functions defined in this package and stamp them with the hash of
ALL ``*.py`` files of the package (:func:`kernel_sources_hash`), so any change recompiles every
kernel once. Functions defined elsewhere keep numba's behaviour. Both the CPU cache
(``numba.core.caching``) and, when importable, the CUDA one (``numba.cuda.core.caching``) are
covered; if numba's internals differ from what this expects, nothing is changed.

Example:
    >>> from neurodyn.simulators._kernels._cache import kernel_sources_hash
    >>> len(kernel_sources_hash())
    32
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__all__ = ["install", "install_cuda", "kernel_sources_hash"]

_DIR = Path(__file__).resolve().parent


def _stats() -> tuple:
    return tuple(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(_DIR.glob("*.py"))
    )


@functools.lru_cache(maxsize=8)
def _hash_for(stats: tuple) -> bytes:
    h = hashlib.sha256()
    for name, _, _ in stats:
        h.update(name.encode())
        h.update((_DIR / name).read_bytes())
    return h.digest()


def kernel_sources_hash() -> bytes:
    """sha256 (32 bytes) over the names and contents of the package's ``*.py`` files."""
    return _hash_for(_stats())


class _PackageStampMixin:
    """Serve only functions defined in this package; stamp them with the package hash."""

    @classmethod
    def from_function(cls, py_func, py_file):
        try:
            if Path(py_file).resolve().parent != _DIR:
                return None
        except (OSError, TypeError):
            return None
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return kernel_sources_hash()


def _patch(caching) -> None:
    impl = getattr(caching, "CacheImpl", None)
    mixin_base = getattr(caching, "_SourceFileBackedLocatorMixin", None)
    classes = getattr(impl, "_locator_classes", None)
    if impl is None or mixin_base is None or not isinstance(classes, list):
        return
    if any(getattr(c, "_neurodyn", False) for c in classes):
        return
    ours = [
        type(f"NeurodynPackage{base.__name__}", (_PackageStampMixin, base), {"_neurodyn": True})
        for base in classes
        if isinstance(base, type) and issubclass(base, mixin_base)
    ]
    classes[:0] = ours


def install() -> None:
    """Register the package-wide cache stamp with numba's CPU cache; idempotent."""
    from numba.core import caching

    _patch(caching)


def install_cuda() -> None:
    """The same for numba-cuda's cache (call after ``numba.cuda`` is imported); idempotent."""
    try:
        from numba.cuda.core import caching as cuda_caching
    except Exception:  # numba-cuda absent or of another layout: keep numba's stamps
        return
    _patch(cuda_caching)
