"""Settings of a SynapsNet model and of its training (frozen dataclasses).

Where the SynapsNet paper (Delavari, Oruc & Murphy, arXiv 2411.08221) is silent, the defaults
below are our choices (see ``docs/synapsnet.md``); each one is an option here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from neurodyn._validation import check_choice, check_positive, fail

__all__ = ["SynapsNetConfig"]

DECODERS = ("mlp", "gru", "transformer")
LOSSES = ("mse", "poisson")
SIGNS = ("none", "dale")
NAN_POLICIES = ("error", "mask")
A_INITS = ("zeros", "normal")
CURRENT_LAGS = (0, 1)


@dataclass(frozen=True)
class SynapsNetConfig:
    """Architecture and training settings of :class:`~neurodyn.population.SynapsNet`.

    Attributes:
        window: context window W in time steps; neuron i's next value is predicted from its own
            last W values, its last W input currents and the last W behaviour rows.
        embedding_dim: size of each neuron's learned embedding (0: no embedding, an ablation).
        decoder: shared decoder, ``"mlp"`` (flattened window, default), ``"gru"`` or
            ``"transformer"`` (small causal transformer over the W time steps).
        hidden_dim: width of the decoder (MLP hidden units, GRU state, transformer d_model).
        num_layers: hidden layers of the MLP, GRU layers or transformer layers.
        num_heads: attention heads of the transformer decoder.
        learn_connectivity: learn A (``False`` fixes A = 0: the independent-neuron control).
        zero_diagonal: fix A[i, i] = 0 (the neuron's own past already enters the decoder).
        sign: ``"none"`` (A unconstrained) or ``"dale"``: A[i, j] = softplus(W[i, j]) *
            tanh(u[j]), so all outgoing weights of neuron j share the learned sign of u[j].
        a_init: ``"zeros"`` (start as independent neurons) or ``"normal"`` (N(0, 1/N)).
        l1: weight of the L1 penalty ``l1 * sum|A| / N`` added to the loss (0 disables it).
            Default 0.01: it lowered the best validation loss on a rate network, a LIF
            network and the M1 recording (``benchmarks/synapsnet_settings.py``).
        loss: ``"mse"`` on z-scored activity (calcium) or ``"poisson"`` negative log-likelihood
            of raw counts with a log-rate output (spike counts; activity must be >= 0).
        current_lag: ``1`` (default, SynapsNet): the input-current window that predicts
            x[t+1] is ``I[t-W+1 .. t]`` -- a forecaster. ``0``: the window is shifted by one
            frame to ``I[t-W+2 .. t+1]``, so the same-frame current
            ``I_i[t+1] = sum_{k != i} A[i, k] x_k[t+1]`` enters the prediction of ``x_i[t+1]``.
            For *connectivity estimation* when a frame is much longer than the synaptic delay
            (calcium imaging at 2-30 Hz), where interactions happen within a frame and a lagged
            current cannot see them. Such a model is not a forecaster: ``predict`` returns
            same-frame conditional predictions and ``forecast`` raises. Needs
            ``zero_diagonal=True`` (otherwise A[i, i] would copy the target).
        residual: ``False`` (default): the decoder output is the predicted (z-scored) value.
            ``True``: it is the predicted *change* from the neuron's last input frame,
            ``x_hat[t+1] = z[t] + f(...)`` (MSE loss only). The decoder's linear skip path can
            already represent the last value, so this changes the parameterisation, not the
            model class (``benchmarks/synapsnet_calcium_forecast.py`` measures it).
        linear_init: start from the least-squares linear forecaster (MSE loss; no effect with
            ``loss="poisson"``): before the first epoch, the decoder's linear skip path on the
            neuron's own window is set to the ridge solution of predicting every training
            frame from its window, pooled over neurons and sessions (one shared AR(W) model),
            and the nonlinear part's output layer and the current and behaviour skip terms
            start at zero. Training then refines that forecaster, A included. Default True:
            over 50 networks per generator it raised the one-step forecast r on every rate
            network (0.168 -> 0.185) and edge AUROC (0.840 -> 0.863), on 49/50 LIF networks
            (0.1375 -> 0.1413) and on every 10-Hz calcium network (0.8109 -> 0.8114), left M1
            unchanged and raised zebrafish (``benchmarks/RESULTS.md``, session 9); ``False``
            is the random start of earlier versions.
        low_rank: rank k of a dense part of the adjacency, ``A = S + U V^T`` (0, the default:
            ``A = S`` only). ``S`` ``(N, N)`` is the sparse part the ``l1`` penalty acts on;
            ``U, V`` ``(N, k)`` are not penalised, so ``U V^T`` can carry population-wide
            coupling (e.g. every neuron driven by the population mean, rank 1) that the L1
            penalty would otherwise price out. ``A`` is still one matrix acting on the
            activity (zero diagonal included), so it remains the only path between neurons.
            :meth:`~neurodyn.population.SynapsNet.connectivity` returns ``S`` by default (the
            edge estimate; the full ``A`` and ``U V^T`` on request). Needs ``sign="none"``.
        nan_policy: ``"error"`` (NaN in activity/behaviour raises) or ``"mask"`` (NaN entries
            are left out of the loss and of the z-scoring statistics and enter the decoder as
            the training mean).
        input_clip: z-scored inputs are clipped to ``[-input_clip, input_clip]`` (None: no
            clipping), so that a neuron almost silent during training (tiny std) cannot feed
            huge values later; targets are not clipped.
        split: ``(train, val, test)`` fractions of :func:`chronological_split`; training uses
            the first two blocks only.
        lr: Adam learning rate (3e-3; see ``l1`` for the evidence).
        weight_decay: Adam weight decay of the decoder (never applied to A or embeddings).
        batch_size: time windows per optimiser step (each window predicts every neuron).
        epochs: maximum number of passes over the training windows.
        patience: epochs without validation improvement before stopping.
        grad_clip: maximal gradient norm (0 disables clipping).
        seed: seed of the initialisation and of the batch order.
        neuron_chunk: neurons per decoder pass; ``None`` chooses it so that one pass holds at
            most about 2**17 neuron-windows (bounded memory for large sessions).
    """

    window: int = 16
    embedding_dim: int = 16
    decoder: str = "mlp"
    hidden_dim: int = 64
    num_layers: int = 2
    num_heads: int = 2
    learn_connectivity: bool = True
    zero_diagonal: bool = True
    sign: str = "none"
    a_init: str = "zeros"
    l1: float = 0.01
    loss: str = "mse"
    current_lag: int = 1
    residual: bool = False
    linear_init: bool = True
    low_rank: int = 0
    nan_policy: str = "error"
    input_clip: float | None = 10.0
    split: tuple[float, float, float] = (0.7, 0.1, 0.2)
    lr: float = 3e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 50
    patience: int = 5
    grad_clip: float = 1.0
    seed: int = 0
    neuron_chunk: int | None = None

    def __post_init__(self) -> None:
        check_positive("embedding_dim", self.embedding_dim, strict=False, integer=True)
        if isinstance(self.low_rank, bool) or not isinstance(self.low_rank, int):
            fail("low_rank", "an integer >= 0", self.low_rank, exc=TypeError)
        check_positive("low_rank", self.low_rank, strict=False, integer=True)
        for name in (
            "window",
            "hidden_dim",
            "num_layers",
            "num_heads",
            "batch_size",
            "epochs",
            "patience",
        ):
            check_positive(name, getattr(self, name), integer=True)
        check_choice("decoder", self.decoder, DECODERS)
        check_choice("sign", self.sign, SIGNS)
        check_choice("a_init", self.a_init, A_INITS)
        check_choice("loss", self.loss, LOSSES)
        check_choice("nan_policy", self.nan_policy, NAN_POLICIES)
        lag = self.current_lag
        if isinstance(lag, bool) or not isinstance(lag, int) or lag not in CURRENT_LAGS:
            fail(
                "current_lag",
                "0 (same-frame current, connectivity estimation) or 1 (forecasting)",
                self.current_lag,
            )
        for name in ("l1", "weight_decay", "grad_clip"):
            check_positive(name, getattr(self, name), strict=False)
        check_positive("lr", self.lr)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            fail("seed", "an integer >= 0", self.seed, exc=TypeError)
        if self.input_clip is not None:
            check_positive("input_clip", self.input_clip)
        if self.neuron_chunk is not None:
            check_positive("neuron_chunk", self.neuron_chunk, integer=True)
        for name in ("zero_diagonal", "learn_connectivity", "residual", "linear_init"):
            if not isinstance(getattr(self, name), bool):
                fail(name, "a bool", getattr(self, name), exc=TypeError)
        if self.current_lag == 0 and not self.zero_diagonal:
            fail(
                "zero_diagonal",
                "True when current_lag=0",
                self.zero_diagonal,
                "A same-frame current with A[i, i] != 0 would contain the target itself.",
            )
        if self.residual and self.loss != "mse":
            fail(
                "residual",
                'False with loss="poisson"',
                self.residual,
                "A residual output adds the last z-scored frame; it needs the MSE loss.",
            )
        if self.low_rank and self.sign != "none":
            fail(
                "low_rank",
                '0 with sign="dale"',
                self.low_rank,
                'The dense low-rank part has no sign constraint; use sign="none" or low_rank=0.',
            )
        split = tuple(self.split)
        if len(split) != 3 or not all(
            isinstance(f, (int, float)) and math.isfinite(f) and 0 <= f <= 1 for f in split
        ):
            fail("split", "3 fractions in [0, 1] (train, val, test)", self.split)
        if self.decoder == "transformer" and self.hidden_dim % self.num_heads:
            fail("hidden_dim", f"a multiple of num_heads={self.num_heads}", self.hidden_dim)
        object.__setattr__(self, "split", tuple(float(f) for f in split))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of all fields."""
        out = dataclasses.asdict(self)
        out["split"] = list(self.split)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SynapsNetConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``.

        Example:
            >>> cfg = SynapsNetConfig(window=8)
            >>> SynapsNetConfig.from_dict(cfg.to_dict()) == cfg
            True
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            fail("config", f"keys among {sorted(names)}", unknown, "Check the spelling.")
        values = dict(data)
        if "split" in values:
            values["split"] = tuple(values["split"])
        return cls(**values)
