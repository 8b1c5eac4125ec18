"""Training-data sources for neural posterior estimation.

:class:`BatchSource` is the protocol the NPE training loop consumes: anything that yields
minibatches of ``(theta, x)`` on a device and knows the moments used for z-scoring. In-memory
simulations are wrapped in :class:`InMemorySource`; zarr-backed and online sources
(:mod:`neurodyn.compute`) implement the same protocol.

Conventions:

* ``theta`` batches have shape ``(batch, num_params)``; ``x`` batches ``(batch, *x_shape)``
  with ``num_features = prod(x_shape)`` (``x_shape = (num_features,)`` for feature vectors).
* Only valid simulations (all entries of ``x`` finite) are yielded.
* ``train_batches`` yields one epoch; for an online source one "epoch" is whatever chunk the
  source decides (``num_train`` is then ``None``).
* ``val_batches`` is fixed and deterministic (same batches in the same order every call).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from neurodyn._validation import check_positive, check_probability, check_tensor, fail

__all__ = ["BatchSource", "InMemorySource", "split_valid"]


@runtime_checkable
class BatchSource(Protocol):
    """Protocol of a source of ``(theta, x)`` training minibatches.

    Attributes:
        num_params: size of the last axis of ``theta``.
        num_features: number of entries of one ``x`` (``prod(x_shape)``).
        num_train: number of training pairs, or ``None`` for an infinite/online source.
        num_val: number of validation pairs, or ``None`` when unknown.
    """

    num_params: int
    num_features: int
    num_train: int | None
    num_val: int | None

    def train_batches(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of shuffled ``(theta (B, num_params), x (B, *x_shape))`` on ``device``."""
        ...

    def val_batches(
        self, batch_size: int, device: torch.device | str
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """The fixed validation set in deterministic batches on ``device``."""
        ...

    def moments(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(theta_mean, theta_std, x_mean, x_std)`` of the training data.

        Shapes ``(num_params,)`` for theta and ``x_shape`` for x (stds not floored).
        """
        ...


def split_valid(theta: Tensor, x: Tensor) -> tuple[Tensor, Tensor, int]:
    """Drop simulations whose ``x`` has any NaN/inf entry.

    Args:
        theta: parameters, shape ``(num, num_params)``.
        x: simulation outputs, shape ``(num, *x_shape)``.

    Returns:
        ``(theta_valid, x_valid, num_invalid)``.

    Example:
        >>> t = torch.zeros(3, 1); x = torch.tensor([[1.0], [float("nan")], [2.0]])
        >>> split_valid(t, x)[2]
        1
    """
    flat = x.reshape(x.shape[0], -1)
    ok = torch.isfinite(flat).all(dim=1) & torch.isfinite(theta).all(dim=1)
    num_invalid = int((~ok).sum())
    if num_invalid:
        return theta[ok], x[ok], num_invalid
    return theta, x, 0


class InMemorySource:
    """Simulations held in memory (optionally already on the training device).

    Invalid simulations (any NaN/inf in a row of ``x``) are removed and counted in
    ``num_invalid``. A fixed random permutation (``seed``) splits the valid pairs into
    training and validation parts.

    Args:
        theta: parameters, shape ``(num, num_params)``.
        x: simulation outputs, shape ``(num, *x_shape)``.
        validation_fraction: fraction of valid pairs held out, in ``[0, 1)``.
        seed: seed of the train/validation permutation.
        device: where the data are stored (``None`` keeps ``theta``'s device).

    Example:
        >>> theta = torch.randn(100, 2); x = theta + 0.1 * torch.randn(100, 2)
        >>> src = InMemorySource(theta, x, validation_fraction=0.1)
        >>> src.num_train, src.num_val, src.num_invalid
        (90, 10, 0)
        >>> g = torch.Generator().manual_seed(0)
        >>> [tuple(t.shape) for t, _ in src.train_batches(64, g, "cpu")]
        [(64, 2), (26, 2)]
    """

    def __init__(
        self,
        theta: Tensor,
        x: Tensor,
        *,
        validation_fraction: float = 0.1,
        seed: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        theta = check_tensor("theta", theta, ndim=2, finite=False)
        x = check_tensor("x", x, finite=False)
        if x.ndim < 2:
            fail(
                "x",
                "an array of shape (num_simulations, num_features)",
                x,
                "Add the batch axis first, e.g. x[None] for one simulation.",
            )
        if theta.shape[0] != x.shape[0]:
            fail(
                "x",
                f"{theta.shape[0]} rows (one per row of theta)",
                x,
                "theta and x must hold the same number of simulations.",
            )
        if validation_fraction != 0:
            check_probability("validation_fraction", validation_fraction)
        device = torch.device(device) if device is not None else theta.device
        dtype = torch.get_default_dtype()
        theta, x, self.num_invalid = split_valid(theta, x)
        num = theta.shape[0]
        if num == 0:
            fail(
                "x",
                "at least one valid simulation (all entries finite)",
                f"{self.num_invalid} simulations, all invalid",
                "Check the simulator or restrict the prior (RestrictionClassifier).",
            )
        num_val = math.floor(validation_fraction * num)
        if validation_fraction > 0 and num >= 2:
            num_val = max(num_val, 1)
        num_val = min(num_val, num - 1)
        perm = torch.randperm(num, generator=torch.Generator().manual_seed(seed))
        perm = perm.to(theta.device)
        theta = theta[perm].to(device=device, dtype=dtype)
        x = x[perm].to(device=device, dtype=dtype)
        self._theta_val, self._x_val = theta[:num_val], x[:num_val]
        self._theta_train, self._x_train = theta[num_val:], x[num_val:]
        self._cache: dict[torch.device, tuple[Tensor, ...]] = {
            device: (self._theta_train, self._x_train, self._theta_val, self._x_val)
        }
        self.num_params = int(theta.shape[1])
        self.x_shape = tuple(int(s) for s in x.shape[1:])
        self.num_features = int(math.prod(self.x_shape))
        self.num_train: int | None = int(self._theta_train.shape[0])
        self.num_val: int | None = int(num_val)

    def _on(self, device: torch.device | str) -> tuple[Tensor, ...]:
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        for key, value in self._cache.items():
            if key == device or (key.type == device.type == "cpu"):
                return value
        value = tuple(t.to(device) for t in next(iter(self._cache.values())))
        self._cache[device] = value
        return value

    def train_batches(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One shuffled epoch; the permutation is drawn from ``generator`` (a CPU generator)."""
        batch_size = check_positive("batch_size", batch_size, integer=True)
        theta, x, _, _ = self._on(device)
        n = theta.shape[0]
        perm = torch.randperm(n, generator=generator).to(theta.device)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            yield theta[idx], x[idx]

    def val_batches(
        self, batch_size: int, device: torch.device | str
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """The validation pairs in order, ``batch_size`` at a time."""
        batch_size = check_positive("batch_size", batch_size, integer=True)
        _, _, theta, x = self._on(device)
        for start in range(0, theta.shape[0], batch_size):
            yield theta[start : start + batch_size], x[start : start + batch_size]

    def moments(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Mean and std (``unbiased=False``) of the training theta and x, on CPU."""
        theta, x = self._theta_train.double(), self._x_train.double()
        dtype = torch.get_default_dtype()
        out = (theta.mean(0), theta.std(0, correction=0), x.mean(0), x.std(0, correction=0))
        return tuple(t.to(device="cpu", dtype=dtype) for t in out)  # type: ignore[return-value]

    def all_train(self) -> tuple[Tensor, Tensor]:
        """All training pairs ``(theta, x)`` (used by the restriction classifier)."""
        return self._theta_train, self._x_train

    def __repr__(self) -> str:
        return (
            f"InMemorySource(num_train={self.num_train}, num_val={self.num_val}, "
            f"num_invalid={self.num_invalid}, x_shape={self.x_shape})"
        )
