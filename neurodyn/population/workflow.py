"""Fit SynapsNet to a recording file and write the results into a folder (the ``fit`` CLI)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from neurodyn.population.config import SynapsNetConfig
from neurodyn.population.splits import chronological_split

__all__ = ["config_from_toml", "fit_recording"]


def config_from_toml(path: str | Path) -> SynapsNetConfig:
    """Read a :class:`SynapsNetConfig` from the ``[synapsnet]`` table of a TOML file."""
    import tomllib

    from neurodyn._validation import check_file, fail

    path = check_file("config", path)
    with open(path, "rb") as f:
        data = tomllib.load(f)
    if "synapsnet" not in data:
        fail("config", "a TOML file with a [synapsnet] table", sorted(data))
    return SynapsNetConfig.from_dict(data["synapsnet"])


def fit_recording(
    path: str | Path,
    out: str | Path,
    config: SynapsNetConfig,
    *,
    use_behaviour: bool = True,
    bin_size_s: float | None = None,
    activity: str | list[str] = "auto",
    behaviour_series: str | list[str] | None = None,
    device: str = "auto",
    progress: bool | None = None,
) -> dict[str, Any]:
    """Fit SynapsNet to one ``.npz``/``.nwb`` recording and write the results to ``out``.

    Files written: ``model.safetensors`` (+ ``model.json``), ``connectivity.npz`` (``A``
    ``(N, N)``, ``neuron_names``), ``connectivity.png``, ``forecast.png`` (test block),
    ``summary.json`` (held-out one-step MSE and mean per-neuron Pearson r of SynapsNet and of
    the last-value forecast, training time) and ``checkpoint.safetensors`` (resumable).

    ``activity`` / ``behaviour_series`` select NWB series (:func:`neurodyn.io.read_nwb`).

    Returns:
        The summary dict.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neurodyn.io import load_recording
    from neurodyn.plot.population import plot_connectivity, plot_forecast
    from neurodyn.population.training import fit_synapsnet

    rec = load_recording(path, bin_size_s=bin_size_s, activity=activity, behaviour=behaviour_series)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    beh = rec.behaviour if use_behaviour else None
    tic = time.perf_counter()
    model = fit_synapsnet(
        rec.activity, beh, config, device=device, checkpoint_dir=out, progress=progress
    )
    fit_s = time.perf_counter() - tic
    model.save(out / "model.safetensors")
    a = model.connectivity().numpy()
    np.savez(out / "connectivity.npz", A=a, neuron_names=np.asarray(rec.neuron_names, str))
    fig = plot_connectivity(a, title=f"SynapsNet: {Path(path).stem[:40]}")
    fig.savefig(out / "connectivity.png", dpi=120)
    plt.close(fig)
    _, _, test = chronological_split(rec.num_steps, config.split)
    lo = max(test.start - config.window, 0)
    pred = model.predict(
        rec.activity[lo : test.stop].astype(np.float32),
        None if beh is None else beh[lo : test.stop].astype(np.float32),
    ).numpy()
    k = test.start - lo
    truth, pred = rec.activity[test], pred[k:].astype(np.float64)
    last = rec.activity[test.start - 1 : test.stop - 1]
    summary = {
        "input": str(path),
        "num_steps": rec.num_steps,
        "num_neurons": rec.num_neurons,
        "rate_hz": rec.rate_hz,
        "behaviour": list(rec.behaviour_names) if beh is not None else [],
        "config": config.to_dict(),
        "epochs_run": len(model.history["val_loss"]),
        "fit_seconds": fit_s,
        "test_steps": int(test.stop - test.start),
        # current_lag=0 models see the other neurons' predicted frame: not a forecast
        "prediction": "one-step forecast"
        if config.current_lag == 1
        else "same-frame conditional prediction (current_lag=0)",
        "test_mse": _mse(truth, pred),
        "test_mean_pearson_r": _mean_r(truth, pred),
        "last_value_test_mse": _mse(truth, last),
        "last_value_test_mean_pearson_r": _mean_r(truth, last),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    top = np.argsort(-np.nanvar(truth, axis=0))[: min(3, rec.num_neurons)]
    fig = plot_forecast(
        truth,
        pred,
        rate_hz=rec.rate_hz,
        neurons=top.tolist(),
        start=test.start,
        title="held-out one-step forecast",
    )
    fig.savefig(out / "forecast.png", dpi=120)
    plt.close(fig)
    return summary


def _mse(x: np.ndarray, p: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(p)
    return float(np.mean((x[ok] - p[ok]) ** 2))


def _mean_r(x: np.ndarray, p: np.ndarray) -> float:
    rs = []
    for k in range(x.shape[1]):
        ok = np.isfinite(x[:, k]) & np.isfinite(p[:, k])
        if ok.sum() > 2 and x[ok, k].std() > 0 and p[ok, k].std() > 0:
            rs.append(np.corrcoef(x[ok, k], p[ok, k])[0, 1])
    return float(np.mean(rs)) if rs else float("nan")
