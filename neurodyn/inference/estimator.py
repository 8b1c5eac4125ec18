"""Conditional density estimators ``q(theta | x)``: z-scoring + embedding net + zuko flow.

:class:`ConditionalDensity` works in the original units of ``theta`` and ``x``: the z-scoring
of both lives inside the module (as buffers, saved with the weights) and the log-density
includes the Jacobian of the ``theta`` standardisation.
"""

from __future__ import annotations

import math

import torch
import zuko
from torch import Tensor, nn

from neurodyn.inference.config import NPEConfig
from neurodyn.inference.embedding import build_embedding

__all__ = ["ConditionalDensity", "build_flow"]

_MIN_STD = 1e-8
_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}
_EPS_UNIT = 1e-6  # logit transform: unit-interval values are clamped to [eps, 1 - eps]


def build_flow(config: NPEConfig, num_params: int, context: int) -> nn.Module:
    """The zuko conditional flow/mixture for ``num_params`` dims given ``context`` features.

    Automatic settings (``estimator="auto"``, ``num_transforms=None``) are resolved for
    ``num_params`` (see :meth:`NPEConfig.resolve`).

    Example:
        >>> flow = build_flow(NPEConfig(estimator="maf", num_transforms=2), 2, 3)
        >>> flow(torch.zeros(3)).sample().shape
        torch.Size([2])
    """
    config = config.resolve(None, num_params)
    hidden = (config.hidden_features, config.hidden_features)
    act = _ACTIVATIONS[config.activation]
    if config.estimator == "nsf":
        return zuko.flows.NSF(
            num_params,
            context,
            bins=config.num_bins,
            transforms=config.num_transforms,
            hidden_features=hidden,
            activation=act,
        )
    if config.estimator == "maf":
        return zuko.flows.MAF(
            num_params,
            context,
            transforms=config.num_transforms,
            hidden_features=hidden,
            activation=act,
        )
    return zuko.flows.GMM(
        num_params,
        context,
        components=config.num_components,
        hidden_features=hidden,
        activation=act,
    )


def _clean_std(std: Tensor) -> Tensor:
    std = torch.nan_to_num(std, nan=1.0)
    return torch.where(std < _MIN_STD, torch.ones_like(std), std)


class ConditionalDensity(nn.Module):
    """``q(theta | x)`` with z-scoring, an embedding net and a zuko density estimator.

    Args:
        config: estimator settings.
        num_params: dimension of ``theta``.
        x_shape: event shape of one ``x``.
        moments: ``(theta_mean, theta_std, x_mean, x_std)`` of the training data
            (shapes ``(num_params,)`` and ``x_shape``); ``None`` means no z-scoring.
        bounds: ``(low, high)`` of the box prior, each ``(num_params,)``; required by
            ``config.theta_transform="logit"`` (``None`` there: placeholder bounds, to be
            overwritten by :meth:`load_state_dict`).

    Example:
        >>> q = ConditionalDensity(NPEConfig(num_transforms=2), 2, (3,))
        >>> q.log_prob(torch.zeros(4, 2), torch.zeros(4, 3)).shape
        torch.Size([4])
        >>> q.sample(5, torch.zeros(4, 3)).shape
        torch.Size([5, 4, 2])
    """

    def __init__(
        self,
        config: NPEConfig,
        num_params: int,
        x_shape: tuple[int, ...],
        moments: tuple[Tensor, Tensor, Tensor, Tensor] | None = None,
        bounds: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.logit = config.theta_transform == "logit"
        self.num_params = int(num_params)
        self.x_shape = tuple(int(s) for s in x_shape)
        self.embedding, context = build_embedding(config.embedding, self.x_shape)
        self.flow = build_flow(config, self.num_params, context)
        dtype = torch.get_default_dtype()
        t_mean, t_std = torch.zeros(num_params, dtype=dtype), torch.ones(num_params, dtype=dtype)
        x_mean, x_std = (
            torch.zeros(self.x_shape, dtype=dtype),
            torch.ones(self.x_shape, dtype=dtype),
        )
        if moments is not None:
            tm, ts, xm, xs = (m.detach().to("cpu", dtype) for m in moments)
            if config.z_score_theta == "independent":
                t_mean, t_std = tm, _clean_std(ts)
            if config.z_score_x == "independent":
                if config.embedding.kind == "permutation_invariant":
                    # pool over the trial axis so that trials stay exchangeable
                    var = (xs**2 + xm**2).mean(0) - xm.mean(0) ** 2
                    xm, xs = xm.mean(0).expand_as(xm), var.clamp_min(0).sqrt().expand_as(xm)
                x_mean, x_std = xm.clone(), _clean_std(xs.clone())
            elif config.z_score_x == "structured":
                m = xm.mean()
                s = ((xs**2 + xm**2).mean() - m**2).clamp_min(0).sqrt()
                x_mean = torch.full(self.x_shape, float(m), dtype=dtype)
                x_std = torch.full(self.x_shape, float(_clean_std(s)), dtype=dtype)
        if self.logit:
            if bounds is None:
                low = torch.zeros(num_params, dtype=dtype)
                high = torch.ones(num_params, dtype=dtype)
            else:
                low, high = (b.detach().to("cpu", dtype).reshape(num_params) for b in bounds)
            self.register_buffer("theta_low", low)
            self.register_buffer("theta_high", high)
            if config.z_score_theta == "independent":  # logistic moments (u under the prior)
                t_mean = torch.zeros(num_params, dtype=dtype)
                t_std = torch.full((num_params,), math.pi / math.sqrt(3.0), dtype=dtype)
        self.register_buffer("theta_mean", t_mean)
        self.register_buffer("theta_std", t_std)
        self.register_buffer("x_mean", x_mean)
        self.register_buffer("x_std", x_std)

    def context(self, x: Tensor) -> Tensor:
        """Embedding of ``x`` ``(B, *x_shape)`` -> ``(B, context)``."""
        return self.embedding((x - self.x_mean) / self.x_std)

    def log_prob_context(self, theta: Tensor, context: Tensor) -> Tensor:
        """``log q(theta | x)`` from a precomputed context.

        ``theta`` ``(..., B, num_params)`` broadcasts against ``context`` ``(B, C)``;
        returns ``(..., B)``.
        """
        ladj = 0.0
        if self.logit:
            width = self.theta_high - self.theta_low
            s = (theta - self.theta_low) / width
            # closed box: a float32 prior or posterior sample can sit exactly on a bound, and
            # -inf for it would make the training loss infinite
            inside = ((s >= 0) & (s <= 1)).all(-1)
            s = s.clamp(_EPS_UNIT, 1 - _EPS_UNIT)
            log_s, log_1ms = torch.log(s), torch.log1p(-s)
            theta = log_s - log_1ms  # u = logit(s)
            ladj = -(log_s + log_1ms + width.log()).sum(-1)  # log |du/dtheta|
        z = (theta - self.theta_mean) / self.theta_std
        lp = self.flow(context).log_prob(z) - self.theta_std.log().sum() + ladj
        if self.logit:
            lp = torch.where(inside, lp, torch.full_like(lp, -torch.inf))
        return lp

    def log_prob(self, theta: Tensor, x: Tensor) -> Tensor:
        """``log q(theta_i | x_i)``: theta ``(B, num_params)``, x ``(B, *x_shape)`` -> ``(B,)``."""
        return self.log_prob_context(theta, self.context(x))

    def sample(self, num: int, x: Tensor) -> Tensor:
        """``num`` samples per ``x`` ``(B, *x_shape)`` -> ``(num, B, num_params)``."""
        z = self.flow(self.context(x)).sample((num,))
        u = z * self.theta_std + self.theta_mean
        if self.logit:
            # sigmoid saturates to exactly 0 or 1 for |u| > ~17 (float32): keep samples in the
            # open box, consistent with the clamp in log_prob_context
            s = torch.sigmoid(u).clamp(_EPS_UNIT, 1 - _EPS_UNIT)
            return self.theta_low + (self.theta_high - self.theta_low) * s
        return u

    def num_weights(self) -> int:
        """Number of trainable scalars."""
        return sum(math.prod(p.shape) for p in self.parameters() if p.requires_grad)
