"""Neural-network forecasting baselines trained like SynapsNet (Adam, MSE, early stopping).

* :class:`RecurrentForecaster` — multichannel LSTM/GRU (the population vector per step).
* :class:`NeuPRINTForecaster` — per-neuron decoder with population mean/std instead of ``A x``.
* :class:`NetFormerForecaster` — linear attention between neuron tokens.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from neurodyn._runtime import resolve_device
from neurodyn._validation import check_choice, check_positive, fail
from neurodyn.population.baselines.forecasting import BaselineConfig, _Forecaster

__all__ = ["NetFormerForecaster", "NeuPRINTForecaster", "RecurrentForecaster"]


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
