"""Seed-paired table: SynapsNet (default) vs NeuPRINT-style on calcium networks 0-2.

Reads the ``synapsnet_calcium_forecast.py`` JSONs in this folder (seeds 1-4 and variants) and,
for seed 0, the benchmark's per-network JSONs (``../synapsnet_eval_networks``,
``../synapsnet_calcium_neural_baselines``; same settings). Prints per network and seed the
mean test r of both and their difference, then the mean difference over (network, seed).

    python benchmarks/results/synapsnet_lowrank/summarise_seeds.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def collect() -> dict[tuple[int, int], dict[str, float]]:
    out: dict[tuple[int, int], dict[str, float]] = {}
    for p in sorted(HERE.glob("*calcium_*.json")):
        for row in json.loads(p.read_text())["rows"]:
            k = row["network"]
            for v in row["variants"]:
                over = dict(v["overrides"])
                seed = over.pop("seed", 0)
                if not over:
                    out.setdefault((k, seed), {})["synapsnet"] = v["mean_r"]
            for v in row.get("neuprint", []):
                over = dict(v["overrides"])
                seed = over.pop("seed", 0)
                if v["pop"] == "both" and not over:
                    out.setdefault((k, seed), {})["neuprint"] = v["mean_r"]
    for k in range(3):
        for root in ("synapsnet_calcium_neural_baselines", "synapsnet_eval_networks"):
            p = HERE.parent / root / "calcium" / f"net_{k:03d}.json"
            if not p.is_file():
                p = HERE.parent / root / f"net_{k:03d}.json"
            if p.is_file():
                fc = json.loads(p.read_text())["forecast"]
                d = out.setdefault((k, 0), {})
                d.setdefault("synapsnet", fc["synapsnet"]["mean_r"])
                if "neuprint" in fc:
                    d.setdefault("neuprint", fc["neuprint"]["mean_r"])
    return out


def main() -> None:
    rows = collect()
    print("| network | seed | SynapsNet r | NeuPRINT-style r | Δr SynapsNet − NeuPRINT |")
    print("|---|---|---|---|---|")
    diffs: dict[int, list[float]] = {}
    for (k, seed), d in sorted(rows.items()):
        if "synapsnet" in d and "neuprint" in d:
            diff = d["synapsnet"] - d["neuprint"]
            diffs.setdefault(seed, []).append(diff)
            print(f"| {k} | {seed} | {d['synapsnet']:.5f} | {d['neuprint']:.5f} | {diff:+.5f} |")
    for seed, v in sorted(diffs.items()):
        print(f"seed {seed}: mean Δr {np.mean(v):+.5f} over {len(v)} networks")
    rest = [x for s, v in diffs.items() if s != 0 for x in v]
    print(f"seeds 1-4: mean Δr {np.mean(rest):+.5f} (sd {np.std(rest, ddof=1):.5f}, n={len(rest)})")


if __name__ == "__main__":
    main()
