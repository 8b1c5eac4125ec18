"""eLife Fig. 8 over many pairs: high-probability path vs straight line vs orthogonal path.

The pyloric posterior study (``neurodyn study pyloric-posterior``) analyses ONE disparate pair
of posterior-predictive samples, and whether its straight line loses the rhythm depends on
the pair (H200 run 3: straight line 8/20 valid; run 5: 18/20, its start point failing under a
new noise seed). This benchmark repeats the analysis for ``--pairs`` pairs of one trained
posterior, on the CPU, with every point simulated under ``--seeds`` noise seeds:

1. candidates: the ``--candidates`` valid predictive samples (from the study's ``arrays.npz``)
   closest to ``x_o`` (mean timing-feature distance in population-sd units); only candidates
   whose rhythm is valid under every one of the noise seeds are kept as endpoints (an endpoint
   that fails under another noise draw is not a parameter set "with similar activity");
2. pairs, greedily: the two robust candidates farthest apart in z-scored parameter space, then
   the farthest pair among the candidates not used yet, and so on;
3. per pair (and for the eLife endpoints ``sample_pair_3``, a control, when the shared data
   are present): :func:`~neurodyn.analysis.high_probability_path` (80 points, as the study), the
   straight line, and :func:`~neurodyn.analysis.orthogonal_path` from point 23 (eLife length:
   path length / 27); 20 path and 20 straight-line points equally spaced in arc length and every
   orthogonal-path point are simulated with each seed. A point counts as valid when its rhythm
   is valid under the majority of the seeds.

Reported per pair and over pairs: fraction of valid path / straight-line / orthogonal points,
whether the straight line, the path and the orthogonal path "break" (some point invalid), and
the log-density dips. Prints a table and writes JSON.

Usage (the files of a study run; here the H200 run 5 posterior and its arrays)::

    OMP_NUM_THREADS=1 python benchmarks/pyloric_paths_pairs.py \\
        --posterior benchmarks/results/pyloric_posterior_run5/posterior \\
        --arrays ARRAYS.npz --pairs 10 --seeds 3 \\
        --out benchmarks/results/pyloric_paths_pairs_run5.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _robust_candidates(ppc_theta, ppc_x, x_o, pop_sd, num_candidates, simulate, seeds):
    from neurodyn.studies._pyloric_posterior_analysis import NUM_TIMING, feature_distance

    valid = np.isfinite(ppc_x).all(1)
    d = feature_distance(ppc_x[:, :NUM_TIMING], x_o[:NUM_TIMING], pop_sd[:NUM_TIMING]).mean(1)
    d = np.where(valid, d, np.inf)
    cand = np.argsort(d, kind="stable")[:num_candidates]
    ok = _valid_over_seeds(torch.as_tensor(ppc_theta[cand]), simulate, seeds)
    keep = cand[ok.all(0)]
    return keep, d, float(ok.all(0).mean())


def _valid_over_seeds(theta: torch.Tensor, simulate, seeds: np.ndarray) -> np.ndarray:
    """``(num_seeds, m)`` bool: rhythm valid for each point under each seed."""
    th = theta.float().cpu().repeat(len(seeds), 1)
    sd = np.repeat(seeds, theta.shape[0])
    x = simulate(th, sd)[:, :18]
    return torch.isfinite(x).all(1).numpy().reshape(len(seeds), theta.shape[0])


def _greedy_pairs(z: np.ndarray, num_pairs: int) -> list[tuple[int, int, float]]:
    free = list(range(z.shape[0]))
    pairs = []
    while len(free) >= 2 and len(pairs) < num_pairs:
        zz = z[free]
        dist = np.sqrt(((zz[:, None] - zz[None]) ** 2).sum(-1))
        a, b = np.unravel_index(int(np.argmax(dist)), dist.shape)
        pairs.append((free[a], free[b], float(dist[a, b])))
        free = [f for k, f in enumerate(free) if k not in (a, b)]
    return pairs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--posterior", required=True, help="folder with posterior.json + weights")
    p.add_argument("--arrays", required=True, help="arrays.npz of the study run")
    p.add_argument("--pairs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--candidates", type=int, default=200)
    p.add_argument("--path-max-iter", type=int, default=60)
    p.add_argument(
        "--data-dir",
        default=os.environ.get("NEURODYN_SHARED_DATA", str(ROOT.parent / "shared" / "data")),
        help="folder with elife2020_stg_sample_pair_3.npz (the eLife endpoints, a control)",
    )
    p.add_argument("--out", required=True)
    args = p.parse_args()
    t_start = time.perf_counter()

    from neurodyn.analysis import equally_spaced_indices, high_probability_path, orthogonal_path
    from neurodyn.inference import Posterior
    from neurodyn.simulators.pyloric import PyloricNetwork, pyloric_prior
    from neurodyn.studies.pyloric_posterior import _GradPosterior

    torch.set_num_threads(1)
    prior = pyloric_prior()
    post = Posterior.load(args.posterior, device="cpu")
    with np.load(args.arrays, allow_pickle=False) as f:
        ppc_theta, ppc_x = f["ppc_theta"], f["ppc_x"]
        x_o, pop_sd = f["x_o"], f["pop_sd"]
    xo_t = torch.as_tensor(x_o, dtype=torch.float32)
    grad = _GradPosterior(post, xo_t)
    net = PyloricNetwork(dtype=torch.float32, extras=True)

    def simulate(theta: torch.Tensor, seeds: np.ndarray) -> torch.Tensor:
        return net.simulate(theta, seed=seeds).float()

    seeds = np.random.default_rng([0, 4242]).integers(0, 2**62, args.seeds, dtype=np.int64)
    keep, _, robust_frac = _robust_candidates(
        ppc_theta, ppc_x, x_o, pop_sd, args.candidates, simulate, seeds
    )
    low, high = prior.low.double(), prior.high.double()
    z_mean, z_sd = (low + high) / 2, (high - low) / 12**0.5
    z = ((torch.as_tensor(ppc_theta[keep]).double() - z_mean) / z_sd).numpy()
    pairs = _greedy_pairs(z, args.pairs)
    lp = grad.log_prob(torch.as_tensor(ppc_theta[:4096])).detach()
    ref = float(lp.max()) + float(z_sd.log().sum()) + 1.0

    def analyse_pair(name, ta: torch.Tensor, tb: torch.Tensor, zd: float) -> dict:
        t0 = time.perf_counter()
        hp = high_probability_path(
            grad, ta.float(), tb.float(), xo_t, prior=prior, num_points=80,
            max_iter=args.path_max_iter, log_prob_reference=ref,
        )  # fmt: skip
        ortho = orthogonal_path(grad, hp, 23, xo_t, prior=prior)
        idx = equally_spaced_indices(hp.arc_length.cpu(), 20)
        pv = _valid_over_seeds(hp.theta.cpu()[idx], simulate, seeds)
        sv = _valid_over_seeds(hp.straight_theta.cpu()[idx], simulate, seeds)
        ov = _valid_over_seeds(ortho.theta.cpu(), simulate, seeds)
        maj = lambda v: v.mean(0) > 0.5  # noqa: E731
        lpz = hp.log_prob.detach().double().cpu()
        ends = float(torch.minimum(lpz[0], lpz[-1]))
        row = {
            "pair": name,
            "z_distance": zd,
            "path_length_z": hp.length,
            "straight_length_z": hp.straight_length,
            "path_points_valid": float(maj(pv).mean()),
            "straight_points_valid": float(maj(sv).mean()),
            "ortho_points_valid": float(maj(ov).mean()),
            "path_breaks": bool((~maj(pv)).any()),
            "straight_breaks": bool((~maj(sv)).any()),
            "ortho_breaks": bool((~maj(ov)).any()),
            "ortho_last_point_valid": bool(maj(ov)[-1]),
            "ortho_length_z": ortho.length,
            "path_max_prior_violation_z": hp.max_prior_violation,
            "path_log_prob_dip": float(lpz.min() - ends),
            "straight_log_prob_dip": float(hp.straight_log_prob.double().cpu().min() - ends),
            "ortho_log_prob_drop": float(ortho.log_prob[0] - ortho.log_prob[-1]),
            "seconds": time.perf_counter() - t0,
        }
        print(
            f"pair {name}: z-dist {zd:5.2f} | path {row['path_points_valid']:.2f} valid "
            f"(dip {row['path_log_prob_dip']:6.1f}) | straight {row['straight_points_valid']:.2f}"
            f" (dip {row['straight_log_prob_dip']:6.1f}) | ortho {row['ortho_points_valid']:.2f}"
            f" (drop {row['ortho_log_prob_drop']:5.1f}, last point "
            f"{'valid' if row['ortho_last_point_valid'] else 'invalid'}) | {row['seconds']:.0f} s",
            flush=True,
        )
        return row

    rows = []
    for k, (a, b, zd) in enumerate(pairs):
        ta = torch.as_tensor(ppc_theta[keep[a]])
        tb = torch.as_tensor(ppc_theta[keep[b]])
        rows.append(analyse_pair(k, ta, tb, zd))
    # control: the endpoints eLife used (sample_pair_3, z-space of the prior box), this
    # posterior's path between them, their straight line, and the orthogonal path
    elife_row = None
    pair_file = Path(args.data_dir) / "elife2020_stg_sample_pair_3.npz"
    if pair_file.is_file():
        with np.load(pair_file, allow_pickle=False) as f:
            zz = torch.as_tensor(np.stack([f["params1"], f["params2"]]), dtype=torch.float64)
        th = (z_mean + z_sd * zz).float()
        elife_row = analyse_pair("eLife sample_pair_3", th[0], th[1], float((zz[0] - zz[1]).norm()))
    n = len(rows)
    summary = {
        "num_pairs": n,
        "robust_candidates": int(keep.size),
        "robust_fraction_of_candidates": robust_frac,
        "straight_breaks": sum(r["straight_breaks"] for r in rows),
        "path_breaks": sum(r["path_breaks"] for r in rows),
        "ortho_breaks": sum(r["ortho_breaks"] for r in rows),
        "ortho_last_point_invalid": sum(not r["ortho_last_point_valid"] for r in rows),
        "mean_path_points_valid": float(np.mean([r["path_points_valid"] for r in rows])),
        "mean_straight_points_valid": float(np.mean([r["straight_points_valid"] for r in rows])),
        "mean_ortho_points_valid": float(np.mean([r["ortho_points_valid"] for r in rows])),
    }
    print(
        f"\n{n} pairs ({keep.size} robust endpoints of {args.candidates} candidates, "
        f"{args.seeds} seeds): straight line breaks in {summary['straight_breaks']}/{n}, "
        f"path breaks in {summary['path_breaks']}/{n}, orthogonal path breaks in "
        f"{summary['ortho_breaks']}/{n} (last point invalid in "
        f"{summary['ortho_last_point_invalid']}/{n}); mean valid points: path "
        f"{summary['mean_path_points_valid']:.2f}, straight "
        f"{summary['mean_straight_points_valid']:.2f}, orthogonal "
        f"{summary['mean_ortho_points_valid']:.2f}"
    )
    out = {
        "args": vars(args),
        "summary": summary,
        "rows": rows,
        "elife_pair": elife_row,
        "seconds": time.perf_counter() - t_start,
        "machine": os.environ.get("NEURODYN_MACHINE", "2-core CPU"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
