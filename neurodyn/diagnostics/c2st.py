"""Classifier two-sample test (C2ST).

A classifier learns to tell samples of ``P`` from samples of ``Q``; its cross-validated
accuracy is 0.5 when the two distributions are equal and approaches 1 when they are easy to
separate. As in the SBI benchmark (Lueckmann et al., 2021): both sets are z-scored with the
mean/std of the first, the classifier is an MLP with two hidden layers of ``10 * dim`` ReLU
units, and the accuracy is averaged over stratified ``num_folds``-fold cross-validation.
Here the MLP is trained with Adam and early stopping in torch (fast, seeded, CPU or CUDA).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from neurodyn._validation import check_positive, check_tensor, fail

__all__ = ["c2st"]


def _train_classifier(
    x: Tensor, y: Tensor, *, gen: torch.Generator, hidden: int, max_epochs: int, batch_size: int
) -> nn.Module:
    dim = x.shape[1]
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=gen)))
    net = nn.Sequential(
        nn.Linear(dim, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 1),
    ).to(x.device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    n = x.shape[0]
    perm = torch.randperm(n, generator=gen).to(x.device)
    n_val = max(1, n // 10)
    val, tr = perm[:n_val], perm[n_val:]
    best, best_state, bad = float("inf"), None, 0
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(max_epochs):
        order = tr[torch.randperm(tr.numel(), generator=gen).to(x.device)]
        for start in range(0, order.numel(), batch_size):
            idx = order[start : start + batch_size]
            loss = loss_fn(net(x[idx]).squeeze(-1), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            v = float(loss_fn(net(x[val]).squeeze(-1), y[val]))
        if v < best - 1e-4:
            best, bad = v, 0
            best_state = {k: t.clone() for k, t in net.state_dict().items()}
        else:
            bad += 1
            if bad >= 10:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    return net


def c2st(
    samples_p: Any,
    samples_q: Any,
    *,
    seed: int = 0,
    num_folds: int = 5,
    max_epochs: int = 100,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> float:
    """Cross-validated accuracy of a classifier separating ``samples_p`` from ``samples_q``.

    Args:
        samples_p: samples ``(N, dim)`` of the first distribution (e.g. the reference).
        samples_q: samples ``(M, dim)`` of the second.
        seed: seed of the folds, initialisation and minibatches (the result is reproducible).
        num_folds: cross-validation folds (>= 2).
        max_epochs: bound on training epochs per fold (early stopping on 10 % of the fold).
        batch_size: minibatch size.
        device: where the classifier trains.

    Returns:
        Mean held-out accuracy in ``[0, 1]``; ~0.5 means indistinguishable.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
        >>> 0.4 < c2st(a, b, num_folds=2) < 0.6
        True
        >>> c2st(a, b + 3.0, num_folds=2) > 0.9
        True
    """
    p = check_tensor("samples_p", samples_p, ndim=2, dtype=torch.float32, device=device)
    q = check_tensor("samples_q", samples_q, ndim=2, dtype=torch.float32, device=device)
    if p.shape[1] != q.shape[1]:
        fail("samples_q", f"the same dimension as samples_p ({p.shape[1]})", q)
    num_folds = check_positive("num_folds", num_folds, integer=True)
    if num_folds < 2:
        fail("num_folds", "at least 2 folds", num_folds)
    if min(p.shape[0], q.shape[0]) < 2 * num_folds:
        fail(
            "samples_p",
            f"at least {2 * num_folds} samples in each set",
            f"{p.shape[0]} and {q.shape[0]}",
        )
    mean, std = p.mean(0), p.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    x = torch.cat([(p - mean) / std, (q - mean) / std])
    y = torch.cat([torch.zeros(p.shape[0]), torch.ones(q.shape[0])]).to(x.device)
    gen = torch.Generator().manual_seed(seed)
    # stratified folds: each class split separately
    folds = [torch.empty(0, dtype=torch.long) for _ in range(num_folds)]
    for offset, n in ((0, p.shape[0]), (p.shape[0], q.shape[0])):
        idx = torch.randperm(n, generator=gen) + offset
        for k, chunk in enumerate(idx.tensor_split(num_folds)):
            folds[k] = torch.cat([folds[k], chunk])
    accs = []
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        for k in range(num_folds):
            test = folds[k].to(x.device)
            train = torch.cat([folds[j] for j in range(num_folds) if j != k]).to(x.device)
            net = _train_classifier(
                x[train],
                y[train],
                gen=gen,
                hidden=10 * x.shape[1],
                max_epochs=max_epochs,
                batch_size=batch_size,
            )
            with torch.no_grad():
                pred = (net(x[test]).squeeze(-1) > 0).float()
            accs.append(float((pred == y[test]).float().mean()))
    return float(sum(accs) / len(accs))
