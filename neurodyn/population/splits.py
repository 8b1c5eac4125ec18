"""Chronological train/validation/test splits and training-split z-scoring.

Every population model and baseline in :mod:`neurodyn.population` is fitted on the first part
of a recording, tuned on the next and scored on the last, so that no future activity leaks into
training. The statistics for z-scoring come from the training part only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from neurodyn._validation import as_tensor, check_positive, fail

__all__ = ["chronological_split", "zscore_stats"]

#: Floor applied to the standard deviation returned by :func:`zscore_stats`.
STD_FLOOR = 1e-6


def chronological_split(
    num_steps: int,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    *,
    min_steps: int = 1,
) -> tuple[slice, slice, slice]:
    """Split ``range(num_steps)`` into consecutive train, validation and test blocks.

    The train block has ``round(fractions[0] * num_steps)`` steps, the validation block
    ``round(fractions[1] * num_steps)`` and the test block the rest, in this order in time.
    A validation fraction of 0 gives an empty validation slice.

    Args:
        num_steps: number of time steps of the recording (>= 2).
        fractions: ``(train, validation, test)`` fractions; each in [0, 1], train and test
            > 0, summing to 1.
        min_steps: minimum number of steps of each non-empty block (e.g. ``window + 1`` for
            a model with a context window).

    Returns:
        ``(train, val, test)`` slices along the time axis.

    Raises:
        ValueError: bad ``num_steps``, ``fractions`` or ``min_steps``, or a block shorter than
            ``min_steps``.

    Example:
        >>> chronological_split(100)
        (slice(0, 70, None), slice(70, 80, None), slice(80, 100, None))
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)):
        fail("num_steps", "an integer", num_steps, exc=TypeError)
    if num_steps < 2:
        fail("num_steps", "an integer >= 2", num_steps, "The recording is too short to split.")
    min_steps = check_positive("min_steps", min_steps, integer=True)
    if isinstance(fractions, (str, bytes)) or not isinstance(fractions, Sequence):
        fail("fractions", "a sequence of 3 numbers (train, val, test)", fractions, exc=TypeError)
    if len(fractions) != 3:
        fail("fractions", "3 numbers (train, val, test)", tuple(fractions))
    values = []
    for f in fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float, np.integer, np.floating)):
            fail("fractions", "numbers", tuple(fractions), exc=TypeError)
        values.append(float(f))
    train_f, val_f, test_f = values
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
        fail("fractions", "each fraction in [0, 1]", tuple(fractions))
    if train_f <= 0.0 or test_f <= 0.0:
        fail("fractions", "train and test fractions > 0", tuple(fractions))
    if abs(sum(values) - 1.0) > 1e-6:
        fail("fractions", "fractions summing to 1", tuple(fractions), "Rescale them.")
    n_train = round(train_f * num_steps)
    n_val = round(val_f * num_steps) if val_f > 0 else 0
    n_test = num_steps - n_train - n_val
    for name, n, frac in (
        ("train", n_train, train_f),
        ("val", n_val, val_f),
        ("test", n_test, test_f),
    ):
        if frac > 0 and n < min_steps:
            fail(
                "num_steps",
                f"a recording long enough for a {name} block of >= {min_steps} steps",
                f"{num_steps} steps ({name} block of {n})",
                "Use a longer recording, other fractions or a smaller window.",
            )
    return (
        slice(0, n_train),
        slice(n_train, n_train + n_val),
        slice(n_train + n_val, num_steps),
    )


def zscore_stats(activity_train: Any) -> tuple[Any, Any]:
    """Per-channel mean and standard deviation of a training block, ignoring NaN frames.

    Args:
        activity_train: ``(num_steps,)`` or ``(num_steps, num_channels)`` array or tensor (time
            first). NaN entries are ignored; each channel needs >= 1 finite value.

    Returns:
        ``(mean, std)``, each of shape ``(num_channels,)`` (0-D for 1-D input), of the same kind
        as the input (numpy float64 for arrays, a floating tensor on the input's device for
        tensors). ``std`` is the population standard deviation (ddof 0) floored at 1e-6.

    Raises:
        TypeError: not a real numeric array.
        ValueError: wrong number of dimensions, infinite values or an all-NaN channel.

    Example:
        >>> mean, std = zscore_stats(np.array([[0.0, 1.0], [2.0, 1.0]]))
        >>> mean, std
        (array([1., 1.]), array([1.e+00, 1.e-06]))
    """
    is_numpy = not isinstance(activity_train, torch.Tensor)
    x = as_tensor(
        "activity_train",
        activity_train,
        dtype=torch.float64 if is_numpy else None,
    )
    if x.ndim not in (1, 2):
        fail("activity_train", "a 1-D or 2-D array (num_steps, num_channels)", x)
    if x.shape[0] == 0:
        fail("activity_train", "at least one time step", x)
    if bool(torch.isinf(x).any()):
        fail("activity_train", "finite or NaN values", "infinite entries", "Remove them.")
    finite = ~torch.isnan(x)
    count = finite.sum(0)
    if bool((count == 0).any()):
        bad = int((count == 0).sum())
        fail(
            "activity_train",
            "at least one finite value per channel",
            f"{bad} all-NaN channel(s)",
            "Drop those channels.",
        )
    filled = torch.where(finite, x, torch.zeros((), dtype=x.dtype, device=x.device))
    mean = filled.sum(0) / count
    dev = torch.where(finite, x - mean, torch.zeros((), dtype=x.dtype, device=x.device))
    std = ((dev**2).sum(0) / count).sqrt().clamp_min(STD_FLOOR)
    if is_numpy:
        return mean.numpy(), std.numpy()
    return mean, std
