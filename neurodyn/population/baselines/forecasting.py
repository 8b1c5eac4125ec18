"""Baseline forecasters: common protocol, settings, persistence and ridge VAR.

Every forecaster fits on the train and validation blocks of
:func:`~neurodyn.population.splits.chronological_split` (the test block is never touched),
z-scores with training statistics and predicts teacher-forced one step ahead:
``predict(activity, behaviour=None)`` returns ``(num_steps, N)`` in the original units, row t
predicting ``activity[t]`` from rows ``< t`` (the first ``window`` rows NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neurodyn._validation import as_tensor, check_positive, fail
from neurodyn.population.splits import chronological_split, zscore_stats

__all__ = ["BaselineConfig", "LastValue", "RidgeVAR"]


@dataclass(frozen=True)
class BaselineConfig:
    """Training settings of the neural-network baselines (defaults match SynapsNetConfig).

    Attributes:
        window: context window W (time steps).
        hidden_dim: hidden units (RNN state, MLP width, attention key size).
        num_layers: RNN layers or MLP hidden layers.
        embedding_dim: neuron embedding size (NeuPRINT, NetFormer).
        lr: Adam learning rate.
        batch_size: windows per optimiser step.
        epochs: maximum passes over the training windows.
        patience: epochs without validation improvement before stopping (best weights kept).
        grad_clip: maximal gradient norm (0: none).
        split: ``(train, val, test)`` fractions.
        seed: seed of initialisation and batch order.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
    """

    window: int = 16
    hidden_dim: int = 64
    num_layers: int = 2
    embedding_dim: int = 16
    lr: float = 1e-3
    batch_size: int = 64
    epochs: int = 50
    patience: int = 5
    grad_clip: float = 1.0
    split: tuple[float, float, float] = (0.7, 0.1, 0.2)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("window", "hidden_dim", "num_layers", "batch_size", "epochs", "patience"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("embedding_dim", self.embedding_dim, strict=False, integer=True)
        check_positive("lr", self.lr)
        check_positive("grad_clip", self.grad_clip, strict=False)
        check_positive("seed", self.seed, strict=False, integer=True)
        chronological_split(100, self.split)  # validates the fractions
        object.__setattr__(self, "split", tuple(float(f) for f in self.split))


# --------------------------------------------------------------------------- data handling


def _inputs(activity: Any, behaviour: Any, num_behaviour: int | None = None):
    x = as_tensor("activity", activity, dtype=torch.float32)
    if x.ndim != 2 or x.shape[1] < 2:
        fail("activity", "a 2-D array (num_steps, num_neurons >= 2)", x)
    if not bool(torch.isfinite(x).all()):
        fail(
            "activity",
            "finite values",
            f"{int((~torch.isfinite(x)).sum())} NaN/inf entries",
            "Drop or interpolate those frames.",
        )
    b = None
    if behaviour is not None:
        b = as_tensor("behaviour", behaviour, dtype=torch.float32)
        if b.ndim == 1:
            b = b[:, None]
        if b.ndim != 2 or b.shape[0] != x.shape[0]:
            fail(
                "behaviour",
                f"a ({x.shape[0]}, num_behaviour) array",
                b,
                "Give one behaviour row per activity row.",
            )
        if not bool(torch.isfinite(b).all()):
            fail("behaviour", "finite values", "NaN/inf entries")
    if num_behaviour is not None and (0 if b is None else b.shape[1]) != num_behaviour:
        fail("behaviour", f"{num_behaviour} behaviour channels as in fit", b)
    return x, b


class _Forecaster:
    """Common fit/predict plumbing: split, z-scoring, unit conversion."""

    window: int = 1
    split: tuple[float, float, float] = (0.7, 0.1, 0.2)

    def _setup(self, activity: Any, behaviour: Any):
        x, b = _inputs(activity, behaviour)
        train, val, _ = chronological_split(x.shape[0], self.split, min_steps=self.window + 1)
        self.num_neurons = x.shape[1]
        self.num_behaviour = 0 if b is None else b.shape[1]
        self.mean, self.std = zscore_stats(x[train])
        z = (x - self.mean) / self.std
        zb = None
        if b is not None:
            self.bmean, self.bstd = zscore_stats(b[train])
            zb = (b - self.bmean) / self.bstd
        return z, zb, train, val

    def _z(self, activity: Any, behaviour: Any):
        if not hasattr(self, "mean"):
            fail("model", "a fitted model", "an unfitted one", "Call fit() first.")
        x, b = _inputs(activity, behaviour, self.num_behaviour)
        if x.shape[1] != self.num_neurons:
            fail("activity", f"{self.num_neurons} neurons (columns) as in fit", x)
        if x.shape[0] <= self.window:
            fail("activity", f"more than window={self.window} time steps", x)
        zb = None if b is None else (b - self.bmean) / self.bstd
        return (x - self.mean) / self.std, zb

    def _units(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean


class LastValue(_Forecaster):
    """Persistence forecast ``x_hat[t] = x[t-1]``.

    Example:
        >>> LastValue().fit(np.arange(20.0).reshape(10, 2)).predict([[1.0, 2], [3, 4]])
        tensor([[nan, nan],
                [1., 2.]])
    """

    def fit(self, activity: Any, behaviour: Any = None) -> LastValue:
        """Record the number of neurons (nothing is learned); returns self."""
        x, b = _inputs(activity, behaviour)
        self.num_neurons, self.num_behaviour = x.shape[1], 0 if b is None else b.shape[1]
        self.mean, self.std = torch.zeros(x.shape[1]), torch.ones(x.shape[1])
        self.bmean, self.bstd = torch.zeros(self.num_behaviour), torch.ones(self.num_behaviour)
        return self

    def predict(self, activity: Any, behaviour: Any = None) -> torch.Tensor:
        """``(num_steps, N)`` one-step predictions; row 0 is NaN."""
        z, _ = self._z(activity, behaviour)
        out = torch.full_like(z, float("nan"))
        out[1:] = z[:-1]
        return self._units(out)


class RidgeVAR(_Forecaster):
    """Linear vector autoregression ``z[t] = c + sum_k A_k z[t-k] + B_k b[t-k]`` with ridge.

    Lag order and ridge penalty are chosen by validation MSE; the coefficients are fitted on
    the training block (z-scored units).

    Args:
        lags: candidate lag orders.
        alphas: candidate ridge penalties (in units of the z-scored Gram matrix).
        split: ``(train, val, test)`` fractions.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = np.zeros((2000, 2))
        >>> for t in range(1, 2000):
        ...     x[t] = [[0.5, 0.3], [0.0, 0.8]] @ x[t - 1] + rng.normal(size=2)
        >>> var = RidgeVAR(lags=(1,), alphas=(1e-3,)).fit(x)
        >>> np.round(var.coefficients(), 1)
        array([[0.5, 0.3],
               [0. , 0.8]])
    """

    def __init__(
        self,
        lags: tuple[int, ...] = (1, 2, 4),
        alphas: tuple[float, ...] = (1e-1, 1.0, 10.0, 100.0, 1000.0),
        split: tuple[float, float, float] = (0.7, 0.1, 0.2),
    ) -> None:
        if not lags or not all(isinstance(k, int) and k >= 1 for k in lags):
            fail("lags", "a non-empty tuple of integers >= 1", lags)
        if not alphas or not all(check_positive("alphas", a) for a in alphas):
            fail("alphas", "a non-empty tuple of numbers > 0", alphas)
        self.lags, self.alphas, self.split = tuple(lags), tuple(alphas), tuple(split)
        self.window = max(self.lags)

    @staticmethod
    def _design(z: torch.Tensor, zb: torch.Tensor | None, lags: int, rows: torch.Tensor):
        parts = [z[rows - k] for k in range(1, lags + 1)]
        if zb is not None:
            parts += [zb[rows - k] for k in range(1, lags + 1)]
        parts.append(torch.ones(rows.numel(), 1, dtype=z.dtype))
        return torch.cat(parts, 1)

    def fit(self, activity: Any, behaviour: Any = None) -> RidgeVAR:
        """Fit on the training block, select ``(lag, alpha)`` on validation; returns self."""
        z, zb, train, val = self._setup(activity, behaviour)
        z, zb = z.double(), None if zb is None else zb.double()
        rows_tr = torch.arange(self.window, train.stop)
        rows_va = torch.arange(max(self.window, val.start), val.stop)
        best = (math.inf, None, None)
        for lag in self.lags:
            xtr = self._design(z, zb, lag, rows_tr)
            gram, rhs = xtr.T @ xtr, xtr.T @ z[rows_tr]
            evals, evecs = torch.linalg.eigh(gram)
            proj = evecs.T @ rhs
            for alpha in self.alphas:
                # the intercept is penalised too; it is ~0 for z-scored data
                beta = evecs @ (proj / (evals + alpha)[:, None])
                if rows_va.numel():
                    err = float(
                        ((self._design(z, zb, lag, rows_va) @ beta - z[rows_va]) ** 2).mean()
                    )
                else:
                    err = float(((xtr @ beta - z[rows_tr]) ** 2).mean())
                if err < best[0]:
                    best = (err, (lag, alpha), beta)
        (self.lag, self.alpha), self.beta = best[1], best[2]
        self.window = self.lag
        return self

    def coefficients(self, lag: int = 1) -> np.ndarray:
        """``(N, N)`` coefficient matrix ``A_lag[i, j]`` (``j -> i``, z-scored units)."""
        n = self.num_neurons
        if not 1 <= lag <= self.lag:
            fail("lag", f"an integer in [1, {self.lag}]", lag)
        return self.beta[(lag - 1) * n : lag * n].T.numpy().copy()

    def predict(self, activity: Any, behaviour: Any = None) -> torch.Tensor:
        """``(num_steps, N)`` one-step predictions; the first ``lag`` rows are NaN."""
        z, zb = self._z(activity, behaviour)
        z, zb = z.double(), None if zb is None else zb.double()
        rows = torch.arange(self.lag, z.shape[0])
        out = torch.full_like(z, float("nan"))
        out[rows] = self._design(z, zb, self.lag, rows) @ self.beta
        return self._units(out.float())
