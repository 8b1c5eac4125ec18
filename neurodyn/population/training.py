"""Training of :class:`~neurodyn.population.SynapsNet` over one or many sessions.

* Chronological split per session (:func:`~neurodyn.population.splits.chronological_split`
  with ``config.split``); z-scoring statistics from the training block only; the test block is
  never touched.
* Round-robin batches over sessions: one optimiser step uses the windows of one session, so a
  session's A and embeddings receive gradients (and Adam updates) only from its own data; the
  decoder is shared.
* Memory stays bounded for large sessions: the neuron axis is processed in chunks (input
  currents of a chunk need only the chunk's rows of A), each chunk's graph is freed after its
  backward pass, and gradients accumulate.
* Early stopping on the validation loss (the best weights are restored), checkpoints in
  safetensors + JSON after every epoch, and resume from them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from neurodyn._runtime import progress as progress_bar
from neurodyn._runtime import resolve_device
from neurodyn._validation import as_tensor, fail
from neurodyn.population.config import SynapsNetConfig
from neurodyn.population.model import SynapsNet, _check_values
from neurodyn.population.splits import chronological_split, zscore_stats

__all__ = ["fit_synapsnet"]

CHECKPOINT = "checkpoint.safetensors"
#: Config fields that may differ when resuming (they do not change past epochs).
RESUMABLE = ("epochs", "patience")


class _Session:
    """Device-resident tensors of one session (inputs z-scored and NaN-filled)."""

    def __init__(
        self,
        x: torch.Tensor,
        b: torch.Tensor | None,
        config: SynapsNetConfig,
        index: int,
        device: torch.device,
    ) -> None:
        t_len = x.shape[0]
        w = config.window
        n_train = round(config.split[0] * t_len)
        if n_train <= w:
            fail(
                "activity",
                f"sessions whose training block is longer than window={w}",
                f"session {index} with {t_len} steps (training block {n_train})",
                "Use a longer recording or a smaller window.",
            )
        train, val, _ = chronological_split(t_len, config.split)
        self.mean, self.std = zscore_stats(x[train])
        self.bmean = self.bstd = None
        if b is not None:
            self.bmean, self.bstd = zscore_stats(b[train])
        used = slice(0, val.stop)
        z = ((x[used] - self.mean) / self.std).to(device)
        self.target = x[used].to(device) if config.loss == "poisson" else z
        self.valid = ~torch.isnan(self.target)
        self.target = torch.nan_to_num(self.target, nan=0.0)
        zin = z if config.input_clip is None else z.clamp(-config.input_clip, config.input_clip)
        self.xu = torch.nan_to_num(zin, nan=0.0).T.contiguous().unfold(1, w, 1)  # (N, T-W+1, W)
        self.bu = None
        if b is not None:
            zb = torch.nan_to_num((b[used] - self.bmean) / self.bstd, nan=0.0).to(device)
            self.bu = zb.contiguous().unfold(0, w, 1)  # (T-W+1, nb, W)
        self.train_t = torch.arange(w, train.stop, device=device)
        self.val_t = torch.arange(max(w, val.start), val.stop, device=device)
        self.num_neurons = x.shape[1]
        self.window = w
        self.current_lag = config.current_lag

    def batch(self, targets: torch.Tensor):
        """Windows for the target frames: ``xw`` ``(B, N, W)`` ending at ``targets - 1``,
        ``xc`` (the current windows, ending at ``targets`` when ``current_lag == 0``, else
        None), ``bw`` ``(B, W, nb)`` or None, targets ``(B, N)`` and their validity mask."""
        starts = targets - self.window
        xw = self.xu[:, starts].permute(1, 0, 2)  # (B, N, W)
        xc = self.xu[:, starts + 1].permute(1, 0, 2) if self.current_lag == 0 else None
        bw = self.bu[starts].transpose(1, 2) if self.bu is not None else None
        return xw, xc, bw, self.target[targets], self.valid[targets]


def _loss_sum(out: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, kind: str):
    if kind == "poisson":
        err = F.poisson_nll_loss(out, target, log_input=True, full=False, reduction="none")
    else:
        err = (out - target) ** 2
    return (err * valid).sum()


def _as_list(name: str, value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        if not value:
            fail(name, "at least one session", value)
        return list(value)
    return [value]


def _check_sessions(activity: Any, behaviour: Any, config: SynapsNetConfig):
    xs = [as_tensor("activity", a, dtype=torch.float32) for a in _as_list("activity", activity)]
    for s, x in enumerate(xs):
        if x.ndim != 2:
            fail(
                "activity",
                "2-D arrays (num_steps, num_neurons)",
                x,
                f"Session {s}: time as rows, neurons as columns.",
            )
        if x.shape[1] < 2:
            fail(
                "activity",
                "sessions with >= 2 neurons",
                x,
                f"Session {s}: SynapsNet learns connections between neurons.",
            )
        if x.shape[0] <= config.window + 1:
            fail(
                "activity",
                f"more than window + 1 = {config.window + 1} time steps",
                x,
                f"Session {s} is shorter than the context window; use a smaller window.",
            )
        _check_values("activity", x, config.nan_policy)
        if config.loss == "poisson" and bool((x < 0).any()):
            fail(
                "activity",
                "non-negative counts for loss='poisson'",
                x,
                'Use loss="mse" for calcium/continuous signals.',
            )
    bs: list[torch.Tensor | None] = [None] * len(xs)
    if behaviour is not None:
        raw = _as_list("behaviour", behaviour)
        if len(raw) != len(xs):
            fail(
                "behaviour",
                f"{len(xs)} sessions (one per activity session)",
                f"{len(raw)} sessions",
            )
        dims = set()
        for s, (b, x) in enumerate(zip(raw, xs, strict=True)):
            b = as_tensor("behaviour", b, dtype=torch.float32)
            if b.ndim == 1:
                b = b[:, None]
            if b.ndim != 2 or b.shape[0] != x.shape[0]:
                fail(
                    "behaviour",
                    f"shape ({x.shape[0]}, num_behaviour) in session {s}",
                    b,
                    "Give one behaviour row per activity row (resample it first).",
                )
            _check_values("behaviour", b, config.nan_policy)
            bs[s] = b
            dims.add(b.shape[1])
        if len(dims) != 1:
            fail("behaviour", "the same number of channels in every session", sorted(dims))
    return xs, bs


def fit_synapsnet(
    activity: Any,
    behaviour: Any = None,
    config: SynapsNetConfig | None = None,
    *,
    device: str | torch.device = "auto",
    checkpoint_dir: str | Path | None = None,
    progress: bool | None = None,
) -> SynapsNet:
    """Fit SynapsNet to one or several recorded sessions.

    Args:
        activity: ``(num_steps, num_neurons)`` array/tensor, or a list of them (one per session;
            sessions may differ in length and neuron count).
        behaviour: ``(num_steps, num_behaviour)`` (same rows as the activity) or a list of
            them, or None.
        config: model and training settings (default :class:`SynapsNetConfig`).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        checkpoint_dir: folder for ``checkpoint.safetensors`` (+ ``.json``), written after each
            epoch; when it already holds a checkpoint of the same data and config (``epochs``
            and ``patience`` may differ) training resumes from it.
        progress: show a progress bar (None: when ``NEURODYN_PROGRESS`` is not ``0``).

    Returns:
        The fitted model (best validation epoch) on ``device`` in eval mode; its ``history``
        holds per-epoch ``train_loss``, ``val_loss``, ``epoch_s`` and ``neuron_steps``.

    Example:
        >>> import torch
        >>> x = torch.randn(200, 4)
        >>> cfg = SynapsNetConfig(window=4, epochs=2)
        >>> model = fit_synapsnet(x, config=cfg, device="cpu", progress=False)
        >>> model.predict(x).shape
        torch.Size([200, 4])
    """
    config = SynapsNetConfig() if config is None else config
    if not isinstance(config, SynapsNetConfig):
        fail("config", "a SynapsNetConfig", type(config).__name__, exc=TypeError)
    dev = resolve_device(device)
    xs, bs = _check_sessions(activity, behaviour, config)
    sessions = [_Session(x, b, config, s, dev) for s, (x, b) in enumerate(zip(xs, bs, strict=True))]
    num_b = 0 if bs[0] is None else bs[0].shape[1]
    model = SynapsNet([x.shape[1] for x in xs], num_b, config).to(dev)
    for s, sess in enumerate(sessions):
        model.set_stats(s, sess.mean, sess.std, sess.bmean, sess.bstd)
    optimizer = _optimizer(model, config)
    state = {"epoch": 0, "best_val": float("inf"), "bad_epochs": 0}
    history: dict[str, list[float]] = {
        "train_loss": [],
        "val_loss": [],
        "epoch_s": [],
        "neuron_steps": [],
    }
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT
    if ckpt is not None and ckpt.is_file():
        state, history, best = _load_checkpoint(ckpt, model, optimizer, config)
    else:
        if config.linear_init and config.loss == "mse":
            _linear_init(model, sessions, config)
        best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    epochs = range(state["epoch"], config.epochs)
    for epoch in progress_bar(
        epochs,
        total=len(epochs),
        description="SynapsNet",
        disable=None if progress is None else not progress,
    ):
        if state["bad_epochs"] >= config.patience:
            break
        model.train()
        tic = time.perf_counter()
        train_loss, steps = _train_epoch(model, sessions, optimizer, config, epoch)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        history["epoch_s"].append(time.perf_counter() - tic)
        history["neuron_steps"].append(float(steps))
        val_loss = _evaluate(model, sessions, config, "val_t")
        score = val_loss if val_loss == val_loss else train_loss  # NaN: no validation block
        history["train_loss"].append(train_loss)
        history["val_loss"].append(val_loss)
        if score < state["best_val"]:
            state.update(best_val=score, bad_epochs=0)
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        if ckpt is not None:
            _save_checkpoint(ckpt, model, optimizer, best, state, history)
    model.load_state_dict(best)
    _canonical_sign(model, sessions)
    model.history = history
    return model.eval()


@torch.no_grad()
def _linear_init(model: SynapsNet, sessions: Sequence[_Session], config: SynapsNetConfig) -> None:
    """Start the decoder as the pooled least-squares AR(W) forecaster (``config.linear_init``).

    Normal equations over every valid (training frame, neuron) pair of every session, in
    float64, with a ridge of 1e-6 of the mean diagonal; the own-window skip path gets the
    solution; the nonlinear part's output layer and the current and behaviour skip terms
    start at zero (their gradients are not: the output layer's inputs are nonzero).
    """
    w = config.window
    dev = model.device
    xtx = torch.zeros((w + 1, w + 1), dtype=torch.float64, device=dev)
    xty = torch.zeros(w + 1, dtype=torch.float64, device=dev)
    for sess in sessions:
        for targets in sess.train_t.split(max(1, 2**17 // sess.num_neurons)):
            xw, _, _, tgt, valid = sess.batch(targets)
            keep = valid.reshape(-1)
            x = xw.reshape(-1, w)[keep].double()
            y = tgt.reshape(-1)[keep].double()
            if config.residual:
                y = y - x[:, -1]
            x1 = torch.cat([x, torch.ones_like(y)[:, None]], 1)
            xtx += x1.T @ x1
            xty += x1.T @ y
    if not bool(xtx[w, w] > 0):  # no valid training pair
        return
    ridge = 1e-6 * float(torch.diagonal(xtx).mean())
    coef = torch.linalg.solve(xtx + ridge * torch.eye(w + 1, dtype=xtx.dtype, device=dev), xty)
    dec = model.decoder
    dec.skip_x.weight.copy_(coef[:w].to(dec.skip_x.weight.dtype)[None])
    dec.skip_x.bias.copy_(coef[w:].to(dec.skip_x.bias.dtype))
    dec.skip_i.weight.zero_()
    if dec.skip_b is not None:
        dec.skip_b.weight.zero_()
    last = dec.body[-1] if dec.kind == "mlp" else dec.head
    last.weight.zero_()
    last.bias.zero_()


def _canonical_sign(model: SynapsNet, sessions: Sequence[_Session], max_windows: int = 256):
    """Fix the sign symmetry (A, decoder current weights) -> (-A, -weights).

    Negating every A together with the decoder's input-current weights leaves all predictions
    unchanged, so the sign of A alone is not identified. We choose the sign for which the
    mean sensitivity of the prediction to the input current (summed over the window) is
    positive: a positive A[i, j] then means that activity of j raises the prediction of i.
    """
    if not any(p.requires_grad for p in model.weights):
        return
    model.train()  # no dropout anywhere; cuDNN RNNs differentiate only in training mode
    gain = 0.0
    for s, sess in enumerate(sessions):
        targets = sess.train_t[:max_windows]
        xw, xc, bw, _, _ = sess.batch(targets)
        chunk = model.neuron_chunk(len(targets))
        emb_all = model.neuron_embeddings[s]
        for c0 in range(0, sess.num_neurons, chunk):
            rows = slice(c0, min(c0 + chunk, sess.num_neurons))
            with torch.no_grad():
                cur = torch.matmul(model.adjacency(s)[rows], xw if xc is None else xc)
            cur.requires_grad_(True)
            emb = emb_all[rows].detach() if model.config.embedding_dim else None
            out = model.decoder(xw[:, rows], cur, bw, emb)
            (grad,) = torch.autograd.grad(out.sum(), cur)
            gain += float(grad.sum())
    if gain < 0:
        with torch.no_grad():
            params = model.sign_logits if model.config.sign == "dale" else model.weights
            for p in (*params, *model.low_rank_u):  # -(U V^T) = (-U) V^T
                p.neg_()
            model.decoder.in_i.weight.neg_()
            model.decoder.skip_i.weight.neg_()


def _optimizer(model: SynapsNet, config: SynapsNetConfig) -> torch.optim.Adam:
    session_params = [
        p
        for p in (
            *model.weights,
            *model.sign_logits,
            *model.low_rank_u,
            *model.low_rank_v,
            *model.neuron_embeddings,
        )
        if p.requires_grad
    ]
    groups = [{"params": list(model.decoder.parameters()), "weight_decay": config.weight_decay}]
    if session_params:
        groups.append({"params": session_params, "weight_decay": 0.0})
    return torch.optim.Adam(groups, lr=config.lr)


def _train_epoch(model: SynapsNet, sessions: Sequence[_Session], optimizer, config, epoch: int):
    gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    queues = []
    for s, sess in enumerate(sessions):
        order = sess.train_t[
            torch.randperm(len(sess.train_t), generator=gen).to(sess.train_t.device)
        ]
        queues.append([(s, chunk) for chunk in order.split(config.batch_size) if len(chunk)])
    plan = [item for rnd in _round_robin(queues) for item in rnd]
    total = count = None  # device tensors: no host synchronisation inside the epoch
    steps = 0
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for s, targets in plan:
        sess = sessions[s]
        xw, xc, bw, tgt, valid = sess.batch(targets)
        n_valid = valid.sum().clamp_min(1)
        optimizer.zero_grad(set_to_none=True)
        chunk = model.neuron_chunk(len(targets))
        batch_loss = torch.zeros((), device=xw.device)
        for c0 in range(0, sess.num_neurons, chunk):
            rows = slice(c0, min(c0 + chunk, sess.num_neurons))
            out = model.decode(s, xw, bw, rows, xc)
            loss = _loss_sum(out, tgt[:, rows], valid[:, rows], config.loss) / n_valid
            loss.backward()
            batch_loss += loss.detach()
        if config.l1 and model.weights[s].requires_grad:
            # the sparse part S only: a low-rank part U V^T is not penalised
            (config.l1 * model.sparse_adjacency(s).abs().sum() / sess.num_neurons).backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(
                [p for p in params if p.grad is not None], config.grad_clip
            )
        optimizer.step()
        total = batch_loss * n_valid if total is None else total + batch_loss * n_valid
        count = n_valid if count is None else count + n_valid
        steps += len(targets) * sess.num_neurons
    if total is None:
        return float("nan"), 0
    return float(total / count), steps


def _round_robin(queues: list[list[Any]]):
    for k in range(max((len(q) for q in queues), default=0)):
        yield [q[k] for q in queues if k < len(q)]


@torch.no_grad()
def _evaluate(model: SynapsNet, sessions: Sequence[_Session], config, which: str) -> float:
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=model.device)
    count = 0.0
    for s, sess in enumerate(sessions):
        for targets in getattr(sess, which).split(config.batch_size):
            xw, xc, bw, tgt, valid = sess.batch(targets)
            chunk = model.neuron_chunk(len(targets))
            for c0 in range(0, sess.num_neurons, chunk):
                rows = slice(c0, min(c0 + chunk, sess.num_neurons))
                out = model.decode(s, xw, bw, rows, xc)
                total += _loss_sum(out, tgt[:, rows], valid[:, rows], config.loss).double()
            count += float(valid.sum())
    return float(total) / count if count else float("nan")


# ---------------------------------------------------------------------- checkpoints
def _save_checkpoint(path: Path, model, optimizer, best, state, history) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best.items()})
    for idx, st in optimizer.state_dict()["state"].items():
        for key, val in st.items():
            tensors[f"optim.{idx}.{key}"] = torch.as_tensor(val).detach().cpu().contiguous()
    meta = {**model.metadata(), "state": json.dumps(state), "history": json.dumps(history)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    side = {k: (v if k == "format" else json.loads(v)) for k, v in meta.items()}
    path.with_suffix(".json").write_text(json.dumps(side, indent=2))


def _load_checkpoint(path: Path, model: SynapsNet, optimizer, config: SynapsNetConfig):
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    saved = json.loads(meta.get("config", "{}"))
    now = config.to_dict()
    defaults = SynapsNetConfig().to_dict()  # keys added later: older files hold the default
    diff = sorted(k for k in now if k not in RESUMABLE and saved.get(k, defaults[k]) != now[k])
    if diff:
        fail(
            "checkpoint_dir",
            "a checkpoint written with the same config",
            f"differences in {diff}",
            "Use another folder or the same config.",
        )
    if (
        json.loads(meta["num_neurons"]) != list(model.num_neurons)
        or int(meta["num_behaviour"]) != model.num_behaviour
    ):
        fail(
            "checkpoint_dir",
            "a checkpoint of the same sessions",
            f"neurons {meta['num_neurons']}, behaviour {meta['num_behaviour']}",
            "Use another folder for other data.",
        )
    tensors = load_file(str(path), device=str(model.device))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    opt_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, val in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            opt_state.setdefault(int(idx), {})[name] = val.cpu() if name == "step" else val
    optimizer.load_state_dict(
        {"state": opt_state, "param_groups": optimizer.state_dict()["param_groups"]}
    )
    return json.loads(meta["state"]), json.loads(meta["history"]), best
