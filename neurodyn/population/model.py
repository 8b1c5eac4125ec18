"""SynapsNet: per-neuron decoder with a learned directed functional connectivity.

For session s with N neurons, activity x_t (z-scored with training-split statistics) and
behaviour b_t, neuron i receives the input current

    I_t^(i) = sum_k A^(s)[i, k] x_t^(k)        (A[i, k]: weight k -> i, zero diagonal by default)

and one decoder f, shared by all neurons and sessions, predicts

    x_{t+1}^(i) = f(x^(i)_{t-W+1:t}, I^(i)_{t-W+1:t}, b_{t-W+1:t}, e^(i)).

The decoder processes each neuron on its own (no layer mixes the neuron axis), so A is the only
path between neurons. The model follows Delavari, Oruc & Murphy (arXiv 2411.08221); the choices
the paper leaves open are options of :class:`~neurodyn.population.config.SynapsNetConfig`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from neurodyn._validation import as_tensor, check_choice, check_positive, fail
from neurodyn.population.config import SynapsNetConfig
from neurodyn.population.decoder import Decoder

__all__ = ["SynapsNet"]

FORMAT = "neurodyn.synapsnet/1"
#: Neuron-windows per decoder pass when ``config.neuron_chunk`` is None.
CHUNK_BUDGET = 2**17
#: What :meth:`SynapsNet.connectivity` can return.
CONNECTIVITY_PARTS = ("sparse", "low_rank", "full")


class SynapsNet(nn.Module):
    """Population model with a learned directed connectivity per session (SynapsNet).

    Parameters: per session s an adjacency ``A^(s)`` ``(N_s, N_s)`` (``S + U V^T`` with
    ``config.low_rank = k``: ``weights`` holds ``S``, ``low_rank_u``/``low_rank_v`` the
    ``(N_s, k)`` factors) and neuron embeddings ``(N_s, embedding_dim)``; one decoder shared by
    all neurons and sessions. Normalisation
    statistics (training-split mean/std of activity and behaviour) are stored as buffers so
    that :meth:`predict` takes and returns activity in the original units. Build one with
    :func:`~neurodyn.population.fit_synapsnet`; the constructor only sets up parameters.

    Args:
        num_neurons: neurons per session, e.g. ``[120, 75]`` (an int for one session).
        num_behaviour: behaviour channels (0 for none); the same for every session.
        config: architecture settings (defaults: :class:`SynapsNetConfig`).

    Example:
        >>> import torch
        >>> model = SynapsNet([5], config=SynapsNetConfig(window=4, hidden_dim=8))
        >>> model.predict(torch.randn(20, 5)).shape
        torch.Size([20, 5])
        >>> model.connectivity().shape
        torch.Size([5, 5])
    """

    def __init__(
        self,
        num_neurons: int | Sequence[int],
        num_behaviour: int = 0,
        config: SynapsNetConfig | None = None,
    ) -> None:
        super().__init__()
        config = SynapsNetConfig() if config is None else config
        if not isinstance(config, SynapsNetConfig):
            fail("config", "a SynapsNetConfig", type(config).__name__, exc=TypeError)
        sizes = [num_neurons] if isinstance(num_neurons, int) else list(num_neurons)
        if not sizes:
            fail("num_neurons", "at least one session", num_neurons)
        for n in sizes:
            check_positive("num_neurons", n, integer=True)
            if n < 2:
                fail(
                    "num_neurons",
                    "sessions of >= 2 neurons",
                    sizes,
                    "SynapsNet learns connections between neurons; drop one-neuron sessions.",
                )
        check_positive("num_behaviour", num_behaviour, strict=False, integer=True)
        self.config = config
        self.num_neurons = tuple(int(n) for n in sizes)
        self.num_behaviour = int(num_behaviour)
        self.history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.decoder = Decoder(config, self.num_behaviour)
            self.weights = nn.ParameterList()
            self.sign_logits = nn.ParameterList()
            self.low_rank_u = nn.ParameterList()
            self.low_rank_v = nn.ParameterList()
            self.neuron_embeddings = nn.ParameterList()
            for n in self.num_neurons:
                w = torch.zeros(n, n)
                if config.a_init == "normal":
                    w = torch.randn(n, n) / n**0.5
                self.weights.append(nn.Parameter(w, requires_grad=config.learn_connectivity))
                if config.low_rank:  # A = S + U V^T; V = 0 at the start, so A = S
                    u = torch.randn(n, config.low_rank) / n**0.5
                    v = torch.zeros(n, config.low_rank)
                    self.low_rank_u.append(nn.Parameter(u, requires_grad=config.learn_connectivity))
                    self.low_rank_v.append(nn.Parameter(v, requires_grad=config.learn_connectivity))
                if config.sign == "dale":
                    u = torch.zeros(n) if config.a_init == "zeros" else torch.randn(n)
                    self.sign_logits.append(
                        nn.Parameter(u, requires_grad=config.learn_connectivity)
                    )
                self.neuron_embeddings.append(
                    nn.Parameter(torch.randn(n, config.embedding_dim) * 0.1)
                )
        for s, n in enumerate(self.num_neurons):
            self.register_buffer(f"act_mean_{s}", torch.zeros(n))
            self.register_buffer(f"act_std_{s}", torch.ones(n))
            self.register_buffer(f"beh_mean_{s}", torch.zeros(self.num_behaviour))
            self.register_buffer(f"beh_std_{s}", torch.ones(self.num_behaviour))
            if config.zero_diagonal:
                self.register_buffer(f"offdiag_{s}", 1.0 - torch.eye(n), persistent=False)

    @property
    def num_sessions(self) -> int:
        """Number of sessions."""
        return len(self.num_neurons)

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return self.weights[0].device

    def _session(self, session: Any) -> int:
        if isinstance(session, bool) or not isinstance(session, int):
            fail("session", "an integer session index", session, exc=TypeError)
        if not 0 <= session < self.num_sessions:
            fail("session", f"an index in [0, {self.num_sessions - 1}]", session)
        return session

    def adjacency(self, session: int = 0) -> torch.Tensor:
        """Differentiable ``(N, N)`` adjacency ``A = S + U V^T`` of a session (model device).

        With ``config.low_rank == 0`` this is the sparse part ``S`` alone.
        """
        a = self.sparse_adjacency(session)
        if self.config.low_rank:
            a = a + self.low_rank_adjacency(session)
        return a

    def sparse_adjacency(self, session: int = 0) -> torch.Tensor:
        """Differentiable ``(N, N)`` sparse part ``S`` (the part the ``l1`` penalty acts on)."""
        w = self.weights[session]
        a = F.softplus(w) * torch.tanh(self.sign_logits[session])[None] if self.sign_logits else w
        if self.config.zero_diagonal:
            a = a * getattr(self, f"offdiag_{session}")
        return a

    def low_rank_adjacency(self, session: int = 0) -> torch.Tensor:
        """Differentiable ``(N, N)`` dense part ``U V^T`` (zeros when ``config.low_rank == 0``)."""
        n = self.num_neurons[session]
        if not self.config.low_rank:
            return self.weights[session].new_zeros(n, n)
        a = self.low_rank_u[session] @ self.low_rank_v[session].T
        if self.config.zero_diagonal:
            a = a * getattr(self, f"offdiag_{session}")
        return a

    def stats(self, session: int = 0) -> dict[str, torch.Tensor]:
        """Normalisation buffers of a session: ``act_mean``, ``act_std`` ``(N,)``, ``beh_*``."""
        return {
            k: getattr(self, f"{k}_{session}")
            for k in ("act_mean", "act_std", "beh_mean", "beh_std")
        }

    def set_stats(self, session: int, act_mean, act_std, beh_mean=None, beh_std=None) -> None:
        """Store training-split statistics of a session (used by the training code)."""
        values = {
            "act_mean": act_mean,
            "act_std": act_std,
            "beh_mean": beh_mean,
            "beh_std": beh_std,
        }
        for key, buf in self.stats(session).items():
            if buf.numel():
                buf.copy_(torch.as_tensor(values[key]).to(self.device))

    def normalise(self, x: torch.Tensor, session: int) -> torch.Tensor:
        """Decoder input from activity ``(..., N)``: z-scored, clipped, NaN -> 0 (the mean)."""
        st = self.stats(session)
        z = (x - st["act_mean"]) / st["act_std"]
        if self.config.input_clip is not None:
            z = z.clamp(-self.config.input_clip, self.config.input_clip)
        return torch.nan_to_num(z, nan=0.0)

    def neuron_chunk(self, batch: int) -> int:
        """Neurons per decoder pass for ``batch`` windows (bounded memory)."""
        return self.config.neuron_chunk or max(1, CHUNK_BUDGET // max(1, batch))

    def decode(
        self,
        session: int,
        xw: torch.Tensor,
        bw: torch.Tensor | None,
        rows: slice,
        xc: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Raw decoder output for neurons ``rows`` (z-scored value or log-rate).

        Args:
            session: session index.
            xw: ``(B, N, W)`` z-scored activity windows (NaN already filled), ending one step
                before the predicted frame.
            bw: ``(B, W, num_behaviour)`` z-scored behaviour windows or None.
            rows: neuron slice to predict.
            xc: ``(B, N, W)`` windows the input currents are computed from (None: ``xw``).
                With ``config.current_lag == 0`` these end *at* the predicted frame.

        Returns:
            ``(B, C)`` outputs for the ``C`` neurons of ``rows`` (with ``config.residual`` the
            decoder's output plus the last frame of ``xw``).
        """
        a = self.adjacency(session)[rows]  # (C, N)
        cur = torch.matmul(a, xw if xc is None else xc)  # (B, C, W)
        emb = self.neuron_embeddings[session][rows] if self.config.embedding_dim else None
        out = self.decoder(xw[:, rows], cur, bw, emb)
        if self.config.residual:  # predicted change from the last (z-scored, clipped) frame
            out = out + xw[:, rows, -1]
        return out

    def _prepare(self, activity: Any, behaviour: Any, session: int, extra_behaviour: int = 0):
        """Validate, z-score and NaN-fill inputs -> ``(z, zb)`` on the model device."""
        n = self.num_neurons[session]
        x = as_tensor("activity", activity, dtype=torch.float32, device=self.device)
        if x.ndim != 2:
            fail("activity", "a 2-D array (num_steps, num_neurons)", x)
        if x.shape[1] != n:
            fail(
                "activity",
                f"{n} neurons (columns) for session {session}",
                x,
                "Pass time as rows and neurons as columns, with the session's neurons.",
            )
        _check_values("activity", x, self.config.nan_policy)
        if x.shape[0] <= self.config.window:
            fail(
                "activity",
                f"more than window={self.config.window} time steps",
                x,
                "Use a longer recording or a smaller window.",
            )
        st = self.stats(session)
        z = self.normalise(x, session)
        zb = None
        need = x.shape[0] + extra_behaviour
        if self.num_behaviour:
            if behaviour is None:
                fail(
                    "behaviour",
                    f"a ({need}, {self.num_behaviour}) array",
                    None,
                    "The model was fitted with behaviour; pass it here too.",
                )
            b = as_tensor("behaviour", behaviour, dtype=torch.float32, device=self.device)
            if b.ndim == 1 and self.num_behaviour == 1:
                b = b[:, None]
            if b.ndim != 2 or b.shape != (need, self.num_behaviour):
                fail(
                    "behaviour",
                    f"shape ({need}, {self.num_behaviour})",
                    b,
                    "Give one behaviour row per activity row.",
                )
            _check_values("behaviour", b, self.config.nan_policy)
            zb = torch.nan_to_num((b - st["beh_mean"]) / st["beh_std"], nan=0.0)
        elif behaviour is not None:
            fail("behaviour", "None (the model was fitted without behaviour)", behaviour)
        return z, zb

    def _outputs_to_units(self, out: torch.Tensor, session: int, rows: slice) -> torch.Tensor:
        if self.config.loss == "poisson":
            return torch.exp(out.clamp(max=30.0))
        st = self.stats(session)
        return out * st["act_std"][rows] + st["act_mean"][rows]

    @torch.no_grad()
    def predict(self, activity: Any, behaviour: Any = None, *, session: int = 0) -> torch.Tensor:
        """Teacher-forced one-step-ahead predictions in the original units.

        Args:
            activity: ``(num_steps, N)`` recording of session ``session``.
            behaviour: ``(num_steps, num_behaviour)`` when the model uses behaviour, else None.
            session: session index.

        Returns:
            ``(num_steps, N)`` float32 CPU tensor; row t predicts ``activity[t]`` from rows
            ``< t`` (expected counts for the Poisson loss); the first ``window`` rows are NaN.
            With ``config.current_lag == 0`` row t also uses the *other* neurons' row t
            (through A): a same-frame conditional prediction, not a forecast.
        """
        s = self._session(session)
        z, zb = self._prepare(activity, behaviour, s)
        w, (t_len, n) = self.config.window, z.shape
        out = torch.full((t_len, n), float("nan"), device=self.device)
        xu = z.T.unfold(1, w, 1)  # (N, T-W+1, W)
        shift = 1 - self.config.current_lag  # current windows end at the target when 1
        bu = zb.unfold(0, w, 1) if zb is not None else None  # (T-W+1, nb, W)
        bsz = self.config.batch_size
        chunk = self.neuron_chunk(bsz)
        for t0 in range(w, t_len, bsz):
            starts = torch.arange(t0, min(t0 + bsz, t_len), device=self.device) - w
            xw = xu[:, starts].permute(1, 0, 2)
            xc = xu[:, starts + shift].permute(1, 0, 2) if shift else None
            bw = bu[starts].transpose(1, 2) if bu is not None else None
            for c0 in range(0, n, chunk):
                rows = slice(c0, min(c0 + chunk, n))
                raw = self.decode(s, xw, bw, rows, xc)
                out[starts + w, rows] = self._outputs_to_units(raw, s, rows)
        return out.cpu()

    @torch.no_grad()
    def forecast(
        self,
        activity: Any,
        behaviour: Any = None,
        *,
        session: int = 0,
        steps: int,
    ) -> torch.Tensor:
        """Autoregressive forecast continuing ``activity`` for ``steps`` time steps.

        Each predicted frame is fed back as the next input (the mean prediction; for the
        Poisson loss the expected count).

        Args:
            activity: ``(num_steps, N)`` context (at least ``window + 1`` rows).
            behaviour: ``(num_steps + steps, num_behaviour)``: the context's behaviour followed
                by the behaviour during the forecast (the last row is not used), or None.
            session: session index.
            steps: number of future steps.

        Returns:
            ``(steps, N)`` float32 CPU tensor in the original units.
        """
        s = self._session(session)
        if self.config.current_lag == 0:
            fail(
                "config.current_lag",
                "1 for forecasting",
                0,
                "A model with a same-frame current (current_lag=0) needs the frame it predicts; "
                "fit one with the default current_lag=1 to forecast.",
            )
        steps = check_positive("steps", steps, integer=True)
        z, zb = self._prepare(activity, behaviour, s, extra_behaviour=steps)
        w, n = self.config.window, z.shape[1]
        zbuf = torch.cat([z[-w:], z.new_zeros(steps, n)])
        t_ctx = z.shape[0]
        out = z.new_empty(steps, n)
        chunk = self.neuron_chunk(1)
        for k in range(steps):
            xw = zbuf[k : k + w].T[None]  # (1, N, W)
            bw = zb[t_ctx - w + k : t_ctx + k][None] if zb is not None else None
            for c0 in range(0, n, chunk):
                rows = slice(c0, min(c0 + chunk, n))
                out[k, rows] = self._outputs_to_units(self.decode(s, xw, bw, rows)[0], s, rows)
            zbuf[k + w] = self.normalise(out[k], s)
        return out.cpu()

    @torch.no_grad()
    def connectivity(self, session: int = 0, part: str = "sparse") -> torch.Tensor:
        """Learned adjacency ``(N, N)`` (CPU); ``A[i, j]`` is the weight of j -> i.

        A acts on z-scored activity, so weights are comparable across neurons.

        Args:
            session: session index.
            part: with ``config.low_rank > 0``, ``"sparse"`` (default: ``S``, the edge
                estimate), ``"low_rank"`` (``U V^T``, population-wide coupling) or ``"full"``
                (``A = S + U V^T``, the matrix the input currents are computed with). Without
                a low-rank part ``"sparse"`` and ``"full"`` are the same ``A``.
        """
        s = self._session(session)
        check_choice("part", part, CONNECTIVITY_PARTS)
        if part == "full":
            a = self.adjacency(s)
        elif part == "low_rank":
            a = self.low_rank_adjacency(s)
        else:
            a = self.sparse_adjacency(s)
        return a.detach().cpu().clone()

    @torch.no_grad()
    def input_currents(self, activity: Any, session: int = 0) -> torch.Tensor:
        """Input currents ``I_t = A z_t`` ``(num_steps, N)`` (CPU) of a recording.

        ``z_t`` is the activity z-scored with the training statistics (NaN entries as 0).
        """
        s = self._session(session)
        n = self.num_neurons[s]
        x = as_tensor("activity", activity, dtype=torch.float32, device=self.device)
        if x.ndim != 2 or x.shape[1] != n:
            fail("activity", f"a 2-D array (num_steps, {n})", x)
        _check_values("activity", x, self.config.nan_policy)
        return (self.normalise(x, s) @ self.adjacency(s).T).cpu()

    @torch.no_grad()
    def embeddings(self, session: int = 0) -> torch.Tensor:
        """Learned neuron embeddings ``(N, embedding_dim)`` (CPU)."""
        return self.neuron_embeddings[self._session(session)].detach().cpu().clone()

    def metadata(self) -> dict[str, str]:
        """String metadata stored in the safetensors header."""
        return {
            "format": FORMAT,
            "config": json.dumps(self.config.to_dict()),
            "num_neurons": json.dumps(list(self.num_neurons)),
            "num_behaviour": str(self.num_behaviour),
            "history": json.dumps(self.history),
        }

    def save(self, path: str | Path) -> Path:
        """Write the weights to ``path`` (safetensors; config in its header and beside it).

        Also writes ``path`` with suffix ``.json`` (the same metadata, human-readable).
        Returns the weights path.
        """
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        meta = self.metadata()
        save_file(tensors, str(path), metadata=meta)
        side = {k: (v if k == "format" else json.loads(v)) for k, v in meta.items()}
        path.with_suffix(".json").write_text(json.dumps(side, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu") -> SynapsNet:
        """Read a model written by :meth:`save` (no pickle)."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        from neurodyn._validation import check_file

        path = check_file("path", path)
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            fail(
                "path", f"a {FORMAT} safetensors file", str(path), "Write it with SynapsNet.save()."
            )
        model = cls(
            json.loads(meta["num_neurons"]),
            int(meta["num_behaviour"]),
            SynapsNetConfig.from_dict(json.loads(meta["config"])),
        )
        model.load_state_dict(load_file(str(path)))
        model.history = json.loads(meta.get("history", "{}")) or model.history
        return model.to(device).eval()


def _check_values(name: str, x: torch.Tensor, nan_policy: str) -> None:
    if bool(torch.isinf(x).any()):
        fail(
            name,
            "finite values",
            f"{int(torch.isinf(x).sum())} infinite entries",
            "Remove or replace them.",
        )
    nan = int(torch.isnan(x).sum())
    if nan and nan_policy == "error":
        frames = int(torch.isnan(x).reshape(x.shape[0], -1).any(1).sum())
        fail(
            name,
            "no NaN values",
            f"{nan} NaN entries in {frames} frames",
            'Set SynapsNetConfig(nan_policy="mask") to mask them, or drop those frames.',
        )
