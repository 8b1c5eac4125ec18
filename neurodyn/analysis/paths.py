"""High-probability paths between posterior samples and orthogonal perturbation paths.

The method of Gonçalves et al., eLife 2020 (Fig 8), in z-scored prior space
``z = (theta - prior mean) / prior sd``:

* :func:`high_probability_path` bends the straight line between two parameter sets with a
  sine (and sine²) basis and minimises the line integral of ``-log q(z | x_o)`` by BFGS,
  starting from the straight line. Unlike the original code (whose ``1e20`` out-of-prior cost
  was a no-op), leaving the prior box is penalised here, with an exact (L1 + quadratic)
  penalty on the distance to the box, and ``log q`` is evaluated at the point projected into
  the box so the objective stays finite and continuous.
* :func:`orthogonal_path` walks from a point on a path along the steepest *descent* of
  ``log q`` within the hyperplane perpendicular to the path (fixed step size, eLife
  ``OrthogonalPath``): the direction in which the posterior falls off fastest while the
  position along the path stays put.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize

from neurodyn._validation import check_positive, check_tensor, fail
from neurodyn.analysis._density import ZDensity

__all__ = [
    "HighProbabilityPathResult",
    "OrthogonalPathResult",
    "cumulative_arc_length",
    "high_probability_path",
    "orthogonal_path",
    "sine_path",
]


def cumulative_arc_length(points: torch.Tensor) -> torch.Tensor:
    """Cumulative Euclidean arc length ``(num_points,)`` of a polyline ``(num_points, dim)``.

    Example:
        >>> cumulative_arc_length(torch.tensor([[0.0, 0.0], [3.0, 4.0], [3.0, 5.0]]))
        tensor([0., 5., 6.])
    """
    steps = torch.linalg.vector_norm(torch.diff(points, dim=0), dim=-1)
    return torch.cat([steps.new_zeros(1), torch.cumsum(steps, 0)])


def _basis(num_points: int, num_basis: int, dtype, device):
    s = torch.linspace(0.0, 1.0, num_points, dtype=dtype, device=device)
    k = torch.arange(1, num_basis + 1, dtype=dtype, device=device)
    arg = math.pi * s[:, None] * k  # (L, N)
    sin, cos = torch.sin(arg), torch.cos(arg)
    # rows of the coefficient matrix: sin(pi k s), k = 1..N, then sin^2(pi k s), k = 1..N
    value = torch.cat([sin, sin**2], dim=1)  # (L, 2N)
    deriv = torch.cat([math.pi * k * cos, 2 * math.pi * k * sin * cos], dim=1)
    return s, value, deriv


def _path_batch(z0, z1, coeffs, value, deriv, s):
    """Paths ``(B, L, D)`` and velocities for coefficient batches ``(B, M, D)``."""
    m = coeffs.shape[1]
    gamma = s[:, None] + torch.einsum("lm,bmd->bld", value[:, :m], coeffs)
    dgamma = 1.0 + torch.einsum("lm,bmd->bld", deriv[:, :m], coeffs)
    scale = z1 - z0
    return z0 + scale * gamma, scale * dgamma


def sine_path(
    z_start: Any,
    z_end: Any,
    coefficients: Any,
    num_points: int = 80,
    *,
    sine_square: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points and velocities of the eLife sine-basis path.

    ``x_d(s) = z_start_d + (z_end_d - z_start_d) * gamma_d(s)`` with
    ``gamma_d(s) = s + sum_k a_kd sin(pi k s) + sum_k b_kd sin²(pi k s)`` on
    ``s = linspace(0, 1, num_points)``. Both endpoints are fixed; a dimension where start and
    end agree cannot move.

    Args:
        z_start: start point ``(dim,)``.
        z_end: end point ``(dim,)``.
        coefficients: ``(2N, dim)``: sine coefficients ``a_k`` (rows ``k = 1..N``) then the
            sine² coefficients ``b_k`` (the eLife layout, ``high_p_alpha``); ``(N, dim)`` sine
            coefficients only when ``sine_square`` is false.
        num_points: number of points ``L`` on ``[0, 1]``.
        sine_square: whether ``coefficients`` holds the sine² rows.

    Returns:
        ``(points, velocities)``, each ``(num_points, dim)`` (velocity = ``dx/ds``).

    Example:
        >>> pts, vel = sine_path([0.0, 0.0], [1.0, 2.0], torch.zeros(4, 2), num_points=3)
        >>> pts
        tensor([[0.0000, 0.0000],
                [0.5000, 1.0000],
                [1.0000, 2.0000]], dtype=torch.float64)
    """
    z0 = check_tensor("z_start", z_start, ndim=1, dtype=torch.float64)
    z1 = check_tensor("z_end", z_end, ndim=1, dtype=torch.float64, device=z0.device)
    c = check_tensor("coefficients", coefficients, ndim=2, dtype=torch.float64, device=z0.device)
    if z1.shape != z0.shape:
        fail("z_end", f"shape {tuple(z0.shape)} like z_start", z1)
    if c.shape[1] != z0.numel():
        fail("coefficients", f"shape (num_basis, {z0.numel()})", c)
    num_points = check_positive("num_points", num_points, integer=True)
    if num_points < 2:
        fail("num_points", "at least 2 points", num_points)
    if sine_square and c.shape[0] % 2:
        fail(
            "coefficients",
            "an even number of rows (sine then sine² coefficients)",
            c,
            "Pass sine_square=False for sine coefficients only.",
        )
    num_basis = c.shape[0] // 2 if sine_square else c.shape[0]
    s, value, deriv = _basis(num_points, num_basis, torch.float64, z0.device)
    if not sine_square:
        value, deriv = value[:, :num_basis], deriv[:, :num_basis]
    pts, vel = _path_batch(z0, z1, c[None], value, deriv, s)
    return pts[0], vel[0]


@dataclass(frozen=True)
class HighProbabilityPathResult:
    """Result of :func:`high_probability_path`.

    Attributes:
        theta: path points in parameter units ``(num_points, num_params)``; with a prior
            box and ``penalty > 0`` clipped into the box (as the objective evaluated them).
        z: the same points in z-scored prior space.
        log_prob: ``posterior.log_prob`` at the points ``(num_points,)``.
        arc_length: cumulative Euclidean arc length in z-space ``(num_points,)``.
        straight_theta: the straight line ``(num_points, num_params)`` (the initial path).
        straight_log_prob: ``posterior.log_prob`` on the straight line ``(num_points,)``.
        coefficients: fitted basis coefficients ``(2N or N, num_params)``, eLife row layout.
        objective: final value of the objective; ``straight_objective`` at the straight line.
        max_prior_violation: largest z-space distance of a path point of the optimised curve
            to the prior box, before the clipping (0 when the curve stays inside).
        num_iterations: BFGS iterations; ``success``/``message``: scipy's report.
    """

    theta: torch.Tensor
    z: torch.Tensor
    log_prob: torch.Tensor
    arc_length: torch.Tensor
    straight_theta: torch.Tensor
    straight_log_prob: torch.Tensor
    coefficients: torch.Tensor
    objective: float
    straight_objective: float
    max_prior_violation: float
    num_iterations: int
    success: bool
    message: str

    @property
    def length(self) -> float:
        """Total arc length in z-space."""
        return float(self.arc_length[-1])

    @property
    def straight_length(self) -> float:
        """Length of the straight line between the endpoints in z-space."""
        return float(torch.linalg.vector_norm(self.z[-1] - self.z[0]))


def high_probability_path(
    posterior: Any,
    theta_start: Any,
    theta_end: Any,
    x_o: Any = None,
    *,
    prior: Any = None,
    num_points: int = 80,
    num_basis: int = 2,
    sine_square: bool = True,
    max_iter: int = 200,
    penalty: float = 1e3,
    log_prob_reference: float | None = None,
    gradient: str = "auto",
) -> HighProbabilityPathResult:
    """Path of high posterior probability between two parameter sets (eLife 2020, Fig 8).

    Minimises, over the basis coefficients of :func:`sine_path`,
    ``sum_j [c - log q(x(s_j) | x_o)] * ||x'(s_j)||`` (``c = log_prob_reference`` or 0;
    ``log q`` is the z-space density) with scipy BFGS from the straight line. Points leaving
    the prior box add ``penalty * (||x'(s_j)|| + ||Δ||) * (d_j + d_j²)`` where ``d_j`` is the
    z-distance to the box, and ``log q`` is evaluated at the point clipped into the box: for
    ``penalty`` above the largest ``|∇ log q|`` at the box faces the constrained optimum is
    exact. Note that where ``log q > c`` the integrand is negative and the objective rewards
    longer paths; pass ``log_prob_reference`` (e.g. the z-space ``log q`` at the posterior mode)
    to make every cost positive. eLife used ``c = 0``, ``max_iter = 30`` and no working bound.

    Args:
        posterior: object with ``log_prob(theta, x=...)`` (neurodyn, ``sbi`` or a torch
            distribution with ``prior=`` given).
        theta_start: start point ``(num_params,)`` in parameter units, inside the prior.
        theta_end: end point ``(num_params,)``, inside the prior.
        x_o: observation ``(num_features,)``; ``None`` uses the posterior's default.
        prior: prior for the z-scoring and the box; ``None`` uses ``posterior.prior``.
        num_points: points ``L`` on the path (eLife 80).
        num_basis: sine functions ``N`` per dimension (eLife 2).
        sine_square: also use the sine² basis (eLife ``True``: ``4 * num_params`` coefficients).
        max_iter: BFGS iterations.
        penalty: weight of the out-of-prior penalty (per z-unit of distance); 0 disables it.
        log_prob_reference: constant ``c`` subtracted from ``log q`` (see above).
        gradient: ``"auto"``, ``"autograd"`` or ``"finite_difference"`` for the objective's
            gradient (central differences of the coefficients, step: cube root of the
            machine epsilon of the posterior's dtype).

    Returns:
        A :class:`HighProbabilityPathResult`.

    Example:
        >>> from torch.distributions import MultivariateNormal
        >>> from neurodyn.priors import BoxUniform
        >>> q = MultivariateNormal(torch.zeros(2), torch.eye(2) * 0.3)
        >>> prior = BoxUniform([-3.0, -3.0], [3.0, 3.0])
        >>> res = high_probability_path(q, [-1.5, 0.5], [0.5, 1.5], prior=prior)
        >>> bool(res.log_prob.mean() > res.straight_log_prob.mean())  # bends towards the mode
        True
        >>> res.length > res.straight_length
        True
    """
    dens = ZDensity(posterior, x_o, prior, gradient=gradient)
    t0 = dens.check_theta("theta_start", theta_start)
    t1 = dens.check_theta("theta_end", theta_end)
    num_points = check_positive("num_points", num_points, integer=True)
    if num_points < 3:
        fail("num_points", "at least 3 points", num_points)
    num_basis = check_positive("num_basis", num_basis, integer=True)
    max_iter = check_positive("max_iter", max_iter, integer=True)
    penalty = check_positive("penalty", penalty, strict=False)
    ref = 0.0 if log_prob_reference is None else float(log_prob_reference)
    if not math.isfinite(ref):
        fail("log_prob_reference", "a finite number or None", log_prob_reference)

    f64 = torch.float64
    z0, z1 = dens.to_z(t0).to(f64), dens.to_z(t1).to(f64)
    num_rows = 2 * num_basis if sine_square else num_basis
    s, value, deriv = _basis(num_points, num_basis, f64, z0.device)
    if not sine_square:
        value, deriv = value[:, :num_basis], deriv[:, :num_basis]
    chord = float(torch.linalg.vector_norm(z1 - z0))
    shape = (num_rows, dens.dim)

    def batch_objective(coeffs: torch.Tensor, *, track: bool) -> torch.Tensor:
        pts, vel = _path_batch(z0, z1, coeffs, value, deriv, s)  # (B, L, D)
        speed = torch.linalg.vector_norm(vel, dim=-1)
        flat = (dens.clip(pts) if penalty > 0 else pts).reshape(-1, dens.dim)
        lp = dens.log_prob(flat, track=True) if track else dens.log_prob_batched(flat)
        lp = lp.to(f64).reshape(speed.shape)
        obj = ((ref - lp) * speed).sum(-1)
        if penalty > 0 and dens.low_z is not None:
            dist = dens.box_distance(pts)
            obj = obj + weight * ((speed + chord) * (dist + dist**2)).sum(-1)
        return obj

    dens.value_and_grad(z0[None].to(dens.dtype))  # decides autograd vs finite differences
    use_autograd = bool(dens._autograd_ok)
    fd_h = dens.fd_step

    def fun(a: np.ndarray) -> tuple[float, np.ndarray]:
        c = torch.as_tensor(a, dtype=f64, device=z0.device).reshape(1, *shape)
        if use_autograd:
            c.requires_grad_(True)
            val = batch_objective(c, track=True)[0]
            (g,) = torch.autograd.grad(val, c)
            return float(val.detach()), g.reshape(-1).cpu().numpy()
        p = c.numel()
        eye = torch.eye(p, dtype=f64, device=z0.device).reshape(p, *shape) * fd_h
        batch = torch.cat([c.detach(), c.detach() + eye, c.detach() - eye])
        vals = batch_objective(batch, track=False)
        g = (vals[1 : p + 1] - vals[p + 1 :]) / (2 * fd_h)
        return float(vals[0]), g.cpu().numpy()

    a0 = np.zeros(num_rows * dens.dim)
    weight = penalty
    straight_obj = float(
        batch_objective(torch.zeros(1, *shape, dtype=f64, device=z0.device), track=False)[0]
    )
    if not math.isfinite(straight_obj):
        fail(
            "posterior",
            "a finite log_prob on the straight line between the endpoints",
            straight_obj,
            "Check that log_prob is finite inside the prior.",
        )
    # float32 log-densities limit the attainable gradient accuracy to ~1e-7 relative
    gtol = 1e-6 * max(1.0, abs(straight_obj))
    # continuation: a softer penalty first (BFGS stalls at the kink of a steep L1 term
    # started from the straight line), then the requested weight, warm-started
    nit = 0
    for weight in (penalty / 10, penalty) if penalty > 0 else (0.0,):  # noqa: B007 (closure)
        opt = minimize(
            fun, a0, jac=True, method="BFGS", options={"maxiter": max_iter, "gtol": gtol}
        )
        a0, nit = opt.x, nit + int(opt.nit)
    coeffs = torch.as_tensor(opt.x, dtype=f64, device=z0.device).reshape(shape)
    with torch.no_grad():
        pts, _ = _path_batch(z0, z1, coeffs[None], value, deriv, s)
        viol = float(dens.box_distance(pts[0]).max())
        # the objective saw the points clipped into the box; return those (a point a hair
        # outside, e.g. a conductance of -1e-9, would get log q = -inf and be refused by a
        # simulator)
        pts = dens.clip(pts[0]) if penalty > 0 else pts[0]
        line = z0 + s[:, None] * (z1 - z0)
        theta = dens.to_theta(pts).to(dens.dtype)
        straight = dens.to_theta(line).to(dens.dtype)
        lp = dens.log_prob_theta(theta).detach()
        lp_line = dens.log_prob_theta(straight).detach()
    return HighProbabilityPathResult(
        theta=theta,
        z=pts,
        log_prob=lp,
        arc_length=cumulative_arc_length(pts),
        straight_theta=straight,
        straight_log_prob=lp_line,
        coefficients=coeffs,
        objective=float(opt.fun),
        straight_objective=straight_obj,
        max_prior_violation=viol,
        num_iterations=nit,
        success=bool(opt.success),
        message=str(opt.message),
    )


@dataclass(frozen=True)
class OrthogonalPathResult:
    """Result of :func:`orthogonal_path`.

    Attributes:
        theta: points in parameter units ``(num_points, num_params)``; row 0 is the start.
        z: the same points in z-space.
        log_prob: ``posterior.log_prob`` at the points ``(num_points,)``.
        arc_length: cumulative z-space arc length ``(num_points,)``.
        normal: unit tangent of the path at the start (z-space), the excluded direction.
        start_index: index of the start point on the input path.
        stop_reason: ``"length"`` (reached ``max_length``), ``"stationary"`` (projected
            gradient vanished) or ``"max_steps"``.
    """

    theta: torch.Tensor
    z: torch.Tensor
    log_prob: torch.Tensor
    arc_length: torch.Tensor
    normal: torch.Tensor
    start_index: int
    stop_reason: str

    @property
    def length(self) -> float:
        """Total arc length in z-space."""
        return float(self.arc_length[-1])


def orthogonal_path(
    posterior: Any,
    path: Any,
    start_index: int,
    x_o: Any = None,
    *,
    prior: Any = None,
    step_size: float = 0.01,
    max_length: float | None = None,
    max_steps: int = 10_000,
    gradient: str = "auto",
    fd_step: float | None = None,
) -> OrthogonalPathResult:
    """Perturbation path: steepest descent of ``log q`` perpendicular to a path (eLife Fig 8).

    From ``z = path[start_index]`` with unit tangent ``n = (z[i+1] - z[i-1]) / ||.||`` and
    projector ``P = I - n nᵀ``, repeat: ``g = ∇ log q(z | x_o)`` (components that left the prior
    box on the previous step set to 0), ``d = -P g / sqrt(gᵀ P g)``, ``z <- z + step_size * d``,
    clip to the box (``1e-4`` inside); stop when the arc length reaches ``max_length`` or
    ``gᵀ P g = 0``. Every step has length ``step_size`` and is orthogonal to ``n``.

    Args:
        posterior: object with ``log_prob(theta, x=...)``.
        path: a :class:`HighProbabilityPathResult`, or path points ``(num_points, num_params)``
            in parameter units.
        start_index: index of the start point (``1 <= start_index <= num_points - 2``;
            eLife 23 of 80).
        x_o: observation ``(num_features,)``; ``None`` uses the posterior's default.
        prior: prior for z-scoring and the box; ``None`` uses ``posterior.prior``.
        step_size: step length in z-units (eLife 0.01).
        max_length: stop once this z-space arc length is reached; ``None`` uses the path's
            arc length / 27 (the eLife choice: 25 points for their path).
        max_steps: safety limit on the number of steps.
        gradient: ``"auto"``, ``"autograd"`` or ``"finite_difference"`` (central differences
            with step ``fd_step`` z-units; eLife used forward differences, 1e-4).
        fd_step: finite-difference step in z-units; ``None``: cube root of the machine
            epsilon of the posterior's dtype.

    Returns:
        An :class:`OrthogonalPathResult`.

    Example:
        >>> from torch.distributions import MultivariateNormal
        >>> from neurodyn.priors import BoxUniform
        >>> q = MultivariateNormal(torch.zeros(2), torch.eye(2))
        >>> prior = BoxUniform([-5.0, -5.0], [5.0, 5.0])
        >>> line = torch.stack([torch.linspace(-1, 1, 11), torch.full((11,), 0.5)], -1)
        >>> res = orthogonal_path(q, line, 5, prior=prior, max_length=0.1)
        >>> res.z.shape, round(res.length, 6)
        (torch.Size([11, 2]), 0.1)
    """
    dens = ZDensity(posterior, x_o, prior, gradient=gradient, fd_step=fd_step)
    if isinstance(path, HighProbabilityPathResult):
        z_path = path.z.to(torch.float64)
    else:
        pts = check_tensor("path", path, ndim=2, dtype=dens.dtype, device=dens.device)
        if pts.shape[1] != dens.dim:
            fail("path", f"points of {dens.dim} parameters (the prior's dimension)", pts)
        z_path = dens.to_z(pts).to(torch.float64)
    if isinstance(start_index, bool) or not isinstance(start_index, (int, np.integer)):
        fail("start_index", "an integer", start_index, exc=TypeError)
    if not 1 <= int(start_index) <= z_path.shape[0] - 2:
        fail(
            "start_index",
            f"an index in [1, {z_path.shape[0] - 2}] (a point with neighbours)",
            start_index,
        )
    i = int(start_index)
    step_size = check_positive("step_size", step_size)
    max_steps = check_positive("max_steps", max_steps, integer=True)
    if max_length is None:
        max_length = float(cumulative_arc_length(z_path)[-1]) / 27.0
    max_length = check_positive("max_length", max_length)

    tangent = z_path[i + 1] - z_path[i - 1]
    norm = float(torch.linalg.vector_norm(tangent))
    if norm == 0:
        fail("path", "distinct neighbours of the start point", "a zero tangent")
    n = tangent / norm
    proj = torch.eye(dens.dim, dtype=torch.float64, device=n.device) - torch.outer(n, n)
    lo = None if dens.low_z is None else dens.low_z.to(torch.float64)
    hi = None if dens.high_z is None else dens.high_z.to(torch.float64)

    z = z_path[i].clone()
    points = [z.clone()]
    free = torch.ones(dens.dim, dtype=torch.bool, device=z.device)
    travelled, reason = 0.0, "max_steps"
    for _ in range(max_steps):
        if travelled >= max_length - 1e-12 * max_length:
            reason = "length"
            break
        _, g = dens.value_and_grad(z[None].to(dens.dtype))
        g = torch.nan_to_num(g[0].to(torch.float64), nan=0.0) * free
        pg = proj @ g
        gpg = float(g @ pg)
        if not gpg > 0:
            reason = "stationary"
            break
        z = z - step_size * pg / math.sqrt(gpg)
        if lo is not None:
            free = (z > lo) & (z < hi)
            z = torch.where(z < lo, lo + 1e-4, torch.where(z > hi, hi - 1e-4, z))
        points.append(z.clone())
        travelled += step_size
    zs = torch.stack(points)
    theta = dens.to_theta(zs).to(dens.dtype)
    return OrthogonalPathResult(
        theta=theta,
        z=zs,
        log_prob=dens.log_prob_theta(theta).detach(),
        arc_length=cumulative_arc_length(zs),
        normal=n,
        start_index=i,
        stop_reason=reason,
    )
