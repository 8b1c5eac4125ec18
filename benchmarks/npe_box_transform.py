"""Issue 3: should NPE model box-uniform priors in logit space by default?

``NPEConfig(theta_transform="logit")`` fits the flow to ``logit((theta - low)/(high - low))``
(no leakage outside the box, no rejection); ``"none"`` fits theta itself and rejects samples
outside the box. On the eLife HH setup (box prior, 8-D, 1e5 simulations) logit removed the
leakage and the SBC over-confidence at equal held-out log-likelihood
(``benchmarks/hh_elife_sbc.py``). This script measures both on tasks with a box prior and an
EXACT posterior (so C2ST is against independent reference samples):

* ``gaussian_linear_uniform`` (the sbibm task): prior U(-1, 1)^10, x ~ N(theta, 0.1 I);
  posterior = N(x_o, 0.1 I) truncated to the box, sampled exactly per dimension
  (``scipy.stats.truncnorm``); observations from prior draws (seed 1000 + k).
* ``edge_2d``: prior U(0, 1)^2, x ~ N(theta, 0.05^2 I); true theta on purpose near edges and
  corners (the case the transform is for), plus one interior point.
* ``corr_3d``: prior U(-1, 1)^3, x = M theta + N(0, 0.2^2 I) with a mixing M (correlated,
  truncated posterior); exact samples by rejection from the untruncated Gaussian posterior.

Per task, budget and observation: C2ST (``neurodyn.diagnostics.c2st``, ``--num-samples`` per
side), the acceptance rate inside the box, training time and epochs; the same simulations and
seeds for both transforms. Prints a table and writes ``benchmarks/results/npe_box_transform.json``.

Usage::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/npe_box_transform.py --budgets 1000,10000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import truncnorm

from neurodyn.diagnostics import c2st
from neurodyn.inference import NPE, NPEConfig
from neurodyn.priors import BoxUniform

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "npe_box_transform.json"
_M3 = np.array([[1.0, 0.8, 0.0], [0.0, 1.0, -0.6], [0.5, 0.0, 1.0]])


class Task:
    """Box prior, simulator and exact posterior sampler of one task."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "gaussian_linear_uniform":
            self.low, self.high, self.sd = -np.ones(10), np.ones(10), np.sqrt(0.1)
        elif name == "edge_2d":
            self.low, self.high, self.sd = np.zeros(2), np.ones(2), 0.05
        elif name == "corr_3d":
            self.low, self.high, self.sd = -np.ones(3), np.ones(3), 0.2
        else:
            raise ValueError(f"task: unknown {name!r}")
        self.dim = len(self.low)
        self.prior = BoxUniform(torch.tensor(self.low).float(), torch.tensor(self.high).float())

    def mix(self, theta: np.ndarray) -> np.ndarray:
        return theta @ _M3.T if self.name == "corr_3d" else theta

    def simulate(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.mix(theta) + self.sd * rng.standard_normal(theta.shape)

    def true_thetas(self, num: int) -> np.ndarray:
        if self.name == "edge_2d":
            pts = [(0.02, 0.5), (0.01, 0.99), (0.97, 0.03), (0.5, 0.005), (0.5, 0.5)]
            return np.array(pts[:num])
        rng = np.random.default_rng(1000)
        return rng.uniform(self.low, self.high, size=(num, self.dim))

    def posterior(self, x_o: np.ndarray, num: int, rng: np.random.Generator) -> np.ndarray:
        if self.name != "corr_3d":  # independent truncated normals
            a, b = (self.low - x_o) / self.sd, (self.high - x_o) / self.sd
            z = truncnorm.rvs(a, b, size=(num, self.dim), random_state=rng)
            return x_o + self.sd * z
        # Gaussian posterior of theta under a flat prior: N(M^-1 x_o, sd^2 (M^T M)^-1), truncated
        cov = self.sd**2 * np.linalg.inv(_M3.T @ _M3)
        mean = np.linalg.solve(_M3, x_o)
        out: list[np.ndarray] = []
        have = 0
        while have < num:
            c = rng.multivariate_normal(mean, cov, size=max(4 * num, 10_000))
            c = c[((c >= self.low) & (c <= self.high)).all(1)]
            out.append(c)
            have += len(c)
        return np.concatenate(out)[:num]


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    rows = []
    for task_name in args.tasks.split(","):
        task = Task(task_name)
        for budget in [int(b) for b in args.budgets.split(",")]:
            rng = np.random.default_rng(budget)
            theta = rng.uniform(task.low, task.high, size=(budget, task.dim))
            x = task.simulate(theta, rng)
            thetas_o = task.true_thetas(args.num_obs)
            xs_o = task.simulate(thetas_o, np.random.default_rng(2000))
            for transform in ("none", "logit"):
                cfg = NPEConfig(theta_transform=transform, seed=args.seed)
                t0 = time.perf_counter()
                npe = NPE(prior=task.prior, config=cfg)
                npe.append_simulations(torch.tensor(theta).float(), torch.tensor(x).float())
                npe.train(show_progress=False)
                post = npe.build_posterior()
                t_train = time.perf_counter() - t0
                for k, x_o in enumerate(xs_o):
                    torch.manual_seed(args.seed + k)
                    q = post.sample((args.num_samples,), x=torch.tensor(x_o).float())
                    acc = float(post.acceptance_rate) if hasattr(post, "acceptance_rate") else 1.0
                    ref = task.posterior(x_o, args.num_samples, np.random.default_rng(3000 + k))
                    score = c2st(torch.tensor(ref).float(), q.float(), seed=k)
                    rows.append(
                        dict(
                            task=task_name, budget=budget, transform=transform, obs=k,
                            c2st=score, acceptance=acc, train_s=t_train,
                            epochs=npe.summary.epochs, theta_o=thetas_o[k].tolist(),
                        )
                    )  # fmt: skip
                    print(
                        f"{task_name:>24} {budget:>6} {transform:>5} obs {k}: C2ST {score:.3f} "
                        f"acceptance {acc:.3f} train {t_train:.1f} s",
                        flush=True,
                    )
    return {"rows": rows, "settings": vars(args)}


def summarise(rows: list[dict]) -> list[dict]:
    """Mean C2ST / acceptance per task, budget, transform; paired difference over obs."""
    out = []
    keys = sorted({(r["task"], r["budget"]) for r in rows})
    for task, budget in keys:
        sel = {t: [r for r in rows if (r["task"], r["budget"], r["transform"]) == (task, budget, t)]
               for t in ("none", "logit")}  # fmt: skip
        c = {t: np.array([r["c2st"] for r in v]) for t, v in sel.items()}
        d = c["logit"] - c["none"]
        out.append(
            dict(
                task=task, budget=budget,
                c2st_none=float(c["none"].mean()), c2st_logit=float(c["logit"].mean()),
                diff_mean=float(d.mean()), diff_sd=float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                logit_better=int((d < 0).sum()), num_obs=len(d),
                acceptance_none=float(np.mean([r["acceptance"] for r in sel["none"]])),
                train_s_none=sel["none"][0]["train_s"], train_s_logit=sel["logit"][0]["train_s"],
            )
        )  # fmt: skip
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="gaussian_linear_uniform,edge_2d,corr_3d")
    p.add_argument("--budgets", default="1000,10000")
    p.add_argument("--num-obs", type=int, default=5)
    p.add_argument("--num-samples", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_JSON)
    args = p.parse_args()
    res = run(args)
    res["summary"] = summarise(res["rows"])
    out = Path(args.out)
    res["settings"]["out"] = str(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(
        "\n| task | budget | C2ST none | C2ST logit | logit - none (sd) | logit better | "
        "acceptance (none) | train s none / logit |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for s in res["summary"]:
        print(
            f"| {s['task']} | {s['budget']} | {s['c2st_none']:.3f} | {s['c2st_logit']:.3f} | "
            f"{s['diff_mean']:+.3f} ({s['diff_sd']:.3f}) | {s['logit_better']}/{s['num_obs']} | "
            f"{s['acceptance_none']:.3f} | {s['train_s_none']:.0f} / {s['train_s_logit']:.0f} |"
        )


if __name__ == "__main__":
    main()
