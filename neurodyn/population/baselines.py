"""Baselines for population forecasting and for functional connectivity.

Forecasters share SynapsNet's interface and protocol: ``fit(activity, behaviour=None)`` uses the
train and validation blocks of :func:`~neurodyn.population.splits.chronological_split` (the test
block is never touched), z-scores with training statistics, and ``predict(activity,
behaviour=None)`` returns teacher-forced one-step predictions ``(num_steps, N)`` in the original
units whose row t predicts ``activity[t]`` from rows ``< t`` (the first ``window`` rows NaN).

* :class:`LastValue` — ``x_hat[t] = x[t-1]``.
* :class:`RidgeVAR` — linear VAR(p) with ridge penalty; lag order and penalty chosen on the
  validation block.
* :class:`RecurrentForecaster` — multichannel LSTM/GRU over the window (all neurons as one
  vector per time step).
* :class:`NeuPRINTForecaster` — per-neuron decoder that sees its own window, the population
  mean and standard deviation windows, behaviour and a neuron embedding (SynapsNet with
  ``A x`` replaced by population statistics; Mi et al. 2023).
* :class:`NetFormerForecaster` — linear (softmax-free) attention between neuron tokens,
  ``x_hat[t] = g x[t-1] + A_t x[t-1]`` with ``A_t = Q K^T / sqrt(d)`` from the windows and
  neuron embeddings (Lu et al., NetFormer); ``connectivity()`` averages ``A_t``.

Connectivity estimators return ``(N, N)`` matrices with ``C[i, j]`` scoring ``j -> i`` and a
zero diagonal: :func:`pearson_connectivity`, :func:`partial_correlation_connectivity`,
:func:`lagged_correlation_connectivity`, :func:`var_connectivity`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from neurodyn._runtime import resolve_device
from neurodyn._validation import as_tensor, check_choice, check_positive, fail
from neurodyn.population.splits import chronological_split, zscore_stats

__all__ = [
    "BaselineConfig",
    "LastValue",
    "NetFormerForecaster",
    "NeuPRINTForecaster",
    "RecurrentForecaster",
    "RidgeVAR",
    "lagged_correlation_connectivity",
    "partial_correlation_connectivity",
    "pearson_connectivity",
    "var_connectivity",
]


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


# --------------------------------------------------------------------------- neural baselines


class _NeuralForecaster(_Forecaster):
    """Window-based torch forecaster trained like SynapsNet (Adam, MSE, early stopping)."""

    def __init__(self, config: BaselineConfig | None = None) -> None:
        config = BaselineConfig() if config is None else config
        if not isinstance(config, BaselineConfig):
            fail("config", "a BaselineConfig", type(config).__name__, exc=TypeError)
        self.config = config
        self.window = config.window
        self.split = config.split
        self.history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}

    def _build(self) -> nn.Module:
        raise TypeError("subclasses build their network")  # pragma: no cover

    def _windows(self, z, zb, ends: torch.Tensor):
        """Windows ending before ``ends``: ``(B, W, N)`` and ``(B, W, nb)`` or None."""
        idx = ends[:, None] - self.window + torch.arange(self.window, device=z.device)
        return z[idx], None if zb is None else zb[idx]

    def fit(self, activity: Any, behaviour: Any = None) -> _NeuralForecaster:
        """Train on the training block with early stopping on the validation block."""
        cfg = self.config
        device = resolve_device(cfg.device)
        z, zb, train, val = self._setup(activity, behaviour)
        z = z.to(device)
        zb = None if zb is None else zb.to(device)
        gen = torch.Generator().manual_seed(cfg.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.net = self._build().to(device)
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        ends_tr = torch.arange(self.window, train.stop, device=device)
        ends_va = torch.arange(max(self.window, val.start), val.stop, device=device)
        if ends_va.numel() == 0:
            ends_va = ends_tr
        best, best_state, waited = math.inf, copy.deepcopy(self.net.state_dict()), 0
        for _ in range(cfg.epochs):
            self.net.train()
            perm = ends_tr[torch.randperm(ends_tr.numel(), generator=gen).to(device)]
            total = 0.0
            for k in range(0, perm.numel(), cfg.batch_size):
                ends = perm[k : k + cfg.batch_size]
                xw, bw = self._windows(z, zb, ends)
                loss = ((self.net(xw, bw) - z[ends]) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                if cfg.grad_clip:
                    nn.utils.clip_grad_norm_(self.net.parameters(), cfg.grad_clip)
                opt.step()
                total += float(loss.detach()) * ends.numel()
            val_loss = self._loss(z, zb, ends_va)
            self.history["train_loss"].append(total / ends_tr.numel())
            self.history["val_loss"].append(val_loss)
            if val_loss < best - 1e-6:
                best, best_state, waited = val_loss, copy.deepcopy(self.net.state_dict()), 0
            else:
                waited += 1
                if waited >= cfg.patience:
                    break
        self.net.load_state_dict(best_state)
        self.net.eval()
        return self

    @torch.no_grad()
    def _loss(self, z, zb, ends) -> float:
        self.net.eval()
        total = 0.0
        for k in range(0, ends.numel(), 4 * self.config.batch_size):
            e = ends[k : k + 4 * self.config.batch_size]
            xw, bw = self._windows(z, zb, e)
            total += float(((self.net(xw, bw) - z[e]) ** 2).sum())
        return total / (ends.numel() * z.shape[1])

    @torch.no_grad()
    def predict(self, activity: Any, behaviour: Any = None) -> torch.Tensor:
        """``(num_steps, N)`` one-step predictions (CPU); the first ``window`` rows are NaN."""
        z, zb = self._z(activity, behaviour)
        device = next(self.net.parameters()).device
        z = z.to(device)
        zb = None if zb is None else zb.to(device)
        out = torch.full_like(z, float("nan"))
        ends = torch.arange(self.window, z.shape[0], device=device)
        for k in range(0, ends.numel(), 4 * self.config.batch_size):
            e = ends[k : k + 4 * self.config.batch_size]
            out[e] = self.net(*self._windows(z, zb, e))
        return self._units(out.cpu())


class _RNN(nn.Module):
    def __init__(self, cell: str, n: int, nb: int, hidden: int, layers: int) -> None:
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(n + nb, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, n)

    def forward(self, xw: torch.Tensor, bw: torch.Tensor | None) -> torch.Tensor:
        inp = xw if bw is None else torch.cat([xw, bw], -1)
        return self.head(self.rnn(inp)[0][:, -1])


class RecurrentForecaster(_NeuralForecaster):
    """Multichannel LSTM/GRU: the population vector (plus behaviour) per time step.

    Args:
        cell: ``"lstm"`` or ``"gru"``.
        config: training settings (``hidden_dim`` state size, ``num_layers`` layers).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(200, 3))
        >>> cfg = BaselineConfig(window=4, hidden_dim=8, epochs=2)
        >>> RecurrentForecaster("gru", cfg).fit(x).predict(x).shape
        torch.Size([200, 3])
    """

    def __init__(self, cell: str = "lstm", config: BaselineConfig | None = None) -> None:
        super().__init__(config)
        self.cell = check_choice("cell", cell, ("lstm", "gru"))

    def _build(self) -> nn.Module:
        c = self.config
        return _RNN(self.cell, self.num_neurons, self.num_behaviour, c.hidden_dim, c.num_layers)


class _PerNeuronMLP(nn.Module):
    """``(B, W, N)`` windows of ``channels`` per-neuron features -> ``(B, N)``."""

    def __init__(self, n: int, nb: int, w: int, hidden: int, layers: int, emb: int) -> None:
        super().__init__()
        self.in_x = nn.Linear(w, hidden)
        self.in_pop = nn.Linear(2 * w, hidden, bias=False)
        self.in_b = nn.Linear(w * nb, hidden, bias=False) if nb else None
        self.emb = nn.Parameter(torch.randn(n, emb) * 0.1) if emb else None
        self.in_e = nn.Linear(emb, hidden, bias=False) if emb else None
        body: list[nn.Module] = [nn.GELU()]
        for _ in range(layers - 1):
            body += [nn.Linear(hidden, hidden), nn.GELU()]
        body.append(nn.Linear(hidden, 1))
        self.body = nn.Sequential(*body)
        self.skip = nn.Linear(w, 1)

    def forward(self, xw: torch.Tensor, bw: torch.Tensor | None) -> torch.Tensor:
        own = xw.transpose(1, 2)  # (B, N, W)
        pop = torch.cat([xw.mean(2), xw.std(2)], 1)  # (B, 2W): population mean/std windows
        h = self.in_x(own) + self.in_pop(pop)[:, None]
        if self.in_b is not None and bw is not None:
            h = h + self.in_b(bw.flatten(1))[:, None]
        if self.emb is not None:
            h = h + self.in_e(self.emb)[None]
        return self.body(h).squeeze(-1) + self.skip(own).squeeze(-1)


class NeuPRINTForecaster(_NeuralForecaster):
    """NeuPRINT-style per-neuron decoder with population statistics instead of ``A x``.

    Neuron i's next value is predicted by one MLP shared by all neurons from its own window,
    the windows of the population mean and standard deviation, the behaviour window and its
    embedding, plus a linear term in its own window. This is SynapsNet's decoder with the
    learned currents replaced by NeuPRINT's permutation-invariant population inputs.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(200, 3))
        >>> cfg = BaselineConfig(window=4, hidden_dim=8, epochs=2)
        >>> NeuPRINTForecaster(cfg).fit(x).predict(x)[4:].isnan().any().item()
        False
    """

    def _build(self) -> nn.Module:
        c = self.config
        return _PerNeuronMLP(
            self.num_neurons,
            self.num_behaviour,
            c.window,
            c.hidden_dim,
            c.num_layers,
            c.embedding_dim,
        )


class _LinearAttention(nn.Module):
    def __init__(self, n: int, nb: int, w: int, key_dim: int, emb: int) -> None:
        super().__init__()
        self.emb = nn.Parameter(torch.randn(n, emb) * 0.1) if emb else None
        d = w + emb
        self.norm = nn.LayerNorm(d)
        self.q = nn.Linear(d, key_dim, bias=False)
        self.k = nn.Linear(d, key_dim, bias=False)
        for lin in (self.q, self.k):  # start near A_t = 0 (persistence forecast)
            nn.init.normal_(lin.weight, std=0.1 / math.sqrt(d))
        self.scale = 1.0 / math.sqrt(d)
        self.bias = nn.Parameter(torch.zeros(n))
        self.gain = nn.Parameter(torch.ones(n))  # learned residual gain (NetFormer: 1)
        self.beh = nn.Linear(nb, n, bias=False) if nb else None

    def attention(self, xw: torch.Tensor) -> torch.Tensor:
        tok = xw.transpose(1, 2)  # (B, N, W)
        if self.emb is not None:
            tok = torch.cat([tok, self.emb.expand(tok.shape[0], -1, -1)], -1)
        tok = self.norm(tok)
        return self.q(tok) @ self.k(tok).transpose(1, 2) * self.scale  # (B, N, N)

    def forward(self, xw: torch.Tensor, bw: torch.Tensor | None) -> torch.Tensor:
        last = xw[:, -1]
        out = self.gain * last + (self.attention(xw) @ last[..., None]).squeeze(-1) + self.bias
        if self.beh is not None and bw is not None:
            out = out + self.beh(bw[:, -1])
        return out


class NetFormerForecaster(_NeuralForecaster):
    """NetFormer-style linear attention between neurons (no softmax).

    Tokens are each neuron's window concatenated with its embedding (layer-normalised);
    ``A_t = Q K^T / sqrt(W + E)`` and ``x_hat[t] = g * x[t-1] + A_t x[t-1] + c (+ B b[t-1])``
    with a learned per-neuron residual gain ``g`` (NetFormer fixes ``g = 1``; the low-rank
    ``A_t`` cannot cancel the identity when activity is not persistent).

    Args:
        config: training settings (``hidden_dim``: minimum key size).
        embedding_dim: neuron embedding size; ``None`` uses ``min(N, 256)`` as NetFormer's
            simulations do (embeddings as large as the population); the key size is
            ``max(hidden_dim, embedding_dim)``.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(200, 3))
        >>> cfg = BaselineConfig(window=4, hidden_dim=8, epochs=2)
        >>> NetFormerForecaster(cfg).fit(x).connectivity(x).shape
        (3, 3)
    """

    def __init__(self, config: BaselineConfig | None = None, embedding_dim: int | None = None):
        super().__init__(config)
        if embedding_dim is not None:
            check_positive("embedding_dim", embedding_dim, strict=False, integer=True)
        self.embedding_dim = embedding_dim

    def _build(self) -> nn.Module:
        c = self.config
        # NetFormer's simulations use embeddings of 100-200 for 100-200 neurons: enough rank
        # for a full static connectivity from Q K^T of the embeddings alone.
        emb = min(self.num_neurons, 256) if self.embedding_dim is None else self.embedding_dim
        key = max(c.hidden_dim, emb)
        return _LinearAttention(self.num_neurons, self.num_behaviour, c.window, key, emb)

    @torch.no_grad()
    def connectivity(self, activity: Any) -> np.ndarray:
        """Attention ``A_t`` averaged over all windows of ``activity`` (``(N, N)``, zero diag)."""
        z, _ = self._z(
            activity,
            None if not self.num_behaviour else torch.zeros(len(activity), self.num_behaviour),
        )
        device = next(self.net.parameters()).device
        z = z.to(device)
        ends = torch.arange(self.window, z.shape[0], device=device)
        total = torch.zeros(self.num_neurons, self.num_neurons, device=device)
        for k in range(0, ends.numel(), 4 * self.config.batch_size):
            xw, _ = self._windows(z, None, ends[k : k + 4 * self.config.batch_size])
            total += self.net.attention(xw).sum(0)
        a = (total / ends.numel()).cpu().double().numpy()
        np.fill_diagonal(a, 0.0)
        return a


# --------------------------------------------------------------------------- connectivity


def _activity(activity: Any) -> np.ndarray:
    x, _ = _inputs(activity, None)
    if x.shape[0] < 3:
        fail("activity", "at least 3 time steps", tuple(x.shape))
    return x.double().numpy()


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)


def pearson_connectivity(activity: Any) -> np.ndarray:
    """Zero-lag Pearson correlation matrix with a zero diagonal (constant neurons give 0).

    Args:
        activity: ``(num_steps, N)``.

    Returns:
        ``(N, N)`` symmetric correlations.

    Example:
        >>> pearson_connectivity([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])
        array([[0., 1.],
               [1., 0.]])
    """
    z = _standardise(_activity(activity))
    c = z.T @ z / z.shape[0]
    np.fill_diagonal(c, 0.0)
    return c


def partial_correlation_connectivity(activity: Any, shrinkage: float = 1e-3) -> np.ndarray:
    """Partial correlations ``-P_ij / sqrt(P_ii P_jj)`` from the (shrunk) precision matrix.

    The correlation matrix is shrunk towards the identity, ``(1 - s) R + s I``, before
    inversion so that it stays invertible for short recordings.

    Args:
        activity: ``(num_steps, N)``.
        shrinkage: ``s`` in [0, 1).

    Returns:
        ``(N, N)`` symmetric partial correlations, zero diagonal.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(size=(2, 5000))
        >>> x = np.stack([a, a + b, b], 1)  # 0 and 2 independent, but not given 1
        >>> round(float(partial_correlation_connectivity(x)[0, 2]), 1)
        -1.0
    """
    s = check_positive("shrinkage", shrinkage, strict=False)
    if s >= 1:
        fail("shrinkage", "a number in [0, 1)", shrinkage)
    z = _standardise(_activity(activity))
    r = z.T @ z / z.shape[0]
    r = (1 - s) * r + s * np.eye(r.shape[0])
    p = np.linalg.pinv(r, hermitian=True)
    d = np.sqrt(np.clip(np.diag(p), 1e-12, None))
    c = -p / d[:, None] / d[None, :]
    np.fill_diagonal(c, 0.0)
    return c


def lagged_correlation_connectivity(activity: Any, lag: int = 1) -> np.ndarray:
    """Lagged cross-correlation ``C[i, j] = corr(x_i[t + lag], x_j[t])`` (j leads i).

    Args:
        activity: ``(num_steps, N)``.
        lag: lag in steps (>= 1, < num_steps - 1).

    Returns:
        ``(N, N)`` directed correlations, zero diagonal.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(500, 2))
        >>> x[1:, 0] = x[:-1, 1]
        >>> c = lagged_correlation_connectivity(x)
        >>> round(float(c[0, 1]), 3), bool(abs(c[1, 0]) < 0.1)
        (1.0, True)
    """
    x = _activity(activity)
    lag = check_positive("lag", lag, integer=True)
    if lag >= x.shape[0] - 1:
        fail("lag", f"an integer < {x.shape[0] - 1}", lag)
    post, pre = _standardise(x[lag:]), _standardise(x[:-lag])
    c = post.T @ pre / post.shape[0]
    np.fill_diagonal(c, 0.0)
    return c


def var_connectivity(activity: Any, alpha: float = 1.0, statistic: str = "coef") -> np.ndarray:
    """VAR(1)/Granger connectivity from a ridge regression ``z[t] = A z[t-1] + c``.

    Args:
        activity: ``(num_steps, N)`` (z-scored internally).
        alpha: ridge penalty (>= 0).
        statistic: ``"coef"`` (the coefficients ``A[i, j]``, ``j -> i``) or ``"tstat"``
            (coefficient / standard error: the Wald statistic of the Granger test of
            ``j -> i`` given all other neurons).

    Returns:
        ``(N, N)`` matrix, zero diagonal.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> x = np.zeros((3000, 2))
        >>> for t in range(1, 3000):
        ...     x[t] = [[0.5, 0.4], [0.0, 0.5]] @ x[t - 1] + rng.normal(size=2)
        >>> c = var_connectivity(x, alpha=0.0)
        >>> bool(c[0, 1] > 0.3 and abs(c[1, 0]) < 0.05)
        True
    """
    alpha = check_positive("alpha", alpha, strict=False)
    check_choice("statistic", statistic, ("coef", "tstat"))
    z = _standardise(_activity(activity))
    xp = np.hstack([z[:-1], np.ones((z.shape[0] - 1, 1))])
    y = z[1:]
    gram_inv = np.linalg.pinv(xp.T @ xp + alpha * np.eye(xp.shape[1]), hermitian=True)
    beta = gram_inv @ xp.T @ y  # (N + 1, N)
    a = beta[:-1].T.copy()
    if statistic == "tstat":
        resid_var = ((y - xp @ beta) ** 2).sum(0) / max(1, y.shape[0] - xp.shape[1])
        se = np.sqrt(resid_var[:, None] * np.diag(gram_inv)[None, :-1])
        a = a / se
    np.fill_diagonal(a, 0.0)
    return a
