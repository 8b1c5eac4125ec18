"""Markdown tables of the SynapsNet evaluation for ``benchmarks/RESULTS.md``.

Reads the aggregate written by ``synapsnet_eval.py --aggregate`` and, for win counts (networks
on which SynapsNet's AUROC / forecast r is higher), the per-network JSONs it summarises.

Usage::

    python benchmarks/synapsnet_results_tables.py \
        [benchmarks/results/synapsnet_eval_50.json [benchmarks/results/synapsnet_eval_networks]]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
GENS = ("rate", "lif", "calcium")
LABEL = {"rate": "rate", "lif": "LIF", "calcium": "calcium"}
CONN = {
    "synapsnet": "SynapsNet (lag 1, default)",
    "synapsnet_lag0": "**SynapsNet lag 0** (`current_lag=0`)",
    "pearson": "Pearson",
    "partial_corr": "partial correlation",
    "lagged_corr": "lag-1 cross-correlation",
    "var_coef": "VAR(1) ridge",
    "netformer_attention": "NetFormer attention",
}
FORE = {
    "synapsnet": "SynapsNet",
    "last_value": "last value",
    "ridge_var": "ridge VAR",
    "lstm": "LSTM",
    "gru": "GRU",
    "neuprint": "NeuPRINT-style",
    "netformer": "NetFormer-style",
}


def p_fmt(p: float) -> str:
    return f"{p:.0e}".replace("e-0", "e-") if p < 0.01 else f"{p:.2g}"


def main() -> None:
    agg_path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "results/synapsnet_eval_50.json"
    nets_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "results/synapsnet_eval_networks"
    agg = json.loads(agg_path.read_text())["generators"]
    rows = {
        g: [json.loads(p.read_text()) for p in sorted((nets_dir / g).glob("net_*.json"))]
        for g in GENS
    }
    n = {g: agg[g]["num_networks"] for g in GENS}
    print("Networks per generator:", n)
    print("\n| method | " + " | ".join(LABEL[g] for g in GENS) + " |")
    print("|---|" + "---|" * len(GENS))
    for m, label in CONN.items():
        cells = []
        for g in GENS:
            a = agg[g]["connectivity"][m]["auroc"]
            cells.append(f"{a['mean']:.3f} [{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}]")
        num = agg[GENS[0]]["connectivity"][m]["auroc"]["num"]
        print(
            f"| {label}{f' ({num} nets)' if num != n[GENS[0]] else ''} | "
            + " | ".join(cells)
            + " |"
        )
    print("\nPaired Δ AUROC (SynapsNet − method), t-test p, wins:\n")
    print("| Δ | " + " | ".join(LABEL[g] for g in GENS) + " |")
    print("|---|" + "---|" * len(GENS))
    for syn, sl in (("synapsnet", "lag 1"), ("synapsnet_lag0", "lag 0")):
        for m, label in CONN.items():
            if m.startswith("synapsnet"):
                continue
            cells = []
            for g in GENS:
                pt = agg[g]["connectivity_paired_auroc_over_networks"][f"{syn}_vs_{m}"]
                sub = [r for r in rows[g] if m in r["connectivity"]]
                wins = sum(
                    r["connectivity"][syn]["auroc"] > r["connectivity"][m]["auroc"] for r in sub
                )
                cells.append(
                    f"{pt['mean_difference']:+.3f}, {p_fmt(pt['p_value'])}, {wins}/{len(sub)}"
                )
            print(f"| {sl} − {label} | " + " | ".join(cells) + " |")
    print("\nAUPRC / sign accuracy / Spearman (mean over networks):\n")
    print("| method | " + " | ".join(f"{LABEL[g]} AUPRC / sign / Spearman" for g in GENS) + " |")
    print("|---|" + "---|" * len(GENS))
    for m, label in CONN.items():
        cells = []
        for g in GENS:
            c = agg[g]["connectivity"][m]
            cells.append(
                f"{c['auprc']['mean']:.3f} / {c['sign_accuracy']['mean']:.3f} / "
                f"{c['spearman']['mean']:.3f}"
            )
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\nForecasts (per-neuron r on the test block):\n")
    print(
        "| method | "
        + " | ".join(f"{LABEL[g]} r [95 % CI] | Δr, p (nets) | wins" for g in GENS)
        + " |"
    )
    print("|---|" + "---|---|---|" * len(GENS))
    for m, label in FORE.items():
        cells = []
        for g in GENS:
            f = agg[g]["forecast"][m]
            r = f["mean_r"]
            cells.append(f"{r['mean']:.4f} [{r['ci95'][0]:.4f}, {r['ci95'][1]:.4f}]")
            if m == "synapsnet":
                cells += ["—", "—"]
                continue
            pn = f["paired_over_networks_synapsnet_minus_this"]
            sub = [r for r in rows[g] if m in r["forecast"]]
            wins = sum(
                r["forecast"]["synapsnet"]["mean_r"] > r["forecast"][m]["mean_r"] for r in sub
            )
            cells += [f"{pn['mean_difference']:+.4f}, {p_fmt(pn['p_value'])}", f"{wins}/{len(sub)}"]
        num = agg[GENS[0]]["forecast"][m]["num_networks"]
        print(f"| {label} ({num}) | " + " | ".join(cells) + " |")
    print("\nSynapsNet r on the networks of the neural baselines, across-neuron paired tests:\n")
    for g in GENS:
        for m in ("lstm", "gru", "neuprint", "netformer", "last_value", "ridge_var"):
            f = agg[g]["forecast"][m]
            pu = f["paired_over_neurons_synapsnet_minus_this"]
            pn = f["paired_over_networks_synapsnet_minus_this"]
            print(
                f"{g} {m}: syn(same nets) {f['synapsnet_mean_r_same_networks']:.4f}  "
                f"neurons n={pu['num']} Δ={pu['mean_difference']:+.4f} p={p_fmt(pu['p_value'])}"
                f"  nets wilcoxon p={p_fmt(pn['wilcoxon_p'])}"
            )
    for g in GENS:
        d = [
            r["forecast"]["synapsnet"]["mean_r"] - r["forecast"]["last_value"]["mean_r"]
            for r in rows[g]
        ]
        print(f"{g}: SynapsNet − last value per network: min {min(d):+.4f} max {max(d):+.4f}")
        print(
            f"{g}: epochs {agg[g]['synapsnet_epochs_mean']}, "
            f"seconds {agg[g]['seconds_mean']['total']:.1f}"
        )
        print(f"{g}: seeds {min(agg[g]['seeds'])}-{max(agg[g]['seeds'])}")


if __name__ == "__main__":
    main()
