"""Summary features of Hodgkin-Huxley traces, exactly as coded for eLife 2020.

``hh_summary`` reproduces ``HodgkinHuxleyStatsMoments`` of Gonçalves et al. (2020):

* ``"elife7"`` (``n_xcorr=0, n_mom=4``): spike count, resting mean, resting std (last 10 %
  before onset), stimulus mean, variance, skewness, kurtosis (non-excess). ``"elife1"`` and
  ``"elife4"`` are its first 1 and 4 features (the subsets of eLife Fig 5).
* ``"extended13"`` (``n_xcorr=5, n_mom=5``): spike count, autocorrelation at lags 1..5 ms,
  resting mean and std, stimulus mean, variance, skewness, kurtosis, 5th standardised moment.

Traces with any non-finite sample give a row of NaN.

Example:
    >>> import numpy as np
    >>> v = -70.0 + np.sin(np.arange(1201) * 0.05)
    >>> hh_summary(v, dt=0.1, t_on=10.0, t_off=110.0).shape
    (1, 7)
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from neurodyn._validation import check_choice, check_positive, fail
from neurodyn.features.spikes import spike_times

__all__ = [
    "HH_EXTENDED_FEATURE_NAMES",
    "HH_FEATURE_NAMES",
    "HH_FEATURE_SETS",
    "hh_feature_names",
    "hh_summary",
]

HH_FEATURE_NAMES = (
    "n_spikes",
    "rest_mean",
    "rest_std",
    "stim_mean",
    "stim_var",
    "stim_skew",
    "stim_kurt",
)
HH_EXTENDED_FEATURE_NAMES = (
    "n_spikes",
    "acf_1ms",
    "acf_2ms",
    "acf_3ms",
    "acf_4ms",
    "acf_5ms",
    "rest_mean",
    "rest_std",
    "stim_mean",
    "stim_var",
    "stim_skew",
    "stim_kurt",
    "stim_moment5",
)
HH_FEATURE_SETS = ("elife1", "elife4", "elife7", "extended13")


def hh_feature_names(feature_set: str = "elife7") -> tuple[str, ...]:
    """Feature names of ``feature_set`` (one of :data:`HH_FEATURE_SETS`)."""
    check_choice("feature_set", feature_set, HH_FEATURE_SETS)
    if feature_set == "extended13":
        return HH_EXTENDED_FEATURE_NAMES
    return HH_FEATURE_NAMES[: int(feature_set[5:])]


def hh_summary(v, *, dt: float, t_on: float, t_off: float, feature_set: str = "elife7"):
    """eLife HH summary features of membrane-potential traces.

    Args:
        v: membrane potential (mV), ``(num_steps,)`` or ``(num, num_steps)``, sampled at
            ``t = arange(num_steps) * dt``; numpy array or torch tensor.
        dt: sampling interval (ms).
        t_on, t_off: stimulus onset and offset (ms); rest is ``t < t_on``, the stimulus
            window ``t_on < t < t_off``.
        feature_set: ``"elife7"`` (default), ``"elife1"``, ``"elife4"`` or ``"extended13"``.

    Returns:
        ``(num, num_features)`` float64 features: a numpy array, or a CPU/CUDA tensor on
        ``v``'s device when ``v`` is a tensor.

    Example:
        >>> import numpy as np
        >>> hh_summary(np.full(1201, -65.0), dt=0.1, t_on=10.0, t_off=110.0)[0, :4]
        array([  0., -65.,   0., -65.])
    """
    check_choice("feature_set", feature_set, HH_FEATURE_SETS)
    dt = check_positive("dt", dt)
    is_tensor = isinstance(v, torch.Tensor)
    arr = np.asarray(v.detach().cpu().numpy() if is_tensor else v, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2:
        fail("v", "a 1-D trace (num_steps,) or 2-D batch (num, num_steps)", arr)
    if not t_on < t_off:
        fail("t_off", f"t_off > t_on = {t_on}", t_off)
    t = np.arange(arr.shape[1], dtype=np.float64) * dt
    rest = arr[:, t < t_on]
    rest_sd = arr[:, int(0.9 * t_on / dt) : int(t_on / dt)]
    stim = arr[:, (t > t_on) & (t < t_off)]
    if rest.shape[1] == 0 or stim.shape[1] == 0:
        fail(
            "t_on",
            "windows with samples before t_on and between t_on and t_off",
            f"t_on={t_on}, t_off={t_off} for {arr.shape[1]} samples of {dt} ms",
        )
    n_spikes = np.array(
        [ts.size for ts in spike_times(arr, dt=dt, t_on=t_on, t_off=t_off)], dtype=np.float64
    )
    with np.errstate(all="ignore"):
        std = np.std(stim, axis=1)
        moments = stats.moment(stim, [2, 3, 4, 5], axis=1)  # (4, num), biased
        cols = [n_spikes]
        if feature_set == "extended13":
            cols += list(_autocorrelations(stim, dt, 5))
        cols += [
            rest.mean(axis=1),
            np.std(rest_sd, axis=1),
            stim.mean(axis=1),
            moments[0],
            moments[1] / std**3,
            moments[2] / std**4,
        ]
        if feature_set == "extended13":
            cols.append(moments[3] / std**5)
        out = np.stack(cols, axis=1)
    out[~np.isfinite(arr).all(axis=1)] = np.nan
    if feature_set in ("elife1", "elife4"):
        out = out[:, : int(feature_set[5:])]
    return torch.as_tensor(out, device=v.device) if is_tensor else out


def _autocorrelations(stim: np.ndarray, dt: float, n_xcorr: int) -> np.ndarray:
    """``(n_xcorr, num)`` lag-1..n ms autocorrelations of the mean-subtracted window (zero
    padded, normalised by lag 0), as in the eLife code."""
    x = stim - stim.mean(axis=1, keepdims=True)
    norm = np.einsum("ij,ij->i", x, x)
    steps = np.linspace(1.0 / dt, n_xcorr * 1.0 / dt, n_xcorr).astype(int)
    out = np.empty((n_xcorr, x.shape[0]))
    for k, s in enumerate(steps):
        out[k] = np.einsum("ij,ij->i", x[:, s:], x[:, : x.shape[1] - s]) / norm
    return out
