"""neurodyn NPE vs sbi NPE on sbibm tasks: C2ST against reference posteriors and training time.

Both methods get the same simulations (same seed) in the same process and thread setting;
C2ST uses neurodyn's classifier (MLP 2 x 10*dim, cross-validated) for both, against the
sbibm reference posterior samples of each observation. Wall time is the training call only
(``train()``), and separately the time to draw the posterior samples.

Usage (small default; the full grid takes hours on 2 cores)::

    python benchmarks/sbi_tasks.py --tasks two_moons gaussian_linear --budgets 1000 10000 \
        --num-observations 3 --methods neurodyn sbi

Needs ``sbibm`` (``pip install --no-deps sbibm`` plus pyro-ppl) and ``sbi==0.27.0``.
Writes ``benchmarks/results/sbi_tasks.json`` (or ``--out``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

TASKS = ("gaussian_linear", "two_moons", "slcp", "gaussian_mixture", "bernoulli_glm")
#: Published single-round NPE C2ST means over 10 sbibm tasks (Lueckmann et al., 2021)
PUBLISHED_NPE_MEAN = {1000: 0.838, 10000: 0.736, 100000: 0.654}


def neurodyn_config(args: argparse.Namespace, estimator: str):
    from neurodyn.inference import NPEConfig

    return NPEConfig(
        estimator=estimator,
        hidden_features=args.hidden,
        num_transforms=args.transforms,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        patience=args.patience,
        num_threads=args.threads,
        seed=args.seed,
        device=args.device,
    )


def run_neurodyn(prior, theta, x, xs, num_samples, args, estimator="nsf"):
    from neurodyn.inference import NPE

    theta, x, xs = theta.to(args.device), x.to(args.device), xs.to(args.device)
    npe = NPE(prior, neurodyn_config(args, estimator)).append_simulations(theta, x)
    t0 = time.perf_counter()
    npe.train(show_progress=False)
    t_train = time.perf_counter() - t0
    post = npe.build_posterior()
    t0 = time.perf_counter()
    samples = post.sample_batched((num_samples,), x=xs).cpu()
    t_sample = time.perf_counter() - t0
    return (
        samples,
        t_train,
        t_sample,
        {"epochs": npe.summary.epochs, "steps": npe.summary.num_steps},
    )


def run_sbi(prior, theta, x, xs, num_samples, args):
    from sbi.inference import NPE as SBINPE

    inference = SBINPE(prior=prior, density_estimator=args.sbi_estimator, show_progress_bars=False)
    inference.append_simulations(theta, x)
    t0 = time.perf_counter()
    inference.train()
    t_train = time.perf_counter() - t0
    post = inference.build_posterior()
    t0 = time.perf_counter()
    samples = torch.stack(
        [
            post.sample((num_samples,), x=xs[i], show_progress_bars=False)
            for i in range(xs.shape[0])
        ],
        dim=1,
    )
    t_sample = time.perf_counter() - t0
    return samples, t_train, t_sample, {"epochs": inference._summary["epochs_trained"][-1]}


METHODS = {
    "neurodyn": (run_neurodyn, {"estimator": "nsf"}),
    "neurodyn_maf": (run_neurodyn, {"estimator": "maf"}),
    "sbi": (run_sbi, {}),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--budgets", nargs="+", type=int, default=[1000, 10000])
    p.add_argument("--num-observations", type=int, default=3)
    p.add_argument(
        "--num-samples",
        type=int,
        default=4000,
        help="posterior and reference samples per C2ST (sbibm: 10000)",
    )
    p.add_argument("--c2st-folds", type=int, default=3)
    p.add_argument(
        "--methods",
        nargs="+",
        default=["neurodyn", "sbi"],
        choices=list(METHODS),
        help="neurodyn = NSF (default estimator), neurodyn_maf = MAF, sbi = sbi's NPE",
    )
    p.add_argument("--device", default="cpu", help="device of neurodyn training and C2ST")
    p.add_argument("--merge", nargs="+", help="merge these result JSONs into --out and exit")
    p.add_argument("--sbi-estimator", default="maf")
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--transforms", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/sbi_tasks.json")
    args = p.parse_args()
    if args.merge:
        parts = [json.loads(Path(f).read_text()) for f in args.merge]
        rows = [r for part in parts for r in part["rows"]]
        _write(args, rows, parts_meta=[part["meta"] for part in parts])
        _table(rows)
        return

    import sbibm

    from neurodyn.diagnostics import c2st

    torch.set_num_threads(args.threads)
    os.environ.setdefault("NEURODYN_PROGRESS", "0")
    rows = []
    for task_name in args.tasks:
        task = sbibm.get_task(task_name)
        prior = task.get_prior_dist()
        simulator = task.get_simulator()
        obs = list(range(1, args.num_observations + 1))
        xs = torch.cat([task.get_observation(i) for i in obs]).float()
        refs = [task.get_reference_posterior_samples(i)[: args.num_samples] for i in obs]
        for budget in args.budgets:
            torch.manual_seed(args.seed + budget)
            theta = task.get_prior()(num_samples=budget)
            x = simulator(theta)
            for method in args.methods:
                runner, kwargs = METHODS[method]
                torch.manual_seed(args.seed)
                samples, t_train, t_sample, extra = runner(
                    prior, theta, x, xs, args.num_samples, args, **kwargs
                )
                accs = [
                    c2st(
                        refs[k],
                        samples[:, k],
                        num_folds=args.c2st_folds,
                        seed=k,
                        device=args.device,
                    )
                    for k in range(len(obs))
                ]
                row = {
                    "task": task_name,
                    "budget": budget,
                    "method": method,
                    "c2st": accs,
                    "c2st_mean": sum(accs) / len(accs),
                    "train_s": t_train,
                    "sample_s": t_sample,
                    **extra,
                }
                rows.append(row)
                print(
                    f"{task_name:17s} {budget:>7d} {method:9s} C2ST {row['c2st_mean']:.3f} "
                    f"train {t_train:7.1f} s  sample {t_sample:6.1f} s  {extra}",
                    flush=True,
                )
                _write(args, rows)
    _table(rows)


def _write(args: argparse.Namespace, rows: list[dict], parts_meta: list | None = None) -> None:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "args": vars(args),
        "torch": torch.__version__,
        "threads": args.threads,
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
        "published_npe_mean_c2st": PUBLISHED_NPE_MEAN,
    }
    try:
        import sbi

        meta["sbi"] = sbi.__version__
    except ImportError:
        pass
    if parts_meta is not None:
        meta["parts"] = parts_meta
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


def _table(rows: list[dict]) -> None:
    """Markdown table: C2ST (mean over observations) and training seconds per method."""
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    others = [m for m in methods if m != "sbi"] if "sbi" in methods else []
    head = " | ".join(f"{m} C2ST | {m} train s" for m in methods)
    ratio_head = "".join(f" sbi/{m} time |" for m in others)
    print(f"\n| task | sims | {head} |{ratio_head}")
    print("|---|---|" + "---|" * (2 * len(methods) + len(others)))
    for task, budget in sorted({(r["task"], r["budget"]) for r in rows}):
        by = {r["method"]: r for r in rows if r["task"] == task and r["budget"] == budget}
        cells = [
            f"{by[m]['c2st_mean']:.3f} | {by[m]['train_s']:.1f}" if m in by else "- | -"
            for m in methods
        ]
        sb = by.get("sbi")
        cells += [
            f"{sb['train_s'] / by[m]['train_s']:.1f}x" if sb and m in by else "-" for m in others
        ]
        print(f"| {task} | {budget} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
