"""Implementation of ``neurodyn infer``: sample a saved posterior for one observation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from neurodyn._validation import check_positive, fail
from neurodyn.inference.ensemble import EnsemblePosterior
from neurodyn.inference.posterior import Posterior

__all__ = ["parse_observation", "run_infer"]


def parse_observation(text: str) -> np.ndarray:
    """``x_o`` from a file (``.npy``, ``.csv``/``.txt``, ``.json``) or a comma list.

    Example:
        >>> parse_observation("5, -70.2, 0.06").tolist()
        [5.0, -70.2, 0.06]
    """
    path = Path(text)
    if path.is_file():
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif path.suffix == ".json":
            arr = np.asarray(json.loads(path.read_text()), dtype=np.float64)
        else:
            arr = np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=1)
        return np.asarray(arr, dtype=np.float64).reshape(-1)
    try:
        return np.array([float(v) for v in text.replace(";", ",").split(",") if v.strip()])
    except ValueError:
        fail(
            "x_o",
            "an existing file (.npy/.csv/.txt/.json) or a comma-separated list of numbers",
            text,
            "Example: --x-o '5,-70.2,0.06,-56.4,374.6,3.70,18.3'",
        )


def run_infer(
    posterior_dir: Path, x_o: str, *, num_samples: int, out: Path, seed: int, device: str
) -> tuple[Path, float]:
    """Load a posterior (or an ensemble), draw ``num_samples`` for ``x_o``, write them to ``out``.

    ``out`` ending in ``.csv`` gets a header of parameter names; otherwise ``.npy``.

    Returns:
        ``(path written, acceptance rate)``.
    """
    num_samples = check_positive("num_samples", num_samples, integer=True)
    if (Path(posterior_dir) / "ensemble.json").is_file():
        post = EnsemblePosterior.load(posterior_dir, device=device)
    else:
        post = Posterior.load(posterior_dir, device=device)
    x_obs = torch.as_tensor(parse_observation(x_o), dtype=torch.float32)
    shape = post.x_shape or (-1,)
    if x_obs.numel() != int(np.prod(shape)) and -1 not in shape:
        fail("x_o", f"{int(np.prod(shape))} numbers (the posterior's features)", x_obs.numel())
    x = x_obs.reshape(shape)
    torch.manual_seed(seed)
    samples = post.sample((num_samples,), x=x).cpu().numpy()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        np.savetxt(out, samples, delimiter=",", header=",".join(post.param_names), comments="")
    else:
        out = out.with_suffix(".npy")
        np.save(out, samples)
    return out, float(post.acceptance_rate)
