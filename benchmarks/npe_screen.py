"""Screen neurodyn NPE settings on one sbibm task by held-out log-likelihood (and C2ST).

The training data are those of ``benchmarks/sbi_tasks.py`` (same seeds: ``seed + budget``);
a separate test set (``--test-size`` fresh prior simulations, seed ``10**6 + seed``) gives the
held-out negative log-likelihood ``-E log q(theta | x)``, which differs from the expected
KL(posterior || q) only by a constant of the task: lower is better, it is cheap, and its noise
is small (reported as 2 se over the test pairs, though paired differences between variants on
the same test set are much less noisy). With ``--num-observations k > 0`` it also reports the
C2ST against the reference posterior of the first k observations (the sbibm protocol of
``sbi_tasks.py``). Variants are the names of ``sbi_tasks.VARIANTS``.

    taskset -c 0 env OMP_NUM_THREADS=1 python benchmarks/npe_screen.py --task bernoulli_glm \
        --budget 100000 --seeds 0 --variants neurodyn neurodyn_patience20 --out screen.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    import sbi_tasks
    import sbibm

    from neurodyn.diagnostics import c2st
    from neurodyn.inference import NPE, NPEConfig

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", required=True)
    p.add_argument("--budget", type=int, required=True)
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--variants", nargs="+", default=["neurodyn"])
    p.add_argument("--test-size", type=int, default=20000)
    p.add_argument("--num-observations", type=int, default=0)
    p.add_argument("--num-samples", type=int, default=4000)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("NEURODYN_PROGRESS", "0")
    first_use = sbi_tasks.warm_torch_imports()
    task = sbibm.get_task(args.task)
    prior, simulator = task.get_prior_dist(), task.get_simulator()
    obs = list(range(1, args.num_observations + 1))
    xs = torch.cat([task.get_observation(i) for i in obs]).float() if obs else None
    refs = [task.get_reference_posterior_samples(i)[: args.num_samples] for i in obs]
    rows = []
    for seed in args.seeds:
        torch.manual_seed(seed + args.budget)
        theta = task.get_prior()(num_samples=args.budget)
        x = simulator(theta)
        torch.manual_seed(10**6 + seed)
        t_test = task.get_prior()(num_samples=args.test_size)
        x_test = simulator(t_test).float()
        for variant in args.variants:
            torch.manual_seed(seed)
            if variant == "sbi":
                inference = sbi_tasks._import_sbi()(prior=prior, show_progress_bars=False)
                inference.append_simulations(theta, x)
                t0, c0 = time.perf_counter(), time.process_time()
                net = inference.train()
                t_train, cpu = time.perf_counter() - t0, time.process_time() - c0
                net.eval()

                def log_prob(t, c, net=net):
                    return net.log_prob(t[None], c)[0]

                summ = inference._summary
                s = argparse.Namespace(
                    epochs=summ["epochs_trained"][-1],
                    best_epoch=summ["epochs_trained"][-1] - 20,
                    num_steps=None,
                    train_losses=[float(v) for v in summ["training_loss"]],
                    val_losses=[float(v) for v in summ["validation_loss"]],
                )
                rc, post = None, inference.build_posterior()
            else:
                cfg = NPEConfig(num_threads=1, seed=seed, **sbi_tasks.VARIANTS[variant])
                npe = NPE(prior, cfg).append_simulations(theta, x)
                t0, c0 = time.perf_counter(), time.process_time()
                est = npe.train(show_progress=False)
                t_train, cpu = time.perf_counter() - t0, time.process_time() - c0
                log_prob, s, rc, post = est.log_prob, npe.summary, npe.resolved_config, None
            with torch.no_grad():
                lp = torch.cat(
                    [
                        log_prob(t_test[i : i + 4096].float(), x_test[i : i + 4096])
                        for i in range(0, args.test_size, 4096)
                    ]
                ).double()
            ok = torch.isfinite(lp)
            nll = float(-lp[ok].mean())
            se = float(lp[ok].std() / math.sqrt(int(ok.sum())))
            accs = []
            if obs and post is not None:
                samples = torch.stack(
                    [
                        post.sample((args.num_samples,), x=xs[i], show_progress_bars=False)
                        for i in range(len(obs))
                    ],
                    dim=1,
                )
            elif obs:
                samples = npe.build_posterior().sample_batched((args.num_samples,), x=xs)
            if obs:
                accs = [c2st(refs[k], samples[:, k], num_folds=3, seed=k) for k in range(len(obs))]
            row = {
                "task": args.task,
                "budget": args.budget,
                "variant": variant,
                "seed": seed,
                "test_nll": nll,
                "test_nll_se": se,
                "test_nonfinite": int((~ok).sum()),
                "per_pair_lp": lp.tolist() if args.test_size <= 50000 else None,
                "c2st": accs,
                "c2st_mean": sum(accs) / len(accs) if accs else None,
                "train_s": t_train,
                "train_cpu_s": cpu,
                "epochs": s.epochs,
                "best_epoch": s.best_epoch,
                "steps": s.num_steps,
                "train_losses": s.train_losses,
                "val_losses": s.val_losses,
                "config": None
                if rc is None
                else {
                    k: getattr(rc, k)
                    for k in ("estimator", "num_transforms", "batch_size", "learning_rate")
                },
            }
            rows.append(row)
            c2 = f" C2ST {row['c2st_mean']:.3f}" if accs else ""
            print(
                f"{args.task} {args.budget} {variant:28s} seed {seed} NLL {nll:.4f} (se {se:.4f})"
                f"{c2} train {t_train:6.1f} s epochs {s.epochs} (best {s.best_epoch}) "
                f"final train/val {s.train_losses[-1]:.4f}/{s.val_losses[-1]:.4f}",
                flush=True,
            )
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            meta = {"args": vars(args), "torch": torch.__version__, "torch_first_use_s": first_use}
            Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}))


if __name__ == "__main__":
    main()
