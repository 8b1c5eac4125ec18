"""Input checks with errors that name the argument, the expectation, the actual value and a fix.

Every public function validates user input with these helpers (never ``assert``). Messages
follow one template so that tests can pin them::

    <name>: expected <expectation>, got <actual>. <fix>
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "as_tensor",
    "check_choice",
    "check_file",
    "check_positive",
    "check_probability",
    "check_shape",
    "check_tensor",
    "fail",
]


def fail(name: str, expected: str, actual: Any, fix: str = "", *, exc: type = ValueError):
    """Raise ``exc`` with the standard message. Returns never."""
    msg = f"{name}: expected {expected}, got {_describe(actual)}."
    if fix:
        msg += f" {fix}"
    raise exc(msg)


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, str):
        return repr(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def as_tensor(
    name: str,
    value: Any,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Convert array-like ``value`` to a floating tensor or raise ``TypeError`` naming ``name``."""
    if isinstance(value, torch.Tensor):
        t = value
    elif isinstance(value, (np.ndarray, list, tuple, float, int, np.floating, np.integer)):
        try:
            t = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError) as err:  # ragged lists etc.
            fail(name, "a numeric array", value, str(err), exc=TypeError)
    else:
        fail(name, "a torch.Tensor or numpy array", type(value).__name__, exc=TypeError)
    if t.dtype == torch.bool or t.is_complex():
        fail(name, "a real-valued array", t, "Cast it to float first.", exc=TypeError)
    if dtype is not None or not t.is_floating_point():
        t = t.to(dtype or torch.get_default_dtype())
    if device is not None:
        t = t.to(device)
    return t


def check_tensor(
    name: str,
    value: Any,
    *,
    ndim: int | Sequence[int] | None = None,
    last_dim: int | None = None,
    finite: bool = True,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Validate and convert an array argument.

    Args:
        name: argument name used in error messages.
        value: array-like input.
        ndim: allowed number(s) of dimensions.
        last_dim: required size of the last axis.
        finite: reject NaN and infinity.
        dtype: convert to this floating dtype.
        device: move to this device.

    Returns:
        The validated tensor.

    Example:
        >>> check_tensor("theta", [[1.0, 2.0]], ndim=2, last_dim=2).shape
        torch.Size([1, 2])
    """
    t = as_tensor(name, value, dtype=dtype, device=device)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if t.ndim not in allowed:
            exp = " or ".join(f"{d}-D" for d in allowed)
            fail(name, f"a {exp} array", t, "Check the batch axis (batch first).")
    if last_dim is not None and (t.ndim == 0 or t.shape[-1] != last_dim):
        fail(name, f"last dimension of size {last_dim}", t)
    if finite and t.numel() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        fail(
            name,
            "finite values",
            f"{bad} NaN/inf entries in {_describe(t)}",
            "Remove or mask the invalid entries.",
        )
    return t


def check_shape(name: str, value: torch.Tensor, shape: Sequence[int | None]) -> torch.Tensor:
    """Check ``value.shape`` against ``shape`` (``None`` matches any size)."""
    pairs = zip(shape, value.shape, strict=False)
    ok = value.ndim == len(shape) and all(s is None or s == v for s, v in pairs)
    if not ok:
        exp = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        fail(name, f"shape {exp}", value)
    return value


def check_positive(name: str, value: Any, *, strict: bool = True, integer: bool = False):
    """Check that a scalar is (strictly) positive, finite and optionally an integer."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        fail(name, "a number", value, exc=TypeError)
    if integer and not float(value).is_integer():
        fail(name, "an integer", value)
    if not math.isfinite(float(value)) or (value <= 0 if strict else value < 0):
        fail(name, "a finite number " + ("> 0" if strict else ">= 0"), value)
    return int(value) if integer else float(value)


def check_probability(name: str, value: Any, *, open_interval: bool = True) -> float:
    """Check that a scalar lies in (0, 1) (or [0, 1])."""
    v = check_positive(name, value, strict=False)
    lo_ok = v > 0 if open_interval else v >= 0
    hi_ok = v < 1 if open_interval else v <= 1
    if not (lo_ok and hi_ok):
        fail(name, "a number in " + ("(0, 1)" if open_interval else "[0, 1]"), value)
    return v


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        fail(name, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def check_file(name: str, path: str | Path) -> Path:
    """Check that ``path`` exists and is a file; raise ``FileNotFoundError`` otherwise."""
    p = Path(path)
    if not p.is_file():
        fail(name, "an existing file", str(p), "Check the path.", exc=FileNotFoundError)
    return p
