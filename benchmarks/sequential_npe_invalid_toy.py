"""Sequential NPE with invalid simulations excluded: a toy task with a known posterior.

Why did the APT rounds of the pyloric posterior study (issue #5) make the posterior worse? This
toy has the same structure as the pyloric problem and an exact posterior:

* prior ``U[-1, 1]^D``; simulator ``x = theta + sigma * eps`` (``eps ~ N(0, I)``);
* ``x`` is *invalid* (NaN, like a pyloric simulation without a triphasic rhythm) unless its
  first ``K`` entries are all positive: ``P(valid | prior) ~ 0.5^K`` (``K = 6``: ~1.6 %,
  pyloric 0.93 %);
* observation ``x_o`` valid, close to the validity edge in the constrained dimensions (the
  pyloric posterior predictive is only ~80 % valid, so the posterior straddles an edge).

Validity is a function of ``x``, so ``p(x_o | theta) = N(x_o; theta, sigma^2 I)`` at a valid
``x_o`` and the posterior is a product of truncated normals. Plain NPE trained on the *valid*
prior simulations is exact: its data density is ``p(theta) p(x | theta)`` on valid ``x``. The
APT/SNPE-C atomic loss on valid simulations is not: it learns ``q(theta | x) ∝ p(theta)
pi(x | theta)`` where ``pi(x | theta) = p(x | theta) / P(valid | theta)`` is the data's
conditional, so ``q`` is biased by ``1 / P(valid | theta)`` towards parameters that rarely give
valid activity (Durkan et al. 2020 for the optimum of the contrastive loss).

Methods (same MAF, logit transform and training settings as the study):

* ``npe``: one prior round (``N1`` simulations);
* ``npe_big``: one prior round with the simulations of all three rounds;
* ``apt``: the study's former default: prior round, then 2 rounds from the posterior at ``x_o``
  trained with the atomic loss on all valid simulations (warm start);
* ``tsnpe``: prior round, then 2 rounds from the prior truncated to the 1 - 1e-4
  highest-probability region of the posterior (plain loss on all rounds; Deistler et al. 2022);
* ``apt_all_valid`` / ``npe_all_valid``: the same without invalid simulations (control: is the
  atomic loss itself at fault, or the exclusion of invalid simulations?).

Metrics: ``kl`` = KL(p_true || q) = E_true[log p_true - log q] and ``kl_reverse`` = KL(q ||
p_true) (nats, 4000 samples each; the logit flow is normalised on the box; the reverse KL
punishes mass where the true posterior has little, i.e. the bias), posterior-predictive valid
fraction (truth: ``ppc_true``), mass of the constrained coordinates below 0 vs truth.

Run (CPU, ~5 min on one core)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/sequential_npe_invalid_toy.py

Writes ``benchmarks/results/sequential_npe_invalid_toy.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from neurodyn.inference import NPE, NPEConfig
from neurodyn.priors import BoxUniform

D, K, SIGMA = 8, 6, 0.1


def x_o() -> torch.Tensor:
    """Observation: constrained entries 0.15 (1.5 sigma above the validity edge)."""
    return torch.tensor([0.15] * K + [0.3] * (D - K))


def simulate(theta: torch.Tensor, gen: torch.Generator, invalid: bool = True) -> torch.Tensor:
    x = theta + SIGMA * torch.randn(theta.shape, generator=gen)
    if invalid:
        bad = (x[:, :K] <= 0).any(1)
        x[bad] = float("nan")
    return x


def true_log_prob(theta: torch.Tensor, xo: torch.Tensor) -> torch.Tensor:
    """Exact log posterior: product of N(x_o, sigma^2) truncated to [-1, 1]."""
    nrm = torch.distributions.Normal(xo.double(), SIGMA)
    z = nrm.cdf(torch.ones(D, dtype=torch.float64)) - nrm.cdf(-torch.ones(D, dtype=torch.float64))
    return (nrm.log_prob(theta.double()) - z.log()).sum(-1)


def true_sample(n: int, xo: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    nrm = torch.distributions.Normal(xo.double(), SIGMA)
    lo = nrm.cdf(-torch.ones(D, dtype=torch.float64))
    hi = nrm.cdf(torch.ones(D, dtype=torch.float64))
    u = lo + (hi - lo) * torch.rand(n, D, generator=gen, dtype=torch.float64)
    return nrm.icdf(u).float()


def run(method: str, n1: int, n_later: int, seed: int, hidden: int) -> dict:
    invalid = not method.endswith("_all_valid")
    base = method.replace("_all_valid", "")
    prior = BoxUniform(-torch.ones(D), torch.ones(D))
    cfg = NPEConfig(
        estimator="maf", hidden_features=hidden, num_transforms=5, theta_transform="logit",
        batch_size=512, learning_rate=1e-3, max_epochs=300, patience=10, num_atoms=10,
        seed=seed,
    )  # fmt: skip
    gen = torch.Generator().manual_seed(1000 + seed)
    torch.manual_seed(seed)
    xo = x_o()
    npe = NPE(prior, cfg)
    t0 = time.perf_counter()
    rounds = [n1 * (3 if base == "npe_big" and n_later else 1)]
    if base in ("apt", "tsnpe"):
        rounds += [n_later, n_later]
    proposal, info = None, []
    post = None
    for r, n in enumerate(rounds):
        if r == 0:
            theta = prior.sample((n,))
        elif base == "apt":
            proposal = post
            theta = post.sample((n,), x=xo)
        else:
            proposal = post.truncated_prior(xo, quantile=1e-4)
            theta = proposal.sample((n,))
        x = simulate(theta, gen, invalid)
        ok = torch.isfinite(x).all(1)
        info.append({"round": r + 1, "simulated": n, "valid": int(ok.sum())})
        if base == "tsnpe" and r > 0:
            info[-1]["truncation_acceptance"] = float(proposal.acceptance_rate)
        npe.append_simulations(theta[ok], x[ok], proposal=proposal)
        npe.train(show_progress=False)
        post = npe.build_posterior()
        info[-1]["epochs"] = npe.summary.epochs
    ts = true_sample(4000, xo, gen)
    with torch.no_grad():
        lq = post.estimator.log_prob(ts, xo.expand(ts.shape[0], D))
    kl = float((true_log_prob(ts, xo) - lq.double()).mean())
    qs = post.sample((4000,), x=xo)
    with torch.no_grad():
        lq_q = post.estimator.log_prob(qs, xo.expand(qs.shape[0], D)).double()
    kl_rev = float((lq_q - true_log_prob(qs, xo)).mean())
    ppc = float(torch.isfinite(simulate(qs, gen, True)).all(1).float().mean())
    ppc_true = float(torch.isfinite(simulate(ts, gen, True)).all(1).float().mean())
    return {
        "method": method,
        "seed": seed,
        "rounds": info,
        "kl": kl,
        "kl_reverse": kl_rev,
        "ppc_valid": ppc,
        "ppc_valid_true": ppc_true,
        "mean_constrained": float(qs[:, :K].mean()),
        "mean_constrained_true": float(ts[:, :K].mean()),
        "frac_constrained_below_0": float((qs[:, :K] < 0).float().mean()),
        # samples with a coordinate within 1e-3 of the box edge (1 - 0.999^D under the prior)
        "frac_at_edge": float(((qs.abs() > 1 - 2e-3).any(1)).float().mean()),
        "frac_at_edge_true": float(((ts.abs() > 1 - 2e-3).any(1)).float().mean()),
        "frac_constrained_below_0_true": float((ts[:, :K] < 0).float().mean()),
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n1", type=int, default=40_000, help="prior-round simulations")
    p.add_argument("--n-later", type=int, default=5_000, help="simulations of rounds 2 and 3")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument(
        "--methods",
        nargs="+",
        default=["npe", "npe_big", "apt", "tsnpe", "npe_all_valid", "apt_all_valid"],
    )
    p.add_argument("--out", default="benchmarks/results/sequential_npe_invalid_toy.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for seed in args.seeds:
        for m in args.methods:
            res = run(m, args.n1, args.n_later, seed, args.hidden)
            rows.append(res)
            valid = "/".join(str(r["valid"]) for r in res["rounds"])
            print(
                f"{m:>14} seed {seed}: KL {res['kl']:7.3f} rev {res['kl_reverse']:7.3f}  "
                f"PPC valid {res['ppc_valid']:.3f} "
                f"(true {res['ppc_valid_true']:.3f})  P(theta_c<0) "
                f"{res['frac_constrained_below_0']:.3f} (true "
                f"{res['frac_constrained_below_0_true']:.3f})  edge {res['frac_at_edge']:.4f}  "
                f"valid/round {valid}  "
                f"{res['seconds']:.0f} s",
                flush=True,
            )
    print()
    print(
        "| method | KL(p||q) | KL(q||p) | PPC valid | true PPC | P(theta_c < 0) | at edge |"
        f" seeds {args.seeds} |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for m in args.methods:
        sel = [r for r in rows if r["method"] == m]

        def mean(key: str, sel: list = sel) -> float:
            return sum(r[key] for r in sel) / len(sel)

        print(
            f"| {m} | {mean('kl'):.3f} | {mean('kl_reverse'):.3f} | {mean('ppc_valid'):.3f} "
            f"| {mean('ppc_valid_true'):.3f} "
            f"| {mean('frac_constrained_below_0'):.3f} (true "
            f"{mean('frac_constrained_below_0_true'):.3f}) | {mean('frac_at_edge'):.4f} | |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    setup = {"D": D, "K": K, "sigma": SIGMA, "x_o": x_o().tolist(), **vars(args)}
    out.write_text(json.dumps({"setup": setup, "runs": rows}, indent=1))
    assert all(math.isfinite(r["kl"]) for r in rows)


if __name__ == "__main__":
    main()
