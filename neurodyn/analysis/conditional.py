"""Conditional densities and conditional correlations of a posterior (eLife 2020, Fig 9).

For a conditioning point ``theta*`` (typically a posterior sample) and a pair of parameters
``(i, j)``, the conditional ``q(theta_i, theta_j | theta*_rest, x_o)`` is evaluated on a grid over
the prior box with all other parameters fixed to ``theta*``. Its Pearson correlation is the
conditional correlation; averaged over many ``theta*`` it reveals compensation mechanisms that
marginal correlations hide.

Grid: ``resolution`` cells of width ``Δ = (high - low) / resolution`` per axis, nodes at the cell
centres (midpoint rule). The eLife code used ``linspace(low, high, resolution)`` nodes with cell
width ``(high - low) / resolution``, inconsistent by one cell; here nodes and cell widths agree,
so moments of a uniform density are exact up to the midpoint rule's ``O(Δ²)`` error and the
density sums to one with the stated cell area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from neurodyn._validation import check_positive, check_tensor, fail
from neurodyn.analysis._density import ZDensity

__all__ = [
    "ConditionalCorrelationResult",
    "ConditionalDensity",
    "conditional_correlation",
    "conditional_density",
    "grid_nodes",
]


def grid_nodes(low: float, high: float, resolution: int) -> torch.Tensor:
    """Cell-centre nodes ``(resolution,)`` of ``[low, high]`` (float64).

    Example:
        >>> grid_nodes(0.0, 1.0, 4)
        tensor([0.1250, 0.3750, 0.6250, 0.8750], dtype=torch.float64)
    """
    width = (high - low) / resolution
    return low + width * (torch.arange(resolution, dtype=torch.float64) + 0.5)


@dataclass(frozen=True)
class ConditionalDensity:
    """A 1-D or 2-D conditional density on a grid (from :func:`conditional_density`).

    Attributes:
        dims: the parameter indices ``(i,)`` or ``(i, j)``.
        axes: grid nodes per dim, each ``(resolution,)``, parameter units.
        density: normalised density ``(resolution,)`` or ``(resolution, resolution)`` (axis 0 is
            ``dims[0]``); ``density.sum() * cell_area == 1``.
        log_prob: the unnormalised ``log q`` on the grid (same shape).
        cell_area: the grid cell length/area in parameter units.
    """

    dims: tuple[int, ...]
    axes: tuple[torch.Tensor, ...]
    density: torch.Tensor
    log_prob: torch.Tensor
    cell_area: float


@dataclass(frozen=True)
class ConditionalCorrelationResult:
    """Result of :func:`conditional_correlation`.

    Attributes:
        matrix: mean conditional correlation ``(k, k)`` over the conditions (``nanmean``),
            symmetric with unit diagonal, for the ``k`` analysed dims.
        per_condition: ``(num_conditions, k, k)``; NaN where a conditional was degenerate.
        dims: the analysed parameter indices ``(k,)``.
    """

    matrix: torch.Tensor
    per_condition: torch.Tensor
    dims: tuple[int, ...]


def _limits(dens: ZDensity, limits: Any) -> torch.Tensor:
    if limits is None:
        if dens.low_z is None or not bool(
            torch.isfinite(dens.low_z).all() & torch.isfinite(dens.high_z).all()
        ):
            fail(
                "limits",
                "a (num_params, 2) array of [low, high] per parameter",
                None,
                "The prior is not a bounded box; pass limits=... explicitly.",
            )
        return torch.stack([dens.to_theta(dens.low_z), dens.to_theta(dens.high_z)], -1).double()
    lim = check_tensor("limits", limits, ndim=2, dtype=torch.float64)
    if lim.shape != (dens.dim, 2):
        fail("limits", f"shape ({dens.dim}, 2): [low, high] per parameter", lim)
    if not bool((lim[:, 1] > lim[:, 0]).all()):
        fail("limits", "high > low for every parameter", lim)
    return lim


def _check_dims(name: str, dims: Any, dim: int, *, sizes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        out = tuple(int(d) for d in dims)
    except (TypeError, ValueError):
        fail(name, "a sequence of parameter indices", dims, exc=TypeError)
    if len(out) not in sizes:
        fail(name, " or ".join(str(s) for s in sizes) + " parameter indices", dims)
    if any(d < 0 or d >= dim for d in out) or len(set(out)) != len(out):
        fail(name, f"distinct indices in [0, {dim - 1}]", dims)
    return out


def _conditions(dens: ZDensity, condition: Any, name: str) -> torch.Tensor:
    c = check_tensor(name, condition, ndim=(1, 2), dtype=torch.float64)
    c = c[None] if c.ndim == 1 else c
    if c.shape[1] != dens.dim:
        fail(name, f"points of {dens.dim} parameters (the prior's dimension)", c)
    return c.to(dens.device)


def conditional_density(
    posterior: Any,
    condition: Any,
    dims: Any,
    x_o: Any = None,
    *,
    limits: Any = None,
    resolution: int = 50,
    prior: Any = None,
) -> ConditionalDensity:
    """Conditional density of one or two parameters with all others fixed to ``condition``.

    Args:
        posterior: object with ``log_prob(theta, x=...)``.
        condition: conditioning point ``(num_params,)`` in parameter units.
        dims: ``(i,)`` or ``(i, j)``: the free parameters.
        x_o: observation ``(num_features,)``; ``None`` uses the posterior's default.
        limits: ``(num_params, 2)`` grid bounds; ``None`` uses the prior box.
        resolution: grid cells per axis.
        prior: prior (box and z-scoring); ``None`` uses ``posterior.prior``.

    Returns:
        A :class:`ConditionalDensity`.

    Example:
        >>> from torch.distributions import MultivariateNormal
        >>> from neurodyn.priors import BoxUniform
        >>> q = MultivariateNormal(torch.zeros(2), torch.eye(2))
        >>> prior = BoxUniform([-6.0, -6.0], [6.0, 6.0])
        >>> cd = conditional_density(q, [0.0, 0.0], (0, 1), prior=prior, resolution=60)
        >>> round(float(cd.density.sum() * cd.cell_area), 6)
        1.0
    """
    dens = ZDensity(posterior, x_o, prior)
    lim = _limits(dens, limits)
    dims = _check_dims("dims", dims, dens.dim, sizes=(1, 2))
    resolution = check_positive("resolution", resolution, integer=True)
    cond = _conditions(dens, condition, "condition")
    if cond.shape[0] != 1:
        fail("condition", "one point (num_params,)", cond)
    axes = tuple(grid_nodes(float(lim[d, 0]), float(lim[d, 1]), resolution) for d in dims)
    mesh = torch.meshgrid(*axes, indexing="ij")
    pts = cond.expand(mesh[0].numel(), dens.dim).clone()
    for d, m in zip(dims, mesh, strict=True):
        pts[:, d] = m.reshape(-1).to(pts.device)
    lp = dens.log_prob_batched(dens.to_z(pts.to(dens.dtype))).double().reshape(mesh[0].shape)
    area = 1.0
    for d in dims:
        area *= float(lim[d, 1] - lim[d, 0]) / resolution
    w = torch.softmax(lp.reshape(-1), 0).reshape(lp.shape)
    return ConditionalDensity(dims=dims, axes=axes, density=w / area, log_prob=lp, cell_area=area)


def _pair_correlation(lp: torch.Tensor, ax: torch.Tensor, ay: torch.Tensor) -> torch.Tensor:
    """Correlations ``(P,)`` of densities ``exp(lp)`` ``(P, R, R)`` on nodes ``(P, R)``.

    Cell areas are equal, so they cancel from the normalised moments.
    """
    p = torch.softmax(lp.reshape(lp.shape[0], -1), -1).reshape(lp.shape)
    px, py = p.sum(2), p.sum(1)
    mx, my = (px * ax).sum(-1), (py * ay).sum(-1)
    dx, dy = ax - mx[:, None], ay - my[:, None]
    vx, vy = (px * dx**2).sum(-1), (py * dy**2).sum(-1)
    cov = (p * dx[:, :, None] * dy[:, None, :]).sum((1, 2))
    return cov / torch.sqrt(vx * vy)


def conditional_correlation(
    posterior: Any,
    conditions: Any,
    x_o: Any = None,
    *,
    dims: Any = None,
    limits: Any = None,
    resolution: int = 50,
    prior: Any = None,
    batch_size: int = 262_144,
) -> ConditionalCorrelationResult:
    """Conditional correlation matrix averaged over conditioning points (eLife Fig 9d).

    For each conditioning point and each pair ``i < j`` of ``dims``, the 2-D conditional density
    is evaluated on a ``resolution × resolution`` cell-centre grid over ``limits`` (see the
    module docstring), normalised, and its Pearson correlation computed by Riemann sums. The
    result is the NaN-ignoring mean over conditions, symmetrised, with a unit diagonal. For a
    Gaussian posterior with precision ``P`` the exact value is ``-P_ij / sqrt(P_ii P_jj)``.

    Args:
        posterior: object with ``log_prob(theta, x=...)``.
        conditions: conditioning points ``(num_conditions, num_params)`` (e.g. posterior
            samples; eLife used 500), parameter units.
        x_o: observation ``(num_features,)``; ``None`` uses the posterior's default.
        dims: parameter indices to analyse; ``None`` uses all.
        limits: ``(num_params, 2)`` grid bounds; ``None`` uses the prior box.
        resolution: grid cells per axis (eLife 50).
        prior: prior (box and z-scoring); ``None`` uses ``posterior.prior``.
        batch_size: points per ``log_prob`` call.

    Returns:
        A :class:`ConditionalCorrelationResult`.

    Example:
        >>> from torch.distributions import MultivariateNormal
        >>> from neurodyn.priors import BoxUniform
        >>> cov = torch.tensor([[1.0, 0.5], [0.5, 1.0]])
        >>> q = MultivariateNormal(torch.zeros(2), cov)
        >>> prior = BoxUniform([-8.0, -8.0], [8.0, 8.0])
        >>> res = conditional_correlation(q, torch.zeros(1, 2), prior=prior, resolution=80)
        >>> round(float(res.matrix[0, 1]), 4)  # -P01/sqrt(P00 P11) = 0.5 for 2 dims
        0.5
    """
    dens = ZDensity(posterior, x_o, prior)
    lim = _limits(dens, limits)
    dims = (
        tuple(range(dens.dim))
        if dims is None
        else _check_dims("dims", dims, dens.dim, sizes=tuple(range(2, dens.dim + 1)))
    )
    resolution = check_positive("resolution", resolution, integer=True)
    batch_size = check_positive("batch_size", batch_size, integer=True)
    conds = _conditions(dens, conditions, "conditions")
    pairs = [(a, b) for ia, a in enumerate(dims) for b in dims[ia + 1 :]]
    nodes = [
        grid_nodes(float(lim[d, 0]), float(lim[d, 1]), resolution).to(dens.device)
        for d in range(dens.dim)
    ]
    r2 = resolution * resolution
    gx = torch.arange(resolution, device=dens.device).repeat_interleave(resolution)
    gy = torch.arange(resolution, device=dens.device).repeat(resolution)
    pairs_per_call = max(1, batch_size // r2)
    k = len(dims)
    pos = {d: i for i, d in enumerate(dims)}
    out = torch.full((conds.shape[0], k, k), float("nan"), dtype=torch.float64)
    for c_idx in range(conds.shape[0]):
        cond = conds[c_idx]
        rhos = []
        for start in range(0, len(pairs), pairs_per_call):
            chunk = pairs[start : start + pairs_per_call]
            pts = cond.expand(len(chunk), r2, dens.dim).clone()
            for p_idx, (a, b) in enumerate(chunk):
                pts[p_idx, :, a] = nodes[a][gx]
                pts[p_idx, :, b] = nodes[b][gy]
            z = dens.to_z(pts.reshape(-1, dens.dim).to(dens.dtype))
            lp = dens.log_prob(z).detach().double().reshape(len(chunk), resolution, resolution)
            ax = torch.stack([nodes[a] for a, _ in chunk])
            ay = torch.stack([nodes[b] for _, b in chunk])
            rhos.append(_pair_correlation(lp, ax, ay))
        rho = torch.cat(rhos).cpu()
        for (a, b), r in zip(pairs, rho, strict=True):
            out[c_idx, pos[a], pos[b]] = out[c_idx, pos[b], pos[a]] = r
        out[c_idx].diagonal().fill_(1.0)
    matrix = torch.nanmean(out, 0)
    return ConditionalCorrelationResult(matrix=matrix, per_condition=out, dims=dims)
