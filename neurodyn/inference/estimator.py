"""Conditional density estimators ``q(theta | x)``: z-scoring + embedding net + zuko flow.

:class:`ConditionalDensity` works in the original units of ``theta`` and ``x``: the z-scoring
of both lives inside the module (as buffers, saved with the weights) and the log-density
includes the Jacobian of the ``theta`` standardisation.
"""

from __future__ import annotations

import math
from functools import partial

import torch
import zuko
from torch import Tensor, nn
from zuko.transforms import MonotonicAffineTransform, MonotonicRQSTransform, Transform

from neurodyn.inference.config import NPEConfig
from neurodyn.inference.embedding import build_embedding

__all__ = ["ConditionalDensity", "RQSTransform", "Tanh", "build_flow"]

_MIN_STD = 1e-8


class Tanh(nn.Tanh):
    """``tanh(x)`` computed as ``2 sigmoid(2x) - 1`` (the same function; |difference| below
    2e-7 in float32, 4e-16 in float64).

    torch's CPU ``tanh`` kernel is slow: measured on one thread (AVX-512, a ``(512, 50)``
    float32 activation) 54 us forward against 16 us for this form, 75 vs 61 us forward plus
    backward. A 5-transform MAF evaluates ten of them per forward pass.

    Example:
        >>> x = torch.linspace(-20, 20, 101, dtype=torch.float64)
        >>> bool((Tanh()(x) - torch.tanh(x)).abs().max() < 1e-15)
        True
    """

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(x * 2).mul(2).sub(1)


_ACTIVATIONS = {"relu": nn.ReLU, "tanh": Tanh, "elu": nn.ELU}


def _softmax_small(v: Tensor) -> Tensor:
    """Softmax over the (short) last axis as ``exp / sum``, for inputs bounded by a soft
    clamp (no max subtraction needed). torch's CPU softmax is slow over an 8-wide last axis:
    a ``(2048, 5, 8)`` float32 tensor took 1.0 ms forward (1.4 ms with backward) on one
    thread, this 0.12 ms (0.37 ms)."""
    e = v.exp()
    return e / e.sum(dim=-1, keepdim=True)


class RQSTransform(MonotonicRQSTransform):
    """zuko's monotonic rational-quadratic spline with a faster bin normalisation.

    The same transformation as :class:`zuko.transforms.MonotonicRQSTransform` (same
    parameters, same soft clamps, same knots), except that the softmax of the bin widths and
    heights is computed by :func:`_softmax_small`: the soft clamp bounds the unconstrained
    widths by ``log(1/slope) / 2`` (3.45 for the default slope), so ``exp`` cannot overflow.
    With it an NSF training step (5 parameters, 3 transforms, batch 2048, one CPU thread)
    takes about a quarter less time. Weights are interchangeable with zuko's ``NSF``.
    """

    def __init__(
        self,
        widths: Tensor,
        heights: Tensor,
        derivatives: Tensor,
        bound: float = 5.0,
        slope: float = 1e-3,
        **kwargs,
    ) -> None:
        Transform.__init__(self, **kwargs)
        lim = -math.log(slope)  # |log-derivatives| < lim; |widths|, |heights| < lim / 2
        widths = widths / (1 + abs(widths) * (2 / lim))
        heights = heights / (1 + abs(heights) * (2 / lim))
        derivatives = derivatives / (1 + abs(derivatives) * (1 / lim))
        zero = widths.new_zeros((*widths.shape[:-1], 1))
        widths = torch.cat((zero, _softmax_small(widths)), dim=-1)
        heights = torch.cat((zero, _softmax_small(heights)), dim=-1)
        self.horizontal = bound * (2 * torch.cumsum(widths, dim=-1) - 1)
        self.vertical = bound * (2 * torch.cumsum(heights, dim=-1) - 1)
        one = zero + 1  # slope 1 at both ends of the spline
        self.derivatives = torch.cat((one, derivatives.exp(), one), dim=-1)


_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_SLOPE = 1e-3  # minimum slope of every flow transform (zuko's default, used by build_flow)
_AFFINE_LIM = -math.log(_SLOPE)  # soft-clamp bound of the MAF's log-scales


def _is_affine_maf(flow: nn.Module) -> bool:
    """Whether ``flow`` is a zuko MAF of affine transforms on a diagonal-normal base."""
    if not isinstance(flow, zuko.flows.MAF):
        return False
    ts = getattr(flow.transform, "transforms", ())
    return (
        bool(ts)
        and all(
            isinstance(t, zuko.flows.MaskedAutoregressiveTransform)
            and t.univariate is MonotonicAffineTransform
            and tuple(t.shapes) == ((), ())
            for t in ts
        )
        and {n for n, _ in flow.base.named_buffers()} == {"loc", "scale"}
    )


def _made_layers(hyper: nn.Module) -> tuple[list[nn.Module], str] | None:
    """``(masked linear layers, activation)`` of a plain zuko ``MaskedMLP`` (masked linear
    layers with tanh or ReLU between them, no residual blocks), else ``None``."""
    mods = list(hyper.children()) if isinstance(hyper, nn.Sequential) else []
    if len(mods) < 3 or len(mods) % 2 == 0:
        return None
    linears, acts = mods[0::2], mods[1::2]
    if not all(isinstance(m, zuko.nn.MaskedLinear) for m in linears):
        return None

    def kind(a: nn.Module) -> str:
        return "tanh" if isinstance(a, nn.Tanh) else "relu" if isinstance(a, nn.ReLU) else "?"

    kinds = {kind(a) for a in acts}
    if len(kinds) != 1 or "?" in kinds:
        return None
    return linears, kinds.pop()


class _FusedAffineMAF(torch.autograd.Function):
    """Log-density of an affine MAF with hand-written backward (one autograd node).

    Inputs: ``z`` ``(N, D)`` standardised parameters, ``c`` ``(N, C)`` context, the base's
    ``loc`` / ``scale`` ``(D,)``, ``spec = (num_transforms, layers per MADE, activation)`` and,
    per transform and layer, ``(weight, bias, float mask)``. Output ``(N,)``. The arithmetic
    is that of :func:`_affine_maf_log_prob_modules`; the backward pass is the chain rule
    written out (matmuls and a few elementwise ops per layer), so a training step runs a few
    dozen kernels instead of autograd's several hundred graph nodes.
    """

    @staticmethod
    def forward(ctx, z, c, loc, scale, spec, *tensors):
        num_t, num_l, act = spec
        n, d = z.shape
        ladj = z.new_zeros(n)
        saved = []
        for k in range(num_t):
            a = torch.cat((z, c), dim=-1)
            acts, wms = [a], []
            for layer in range(num_l):
                w, b, m = tensors[3 * (k * num_l + layer) : 3 * (k * num_l + layer) + 3]
                wm = w * m
                wms.append(wm)
                pre = torch.addmm(b, a, wm.t())
                if layer < num_l - 1:
                    if act == "tanh":  # 2 sigmoid(2x) - 1: torch's CPU tanh is slow
                        a = pre.mul_(2).sigmoid_().mul_(2).sub_(1)
                    else:
                        a = pre.clamp_(min=0)
                    acts.append(a)
                else:
                    a = pre
            shift, raw = a[:, 0::2], a[:, 1::2]
            den = raw.abs().div_(_AFFINE_LIM).add_(1)
            log_scale = raw / den
            els = log_scale.exp()
            ladj += log_scale.sum(-1)
            saved.append((acts, wms, den, els, z))
            z = torch.addcmul(shift, z, els)
        u = (z - loc) / scale
        out = ladj - 0.5 * (u * u).sum(-1) - (scale.log().sum() + d * _HALF_LOG_2PI)
        ctx.saved = (saved, u, scale, spec, tensors[2::3])
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        saved, u, scale, spec, masks = ctx.saved
        num_t, num_l, act = spec
        g = g.unsqueeze(-1)
        dz = -(g * u / scale)
        d = u.shape[-1]
        dc = None
        grads: list = [None] * (3 * num_t * num_l)
        for k in reversed(range(num_t)):
            acts, wms, den, els, z_prev = saved[k]
            dphi = torch.empty(dz.shape[0], 2 * d, dtype=dz.dtype, device=dz.device)
            dphi[:, 0::2] = dz
            dls = torch.addcmul(g.expand_as(dz), dz * z_prev, els)
            dphi[:, 1::2] = dls / (den * den)
            dz = dz * els
            dout = dphi
            for layer in reversed(range(num_l)):
                i = 3 * (k * num_l + layer)
                a_in = acts[layer]
                grads[i] = (dout.t() @ a_in).mul_(masks[k * num_l + layer])
                grads[i + 1] = dout.sum(0)
                din = dout @ wms[layer]
                if layer > 0:
                    if act == "tanh":  # din * (1 - a^2), without a scalar rsub
                        dout = torch.addcmul(din, din * a_in, a_in, value=-1)
                    else:
                        dout = din.mul_(a_in > 0)
                else:
                    dout = din
            dz = dz + dout[:, :d]
            if ctx.needs_input_grad[1]:
                dc = dout[:, d:] if dc is None else dc + dout[:, d:]
        return (dz if ctx.needs_input_grad[0] else None, dc, None, None, None, *grads)


def _float_mask(lin: nn.Module) -> Tensor:
    """The boolean mask of a zuko ``MaskedLinear`` in its weight's dtype, cached on the layer
    (refreshed when the mask buffer, dtype or device changes, e.g. by ``load_state_dict``)."""
    w, m = lin.weight, lin.mask
    key = (m._version, m.data_ptr(), w.dtype, w.device)
    cached = getattr(lin, "_neurodyn_float_mask", None)
    if cached is None or cached[0] != key:
        cached = (key, m.to(w.dtype))
        object.__setattr__(lin, "_neurodyn_float_mask", cached)
    return cached[1]


def _fused_layers(flow: nn.Module) -> list | None:
    """Per transform ``(masked linear layers, activation)`` when every MADE of ``flow`` is a
    plain one of the same depth and activation (the fused path applies), else ``None``.
    Inspected once per flow (the module structure does not change; weights and masks may)."""
    cached = flow.__dict__.get("_neurodyn_fused_layers", False)
    if cached is not False:
        return cached
    layers = [_made_layers(t.hyper) for t in flow.transform.transforms]
    if any(spec is None for spec in layers) or len({(len(s[0]), s[1]) for s in layers}) != 1:
        layers = None
    object.__setattr__(flow, "_neurodyn_fused_layers", layers)
    return layers


def _affine_maf_log_prob_modules(flow: nn.Module, z: Tensor, context: Tensor) -> Tensor:
    """:func:`_affine_maf_log_prob` through zuko's modules and autograd (the reference of the
    fused path, and the path for MADEs it does not cover)."""
    if context.shape[:-1] != z.shape[:-1]:
        context = context.expand(*z.shape[:-1], context.shape[-1])
    ladj = z.new_zeros(())
    for t in flow.transform.transforms:
        phi = t.hyper(torch.cat((z, context), dim=-1)).unflatten(-1, (-1, 2))
        shift, raw = phi[..., 0], phi[..., 1]
        log_scale = raw / (1 + raw.abs() / _AFFINE_LIM)
        z = z * log_scale.exp() + shift
        ladj = ladj + log_scale.sum(-1)
    base = flow.base
    u = (z - base.loc) / base.scale
    return ladj - (0.5 * u * u + base.scale.log() + _HALF_LOG_2PI).sum(-1)


def _affine_maf_log_prob(flow: nn.Module, z: Tensor, context: Tensor) -> Tensor:
    """``flow(context).log_prob(z)`` of an affine zuko MAF (see :func:`_is_affine_maf`).

    The same arithmetic as zuko's (each transform's MADE on ``[z, context]``, shift and
    soft-clamped log-scale, the Jacobian, the diagonal-normal base; float64 results equal to
    ~1e-14), without the transform and distribution objects zuko builds on every call, and,
    for plain tanh/ReLU MADEs, as one autograd node with a hand-written backward
    (:class:`_FusedAffineMAF`; gradients equal to autograd's to ~1e-13 in float64). A
    5-transform MAF training step (batch 256, 5 parameters, one CPU thread): 2.7 ms through
    the modules, 2.2-2.3 ms fused; a whole slcp 10^3 training 1.1-1.3 s -> 0.8-0.9 s.
    ``z`` ``(..., B, D)`` broadcasts against ``context`` ``(B, C)``; returns ``(..., B)``.
    """
    layers = _fused_layers(flow)
    if layers is None:
        return _affine_maf_log_prob_modules(flow, z, context)
    if context.shape[:-1] != z.shape[:-1]:
        context = context.expand(*z.shape[:-1], context.shape[-1])
    lead = z.shape[:-1]
    tensors = []
    for linears, _ in layers:
        for lin in linears:
            tensors += [lin.weight, lin.bias, _float_mask(lin)]
    spec = (len(layers), len(layers[0][0]), layers[0][1])
    out = _FusedAffineMAF.apply(
        z.reshape(-1, z.shape[-1]),
        context.reshape(-1, context.shape[-1]),
        flow.base.loc,
        flow.base.scale,
        spec,
        *tensors,
    )
    return out.reshape(lead)


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
        # zuko's NSF is this MAF with its spline transform; RQSTransform is the same spline
        # with a faster softmax (same module tree and weights)
        bins = config.num_bins
        return zuko.flows.MAF(
            num_params,
            context,
            transforms=config.num_transforms,
            hidden_features=hidden,
            activation=act,
            univariate=partial(RQSTransform, slope=_SLOPE),
            shapes=[(bins,), (bins,), (bins - 1,)],
            randperm=config.randperm,
        )
    if config.estimator == "maf":
        return zuko.flows.MAF(
            num_params,
            context,
            transforms=config.num_transforms,
            hidden_features=hidden,
            activation=act,
            randperm=config.randperm,
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
        self._affine_maf = _is_affine_maf(self.flow)
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
        if self._affine_maf:
            lp_z = _affine_maf_log_prob(self.flow, z, context)
        else:
            lp_z = self.flow(context).log_prob(z)
        lp = lp_z - self.theta_std.log().sum() + ladj
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
