"""neurodyn NPE vs sbi NPE on sbibm tasks: C2ST against reference posteriors and training time.

Both methods get the same simulations (same seed) in the same process and thread setting;
C2ST uses neurodyn's classifier (MLP 2 x 10*dim, cross-validated) for both, against the
sbibm reference posterior samples of each observation. Wall time is the training call only
(``train()``), and separately the time to draw the posterior samples.

Methods: ``neurodyn`` = ``NPEConfig()`` defaults (automatic estimator/batch/learning rate
and schedule, see ``neurodyn.inference.config.auto_settings``); ``s8_default`` = the
session-8 defaults (constant learning rate); ``neurodyn_nsf``/``neurodyn_maf`` = NSF/MAF
with 5 transforms, batch 512, lr 1e-3 (the settings of the first table in RESULTS.md);
``neurodyn_nsf3_b2048``/``neurodyn_maf_b2048`` = the candidates behind the automatic choice;
``sbi`` = ``sbi.inference.NPE(prior)`` defaults.

Usage (small default; the full grid takes hours on 2 cores)::

    python benchmarks/sbi_tasks.py --tasks two_moons gaussian_linear --budgets 1000 10000 \
        --num-observations 3 --methods neurodyn sbi --seeds 0 1 2

    python benchmarks/sbi_tasks.py --summarise part1.json part2.json ...   # noise-aware table

Needs ``sbibm`` (``pip install --no-deps sbibm`` plus pyro-ppl) and ``sbi==0.27.0``.
Writes ``benchmarks/results/sbi_tasks.json`` (or ``--out``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import sys
import time
import types
from pathlib import Path

import torch

TASKS = ("gaussian_linear", "two_moons", "slcp", "gaussian_mixture", "bernoulli_glm")
#: Published single-round NPE C2ST means over 10 sbibm tasks (Lueckmann et al., 2021)
PUBLISHED_NPE_MEAN = {1000: 0.838, 10000: 0.736, 100000: 0.654}
#: neurodyn variants: NPEConfig overrides (the default method uses none)
VARIANTS: dict[str, dict] = {
    "neurodyn": {},
    # the session-8 automatic settings (constant learning rate everywhere)
    "s8_default": dict(lr_schedule="constant"),
    "neurodyn_nsf": dict(estimator="nsf", num_transforms=5, batch_size=512, learning_rate=1e-3),
    "neurodyn_maf": dict(estimator="maf", num_transforms=5, batch_size=512, learning_rate=1e-3),
    "neurodyn_nsf3_b2048": dict(
        estimator="nsf", num_transforms=3, batch_size=2048, learning_rate=2e-3
    ),
    "neurodyn_maf_b2048": dict(
        estimator="maf", num_transforms=5, batch_size=2048, learning_rate=2e-3
    ),
    # session-8 screens of the 10^3 schedule (MAF, tanh)
    "neurodyn_lr2e3_decay": dict(learning_rate=2e-3, lr_decay=0.5, lr_patience=3),
    "neurodyn_b256": dict(batch_size=256),
    "neurodyn_b128": dict(batch_size=128),
    "neurodyn_b1024_lr2e3": dict(batch_size=1024, learning_rate=2e-3),
    # session-8 screens at 10^5 (bernoulli_glm's MAF stopped early, less accurate than sbi)
    "neurodyn_decay": dict(lr_decay=0.5, lr_patience=3),
    "neurodyn_patience20": dict(patience=20),
    "neurodyn_decay_p20": dict(lr_decay=0.5, lr_patience=5, patience=20),
    "neurodyn_b256_p20": dict(batch_size=256, patience=20),
    # session-9 screens (bernoulli_glm 10^5 accuracy, slcp 10^4 speed); see RESULTS.md
    "s9_h64": dict(hidden_features=64),
    "s9_h100": dict(hidden_features=100),
    "s9_t3": dict(num_transforms=3),
    "s9_t8": dict(num_transforms=8),
    "s9_b1024_lr2e3": dict(batch_size=1024, learning_rate=2e-3),
    "s9_b2048_lr3e3": dict(batch_size=2048, learning_rate=3e-3),
    "s9_lr5e4": dict(learning_rate=5e-4),
    # cosine learning-rate decay to 0 at max_epochs (early stopping kept)
    "s9_cos60": dict(lr_schedule="cosine", max_epochs=60),
    "s9_cos60_lr2e3": dict(lr_schedule="cosine", max_epochs=60, learning_rate=2e-3),
    "s9_cos80_lr2e3": dict(lr_schedule="cosine", max_epochs=80, learning_rate=2e-3),
    "s9_b2048_lr4e3_cos100": dict(
        batch_size=2048, learning_rate=4e-3, lr_schedule="cosine", max_epochs=100, warmup_epochs=1
    ),
    "s9_b2048_lr4e3_cos60": dict(
        batch_size=2048, learning_rate=4e-3, lr_schedule="cosine", max_epochs=60, warmup_epochs=1
    ),
    "s9_b2048_lr4e3_cos80": dict(
        batch_size=2048, learning_rate=4e-3, lr_schedule="cosine", max_epochs=80, warmup_epochs=1
    ),
    "s9_b1024_lr3e3_cos60": dict(
        batch_size=1024, learning_rate=3e-3, lr_schedule="cosine", max_epochs=60, warmup_epochs=1
    ),
    # "anneal": constant rate until lr_patience (5) epochs without improvement, then linear
    # decay to 0 over anneal_fraction x the epochs so far (adaptive length, unlike cosine)
    # (s9_anneal ran with the then-automatic rate: 1e-3 on the MAF; on slcp 10^4's NSF 2e-3,
    # i.e. it was s9_anneal_lr2e3 there)
    "s9_anneal": dict(lr_schedule="anneal", learning_rate=1e-3),
    "s9_anneal_lr2e3": dict(lr_schedule="anneal", learning_rate=2e-3),
    "s9_b2048_lr4e3_anneal": dict(
        batch_size=2048, learning_rate=4e-3, lr_schedule="anneal", warmup_epochs=1
    ),
    "s9_b2048_lr4e3_anneal05": dict(
        batch_size=2048,
        learning_rate=4e-3,
        lr_schedule="anneal",
        warmup_epochs=1,
        anneal_fraction=0.5,
    ),
    "s9_lr4e3_anneal": dict(learning_rate=4e-3, lr_schedule="anneal", warmup_epochs=1),
    "s9_lr4e3_anneal_nowarm": dict(learning_rate=4e-3, lr_schedule="anneal"),
    "s9_lr3e3_anneal": dict(learning_rate=3e-3, lr_schedule="anneal", warmup_epochs=1),
    "s9_lr6e3_anneal": dict(learning_rate=6e-3, lr_schedule="anneal", warmup_epochs=1),
    "s9_lr4e3_anneal05": dict(
        learning_rate=4e-3, lr_schedule="anneal", warmup_epochs=1, anneal_fraction=0.5
    ),
    "s9_anneal_lr2e3_warm": dict(lr_schedule="anneal", learning_rate=2e-3, warmup_epochs=1),
    "s9_anneal_lr3e3": dict(lr_schedule="anneal", learning_rate=3e-3, warmup_epochs=1),
    "s9_anneal_lr3e3_randperm": dict(
        lr_schedule="anneal", learning_rate=3e-3, warmup_epochs=1, randperm=True
    ),
    "s9_anneal_lr3e3_f05": dict(
        lr_schedule="anneal", learning_rate=3e-3, warmup_epochs=1, anneal_fraction=0.5
    ),
    "s9_anneal_lr2e3_f05": dict(
        lr_schedule="anneal", learning_rate=2e-3, warmup_epochs=1, anneal_fraction=0.5
    ),
    "s9_lr3e3": dict(learning_rate=3e-3),
    "s9_p5": dict(patience=5),
    "s9_bins6": dict(num_bins=6),
    "s9_h32": dict(hidden_features=32),
    "s9_randperm": dict(randperm=True),
    "s9_randperm_cos60_lr2e3": dict(
        randperm=True, lr_schedule="cosine", max_epochs=60, learning_rate=2e-3
    ),
}
# every variant above without a schedule ran with a constant rate (before session 9's
# automatic anneal at >= 32 steps per epoch): pin it, so that they keep their meaning
for _name, _over in VARIANTS.items():
    if _name != "neurodyn":
        _over.setdefault("lr_schedule", "constant")


class _TimeLimit(Exception):
    pass


def _alarm(signum, frame):
    raise _TimeLimit


def run_neurodyn(prior, theta, x, xs, num_samples, args, variant="neurodyn", seed=0):
    from neurodyn.inference import NPE, NPEConfig

    cfg = NPEConfig(num_threads=args.threads, seed=seed, device=args.device, **VARIANTS[variant])
    theta, x, xs = theta.to(args.device), x.to(args.device), xs.to(args.device)
    npe = NPE(prior, cfg).append_simulations(theta, x)
    t0, c0 = time.perf_counter(), time.process_time()
    npe.train(show_progress=False)
    t_train = time.perf_counter() - t0
    cpu_train = time.process_time() - c0
    post = npe.build_posterior()
    t0 = time.perf_counter()
    samples = post.sample_batched((num_samples,), x=xs).cpu()
    t_sample = time.perf_counter() - t0
    rc = npe.resolved_config
    return (
        samples,
        t_train,
        t_sample,
        {
            "train_cpu_s": cpu_train,
            "epochs": npe.summary.epochs,
            "steps": npe.summary.num_steps,
            "config": {
                k: getattr(rc, k)
                for k in ("estimator", "num_transforms", "batch_size", "learning_rate")
            },
        },
    )


def _import_sbi():
    """Import sbi; without the tensorboard package, stub sbi's (unused) SummaryWriter.

    The stub only drops sbi's per-epoch logging (which makes sbi slightly faster: the speed
    ratios stay conservative); it is reported in the JSON meta.
    """
    try:
        import torch.utils.tensorboard.writer  # noqa: F401
    except ImportError:

        class SummaryWriter:
            def __init__(self, *a, **k):
                pass

            def __getattr__(self, name):
                return lambda *a, **k: None

        mod = types.ModuleType("torch.utils.tensorboard.writer")
        mod.SummaryWriter = SummaryWriter
        pkg = types.ModuleType("torch.utils.tensorboard")
        pkg.SummaryWriter = SummaryWriter
        pkg.writer = mod
        sys.modules["torch.utils.tensorboard"] = pkg
        sys.modules["torch.utils.tensorboard.writer"] = mod
        os.environ["SBI_TENSORBOARD_STUB"] = "1"
    from sbi.inference import NPE as SBINPE

    return SBINPE


def run_sbi(prior, theta, x, xs, num_samples, args, seed=0):
    sbinpe = _import_sbi()
    torch.manual_seed(seed)
    inference = sbinpe(prior=prior, density_estimator=args.sbi_estimator, show_progress_bars=False)
    inference.append_simulations(theta, x)
    t0, c0 = time.perf_counter(), time.process_time()
    if args.time_limit:
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(int(args.time_limit))
    try:
        inference.train()
    except _TimeLimit:
        cpu = time.process_time() - c0
        return None, time.perf_counter() - t0, 0.0, {"timed_out": True, "train_cpu_s": cpu}
    finally:
        signal.alarm(0)
    t_train = time.perf_counter() - t0
    cpu_train = time.process_time() - c0
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
    extra = {"train_cpu_s": cpu_train, "epochs": inference._summary["epochs_trained"][-1]}
    return samples, t_train, t_sample, extra


METHODS = [*VARIANTS, "sbi"]


def warm_torch_imports() -> float:
    """Pay torch's first-use imports before any timed training; returns their seconds.

    The first ``torch.optim`` optimizer of a process imports ``torch._dynamo`` (measured 1.3 s
    on the 2-core VM, ~half of neurodyn's whole 10^3-simulation training). Every benchmark
    process trains once, so whichever method ran first paid it inside its ``train()`` time.
    One throwaway Adam step (plain and fused) here moves that cost out of both methods'
    timings; it is reported as ``meta.torch_first_use_s``.
    """
    t0 = time.perf_counter()
    w = torch.nn.Parameter(torch.zeros(4))
    for fused in (False, True):
        opt = torch.optim.Adam([w], lr=1e-3, fused=fused)
        w.sum().backward()
        opt.step()
        opt.zero_grad()
    return time.perf_counter() - t0


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
        choices=METHODS,
        help="neurodyn = NPEConfig() defaults; see the module docstring for the others",
    )
    p.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[0],
        help="repeat with these seeds (simulations, initialisation, shuffling)",
    )
    p.add_argument("--device", default="cpu", help="device of neurodyn training and C2ST")
    p.add_argument("--merge", nargs="+", help="merge these result JSONs into --out and exit")
    p.add_argument(
        "--summarise", nargs="+", help="noise-aware comparison of these result JSONs and exit"
    )
    p.add_argument(
        "--cpu-time",
        action="store_true",
        help="with --summarise: compare CPU seconds of train() instead of wall seconds",
    )
    p.add_argument("--sbi-estimator", default="maf")
    p.add_argument(
        "--time-limit",
        type=float,
        default=0,
        help="stop sbi's train() after this many seconds and record a timed-out row",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--no-warm-imports",
        action="store_true",
        help="time train() including torch's first-use imports (the pre-session-7 protocol)",
    )
    p.add_argument("--out", default="benchmarks/results/sbi_tasks.json")
    args = p.parse_args()
    if args.summarise:
        rows = [r for f in args.summarise for r in json.loads(Path(f).read_text())["rows"]]
        summarise(rows, time_key="train_cpu_s" if args.cpu_time else "train_s")
        return
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
    args.torch_first_use_s = None if args.no_warm_imports else warm_torch_imports()
    rows = []
    for task_name in args.tasks:
        task = sbibm.get_task(task_name)
        prior = task.get_prior_dist()
        simulator = task.get_simulator()
        obs = list(range(1, args.num_observations + 1))
        xs = torch.cat([task.get_observation(i) for i in obs]).float()
        refs = [task.get_reference_posterior_samples(i)[: args.num_samples] for i in obs]
        for budget in args.budgets:
            for seed in args.seeds:
                torch.manual_seed(seed + budget)
                theta = task.get_prior()(num_samples=budget)
                x = simulator(theta)
                for method in args.methods:
                    torch.manual_seed(seed)
                    if method == "sbi":
                        out = run_sbi(prior, theta, x, xs, args.num_samples, args, seed=seed)
                    else:
                        out = run_neurodyn(
                            prior, theta, x, xs, args.num_samples, args, method, seed=seed
                        )
                    samples, t_train, t_sample, extra = out
                    accs = (
                        [
                            c2st(
                                refs[k],
                                samples[:, k],
                                num_folds=args.c2st_folds,
                                seed=k,
                                device=args.device,
                            )
                            for k in range(len(obs))
                        ]
                        if samples is not None
                        else []
                    )
                    row = {
                        "task": task_name,
                        "budget": budget,
                        "method": method,
                        "seed": seed,
                        "c2st": accs,
                        "c2st_mean": sum(accs) / len(accs) if accs else None,
                        "train_s": t_train,
                        "sample_s": t_sample,
                        **extra,
                    }
                    rows.append(row)
                    c2 = f"{row['c2st_mean']:.3f}" if accs else "  -  "
                    print(
                        f"{task_name:17s} {budget:>7d} {method:20s} seed {seed} C2ST {c2} "
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
        "torch_first_use_s": getattr(args, "torch_first_use_s", None),
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


def _mean(v: list[float]) -> float:
    return sum(v) / len(v)


def _sd(v: list[float]) -> float:
    m = _mean(v)
    return math.sqrt(sum((a - m) ** 2 for a in v) / (len(v) - 1)) if len(v) > 1 else math.nan


def _table(rows: list[dict]) -> None:
    """Markdown table: C2ST (mean over observations and seeds) and training seconds."""
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    others = [m for m in methods if m != "sbi"] if "sbi" in methods else []
    head = " | ".join(f"{m} C2ST | {m} train s" for m in methods)
    ratio_head = "".join(f" sbi/{m} time |" for m in others)
    print(f"\n| task | sims | {head} |{ratio_head}")
    print("|---|---|" + "---|" * (2 * len(methods) + len(others)))
    for task, budget in sorted({(r["task"], r["budget"]) for r in rows}):
        cell: dict[str, tuple[float | None, float]] = {}
        for m in methods:
            rs = [r for r in rows if (r["task"], r["budget"], r["method"]) == (task, budget, m)]
            if rs:
                done = [r["c2st_mean"] for r in rs if r.get("c2st_mean") is not None]
                cell[m] = (_mean(done) if done else None, _mean([r["train_s"] for r in rs]))
        cells = []
        for m in methods:
            if m not in cell:
                cells.append("- | -")
            else:
                c, t = cell[m]
                cells.append(f"{c:.3f} | {t:.1f}" if c is not None else f"timed out | >{t:.0f}")
        sb = cell.get("sbi")
        cells += [f"{sb[1] / cell[m][1]:.1f}x" if sb and m in cell else "-" for m in others]
        print(f"| {task} | {budget} | " + " | ".join(cells) + " |")


def summarise(rows: list[dict], speed_goal: float = 5.0, time_key: str = "train_s") -> list[dict]:
    """Each neurodyn method against sbi per (task, budget), with a C2ST noise estimate.

    Noise: rows of one seed share the simulations and observations, so the comparison is
    paired. With >= 2 seeds, ``se`` is the standard error over seeds of the paired difference
    ``d = C2ST(neurodyn) - C2ST(sbi)`` (each the mean over observations): it contains the
    retraining noise (simulations, initialisation, shuffling) and the classifier's noise.
    With one seed, ``se`` is the standard error over observations of the per-observation
    differences (no retraining noise: an underestimate). "Accurate" means ``d <= 2 se``
    (not worse than sbi beyond noise); "fast" means mean sbi / neurodyn training time
    ``>= speed_goal`` (a timed-out sbi run gives a lower bound). ``time_key="train_cpu_s"``
    compares CPU seconds of the training call instead of wall seconds (for runs on a machine
    shared with other work; the processes use one thread each).
    """
    out = []
    cells = sorted({(r["task"], r["budget"]) for r in rows})
    methods = [m for m in METHODS if m != "sbi" and any(r["method"] == m for r in rows)]
    print(
        "\n| method | task | sims | seeds | neurodyn C2ST | sbi C2ST | d = nd - sbi | 2 se | "
        "accurate | nd train s | sbi train s | speed-up | fast |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for m in methods:
        for task, budget in cells:
            nd = {
                r["seed"]: r
                for r in rows
                if (r["task"], r["budget"], r["method"]) == (task, budget, m)
            }
            sb = {
                r["seed"]: r
                for r in rows
                if (r["task"], r["budget"], r["method"]) == (task, budget, "sbi")
            }
            seeds = sorted(set(nd) & set(sb))
            if not seeds:
                continue
            t_nd = _mean([nd[s][time_key] for s in seeds])
            t_sb = _mean([sb[s][time_key] for s in seeds])
            timed_out = any(sb[s].get("timed_out") for s in seeds)
            ok = [s for s in seeds if sb[s].get("c2st_mean") is not None]
            c_nd = _mean([nd[s]["c2st_mean"] for s in seeds])
            if ok:
                c_sb = _mean([sb[s]["c2st_mean"] for s in ok])
                diffs = [nd[s]["c2st_mean"] - sb[s]["c2st_mean"] for s in ok]
                d = _mean(diffs)
                if len(ok) >= 2:
                    se = _sd(diffs) / math.sqrt(len(ok))
                else:
                    per = [a - b for a, b in zip(nd[ok[0]]["c2st"], sb[ok[0]]["c2st"], strict=True)]
                    se = _sd(per) / math.sqrt(len(per))
                accurate = d <= 2 * se
            else:
                c_sb, d, se, accurate = math.nan, math.nan, math.nan, None
            speed = t_sb / t_nd
            rec = {
                "method": m,
                "task": task,
                "budget": budget,
                "seeds": seeds,
                "c2st_neurodyn": c_nd,
                "c2st_sbi": c_sb,
                "diff": d,
                "se": se,
                "accurate": accurate,
                "train_s_neurodyn": t_nd,
                "train_s_sbi": t_sb,
                "sbi_timed_out": timed_out,
                "speedup": speed,
                "fast": speed >= speed_goal,
            }
            out.append(rec)
            ge = ">=" if timed_out else ""
            acc = "-" if accurate is None else ("yes" if accurate else "**no**")
            print(
                f"| {m} | {task} | {budget} | {len(seeds)} | {c_nd:.3f} | {c_sb:.3f} | "
                f"{d:+.3f} | {2 * se:.3f} | {acc} | {t_nd:.1f} | {ge}{t_sb:.1f} | "
                f"{ge}{speed:.1f}x | {'yes' if speed >= speed_goal else '**no**'} |"
            )
    for m in methods:
        recs = [r for r in out if r["method"] == m]
        both = sum(1 for r in recs if r["accurate"] and r["fast"])
        print(f"{m}: accurate and >= {speed_goal:g}x faster on {both} of {len(recs)} cells")
    return out


if __name__ == "__main__":
    main()
