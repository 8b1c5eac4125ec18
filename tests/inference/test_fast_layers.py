"""The faster tanh, spline transform and training-mode switch equal what they replace."""

from __future__ import annotations

import pytest
import torch
import zuko
from torch import nn
from zuko.transforms import MonotonicRQSTransform

from neurodyn.inference import NPEConfig
from neurodyn.inference.estimator import RQSTransform, Tanh, build_flow
from neurodyn.inference.training import _mode_setter


def test_tanh_equals_torch_tanh_and_its_gradient():
    x = torch.linspace(-30, 30, 2001, dtype=torch.float64, requires_grad=True)
    y = Tanh()(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    ref = torch.tanh(x.detach())
    assert torch.allclose(y.detach(), ref, atol=1e-15, rtol=0)
    assert torch.allclose(g, 1 - ref**2, atol=1e-15, rtol=0)
    x32 = x.detach().float()
    assert (Tanh()(x32).double() - ref).abs().max() < 3e-7
    assert torch.isfinite(Tanh()(torch.tensor([-1e30, 1e30]))).all()


@pytest.mark.parametrize("scale", [0.5, 3.0, 30.0])  # the soft clamp is active at 30
def test_rqs_transform_equals_zuko(scale):
    g = torch.Generator().manual_seed(1)
    shape = (64, 3)
    w, h = (scale * torch.randn(*shape, 8, generator=g, dtype=torch.float64) for _ in range(2))
    d = scale * torch.randn(*shape, 7, generator=g, dtype=torch.float64)
    x = 4 * torch.randn(*shape, generator=g, dtype=torch.float64)  # some outside [-5, 5]
    ref, new = MonotonicRQSTransform(w, h, d), RQSTransform(w, h, d)
    for name in ("horizontal", "vertical", "derivatives"):
        assert torch.allclose(getattr(new, name), getattr(ref, name), rtol=1e-12, atol=1e-12)
    y_ref, l_ref = ref.call_and_ladj(x)
    y_new, l_new = new.call_and_ladj(x)
    assert torch.allclose(y_new, y_ref, rtol=1e-12, atol=1e-12)
    assert torch.allclose(l_new, l_ref, rtol=1e-10, atol=1e-10)
    assert torch.allclose(new.inv(y_new), x, rtol=1e-8, atol=1e-8)


def test_nsf_weights_interchangeable_with_zuko_nsf():
    torch.manual_seed(0)
    cfg = NPEConfig(estimator="nsf", num_transforms=2, hidden_features=16)
    ours = build_flow(cfg, 3, 4).double()
    ref = zuko.flows.NSF(3, 4, bins=8, transforms=2, hidden_features=(16, 16)).double()
    assert ours.state_dict().keys() == ref.state_dict().keys()
    ref.load_state_dict(ours.state_dict())
    theta, c = torch.randn(50, 3, dtype=torch.float64), torch.randn(50, 4, dtype=torch.float64)
    assert torch.allclose(ours(c).log_prob(theta), ref(c).log_prob(theta), atol=1e-10)


class _Custom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.drop = nn.Dropout(0.5)

    def train(self, mode: bool = True):  # an override that must still be called
        self.calls += 1
        return super().train(mode)


def test_mode_setter_sets_every_flag_and_respects_train_overrides():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.1)))
    set_mode = _mode_setter(model)
    set_mode(False)
    assert not any(m.training for m in model.modules())
    set_mode(True)
    assert all(m.training for m in model.modules())
    custom = nn.Sequential(nn.Linear(2, 2), _Custom())
    set_mode = _mode_setter(custom)
    set_mode(False)
    assert custom[1].calls == 1 and not custom[1].drop.training


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_affine_maf_fast_log_prob_equals_zuko(activation):
    from neurodyn.inference.estimator import ConditionalDensity

    torch.manual_seed(3)
    cfg = NPEConfig(estimator="maf", num_transforms=3, activation=activation, hidden_features=8)
    q = ConditionalDensity(cfg, 4, (3,)).double()
    assert q._affine_maf
    with torch.no_grad():  # move the weights away from zuko's initialisation
        for p in q.flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(6, 3, dtype=torch.float64)
    c = q.context(x)
    for theta in (
        torch.randn(6, 4, dtype=torch.float64),
        torch.randn(5, 6, 4, dtype=torch.float64),
    ):
        fast = q.log_prob_context(theta, c)
        ref = q.flow(c).log_prob((theta - q.theta_mean) / q.theta_std) - q.theta_std.log().sum()
        assert fast.shape == theta.shape[:-1]
        assert torch.allclose(fast, ref, rtol=1e-12, atol=1e-12)


def test_fast_path_only_for_affine_mafs():
    from neurodyn.inference.estimator import _is_affine_maf

    assert _is_affine_maf(build_flow(NPEConfig(estimator="maf", num_transforms=2), 3, 2))
    assert not _is_affine_maf(build_flow(NPEConfig(estimator="nsf", num_transforms=2), 3, 2))
    assert not _is_affine_maf(build_flow(NPEConfig(estimator="mdn"), 3, 2))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_fused_maf_equals_autograd_through_zuko_modules(activation):
    """The fused MAF log-density (one autograd node, hand-written backward) against the same
    arithmetic through zuko's modules and autograd: values and every gradient, float64."""
    from neurodyn.inference.estimator import (
        _affine_maf_log_prob,
        _affine_maf_log_prob_modules,
        _made_layers,
    )

    torch.manual_seed(0)
    cfg = NPEConfig(estimator="maf", num_transforms=3, activation=activation)
    flow = build_flow(cfg, 4, 6).double()
    assert all(_made_layers(t.hyper) is not None for t in flow.transform.transforms)
    params = list(flow.parameters())
    for z_shape in ((64, 4), (3, 64, 4)):  # leading sample dims broadcast against the context
        z = torch.randn(*z_shape, dtype=torch.float64, requires_grad=True)
        c = torch.randn(64, 6, dtype=torch.float64, requires_grad=True)
        w = torch.randn(z_shape[:-1], dtype=torch.float64)
        fused = _affine_maf_log_prob(flow, z, c)
        ref = _affine_maf_log_prob_modules(flow, z, c)
        assert fused.shape == ref.shape == z_shape[:-1]
        assert torch.allclose(fused, ref, rtol=1e-12, atol=1e-12)
        g_f = torch.autograd.grad((fused * w).sum(), [z, c, *params])
        g_r = torch.autograd.grad((ref * w).sum(), [z, c, *params])
        for a, b in zip(g_f, g_r, strict=True):
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    # and against zuko's own distribution object
    z = torch.randn(64, 4, dtype=torch.float64)
    c = torch.randn(64, 6, dtype=torch.float64)
    assert torch.allclose(_affine_maf_log_prob(flow, z, c), flow(c).log_prob(z), atol=1e-12)


def test_fused_maf_gradcheck_and_mask_refresh():
    from neurodyn.inference.estimator import _affine_maf_log_prob, _float_mask, _FusedAffineMAF

    torch.manual_seed(1)
    flow = build_flow(NPEConfig(estimator="maf", num_transforms=2), 3, 2).double()
    lins = [m for t in flow.transform.transforms for m in list(t.hyper.children())[0::2]]
    tensors = [x for lin in lins for x in (lin.weight, lin.bias, _float_mask(lin))]
    z = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    c = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)

    def f(z, c, *wb):
        ts = [x for i in range(len(lins)) for x in (wb[2 * i], wb[2 * i + 1], tensors[3 * i + 2])]
        return _FusedAffineMAF.apply(z, c, flow.base.loc, flow.base.scale, (2, 3, "tanh"), *ts)

    wb = [x.detach().clone().requires_grad_() for lin in lins for x in (lin.weight, lin.bias)]
    assert torch.autograd.gradcheck(f, (z, c, *wb))
    # a mask changed in place (load_state_dict copies into the buffer) is picked up
    other = build_flow(NPEConfig(estimator="maf", num_transforms=2, randperm=True), 3, 2).double()
    flow.load_state_dict(other.state_dict())
    z, c = torch.randn(7, 3, dtype=torch.float64), torch.randn(7, 2, dtype=torch.float64)
    assert torch.allclose(_affine_maf_log_prob(flow, z, c), other(c).log_prob(z), atol=1e-12)


def test_fused_maf_falls_back_for_other_activations():
    from neurodyn.inference.estimator import _affine_maf_log_prob, _made_layers

    flow = build_flow(NPEConfig(estimator="maf", num_transforms=2, activation="elu"), 3, 2)
    assert _made_layers(flow.transform.transforms[0].hyper) is None
    z, c = torch.randn(8, 3), torch.randn(8, 2)
    assert torch.allclose(_affine_maf_log_prob(flow, z, c), flow(c).log_prob(z), atol=1e-5)
