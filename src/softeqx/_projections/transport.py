r"""Regularised optimal transport onto the Birkhoff polytope, with exact derivatives.

For a square cost matrix `C` (`(..., n, n)`, rows and columns each of total mass
one) and a regularisation strength $\varepsilon > 0$, this module computes

$$P^\star = \operatorname*{argmin}_{P \ge 0,\ P\mathbf 1 = \mathbf 1,\
P^\top \mathbf 1 = \mathbf 1} \langle P, C\rangle + \varepsilon \sum_{ij}
\omega(P_{ij}),$$

a doubly stochastic matrix, with the regulariser $\omega$ of each mode (the same
family as the simplex projections of `softeqx._projections.simplex`):

| mode | $\omega(p)$ | plan $P_{ij} = \varphi(H_{ij})$ | smoothness |
| --- | --- | --- | --- |
| `smooth` | $p \log p$ (entropic OT) | $e^{H}$ | C-infinity |
| `c0` | $p^2 / 2$ (quadratic OT) | $[H]_+$ | C0 |
| `c1` | $\tfrac23 p^{3/2}$ | $[H]_+^2$ | C1 |
| `c2` | $\tfrac34 p^{4/3}$ | $[H]_+^3$ | C2 |

with $H_{ij} = (f_i + g_j - C_{ij}) / \varepsilon$ for dual potentials $f, g$
(Cuturi 2013 for the entropic case; Blondel, Seguy and Rolet 2018 for the
p-norm ones, whose smooth dual this solves).

**Solver.** Exact block-coordinate ascent on the dual: for fixed $g$, the best
$f_i$ makes row $i$ a regularised projection onto the simplex of
$(g - C_{i\cdot}) / \varepsilon$, i.e. $f_i = -\varepsilon\lambda_i$ with
$\lambda_i$ the threshold of that projection (a log-sum-exp for `smooth`, which
makes this the log-domain Sinkhorn algorithm; Newton's method of
`simplex._threshold` for the p-norm modes); then the same for $g$ over the
columns. For sorting, the sweeps start from the potentials of the unregularised
problem (`sorting_potential`, closed form from the sorted scores), which makes
small $\varepsilon$ as cheap as large; for a generic cost, from zero with
$\varepsilon$ annealed geometrically from the spread of the cost down to its
target.
The loop stops when every column sum is within `tol` of 1 (rows are exact by
construction: the returned plan's rows are projections) or within the
rounding floor $2\,\mathrm{ulp} \cdot \operatorname{spread}(C)/\varepsilon$
(float32 cannot resolve the potentials better: about $5\cdot 10^{-5}$ at
$\varepsilon = 10^{-2}$ on standardised scores), when the error has not
improved for `STALL` sweeps, or after `max_iter` sweeps. It returns the
potentials of the best sweep so far and never raises, so a training step is
never aborted (the column sums are then off by the reported error).

**Derivatives.** The plan is a `jax.custom_jvp` function (so `jax.jacfwd` and
`jax.grad` both work): with $W = \varphi'(H)$ ($W = P$ for `smooth`),
differentiating $P = \varphi(H)$ under the marginal constraints gives
$$dP = W \odot (du \oplus dv + E), \quad
E = -(dC + H\,d\varepsilon)/\varepsilon, \quad
A \begin{pmatrix} du \\ dv\end{pmatrix} =
-\begin{pmatrix} (W \odot E)\mathbf 1 \\ (W\odot E)^\top \mathbf 1\end{pmatrix},
\quad A = \begin{pmatrix} \operatorname{diag}(W\mathbf 1) & W \\ W^\top &
\operatorname{diag}(W^\top\mathbf 1)\end{pmatrix}.$$
$A$ is positive semi-definite and singular along the constant shift
$(\mathbf 1, -\mathbf 1)$ of the potentials (and, when the support of a sparse
plan splits into blocks, along one such shift per block); the right-hand side is
always orthogonal to these directions. The system is solved by conjugate
gradients with a Jacobi preconditioner and a rank-one gauge term
$\gamma zz^\top$, $z \propto (\mathbf 1, -\mathbf 1)$, inside
`jax.lax.custom_linear_solve` (so the reverse mode transposes the same solve).
CG needs no inverse and is robust where a dense solve fails: it minimises the
error in the $A$-norm, and $\|W \odot (e_1 \oplus e_2)\|_F \le \|e\|_A$, so the
directions that are nearly singular (plans close to a permutation, where the
potentials are ill-determined) barely affect $dP$ even when CG has not resolved
them. Nothing of the iterations is stored for the backward pass.
"""

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._util import inverse_permutation, tie_mean
from .simplex import POWERS, _threshold


# Geometric annealing of epsilon per sweep, from the spread of the cost down.
ANNEAL_DECAY = 0.6
# Stop when the best column-sum error has not improved for this many sweeps.
STALL = 100
# Weight of the gauge term fixing the constant shift of the potentials.
GAUGE = 1.0


def default_tolerance(dtype) -> float:
    """Column-sum tolerance of the solver when none is given, per dtype."""
    return 1e-12 if jnp.finfo(dtype).bits >= 64 else 1e-5


def linear_tolerance(dtype) -> float:
    """Relative residual at which the conjugate gradients of the JVP stop."""
    return 1e-13 if jnp.finfo(dtype).bits >= 64 else 1e-6


def _shift(theta: Array, mode: str) -> Array:
    """The threshold of the simplex projection of `theta` (last axis, keepdims).

    `sum_j phi(theta_j - shift) = 1`: a log-sum-exp for `smooth`, the root of
    `sum [theta - lam]_+^q = 1` for the p-norm modes.
    """
    peak = jnp.max(theta, axis=-1, keepdims=True)
    if mode == "smooth":
        return peak + jnp.log(jnp.sum(jnp.exp(theta - peak), axis=-1, keepdims=True))
    return peak + _threshold(theta - peak, POWERS[mode])


def _phi(h: Array, mode: str) -> Array:
    if mode == "smooth":
        return jnp.exp(h)
    return jnp.maximum(h, 0) ** POWERS[mode]


def _phi_slope(h: Array, mode: str) -> Array:
    if mode == "smooth":
        return jnp.exp(h)
    q = POWERS[mode]
    if q == 1:
        return (h > 0).astype(h.dtype)
    return q * jnp.maximum(h, 0) ** (q - 1)


def solve_potentials(
    cost: Float[Array, "*batch n n"],
    eps: Array,
    mode: str,
    max_iter: int,
    tol: float,
    init: Array | None = None,
) -> tuple[Array, Array, Array]:
    """The column potential `g`, the number of sweeps and the column-sum error.

    Not differentiable (use `transport_plan`). Returns `g` of shape
    `(*batch, n)`, the sweeps taken (a scalar) and the largest deviation of a
    column sum from 1 for the returned `g`, `(*batch,)` (`inf` if `max_iter`
    ended the loop before epsilon reached its target).
    """
    cost = jax.lax.stop_gradient(cost)
    eps = jax.lax.stop_gradient(eps)
    dtype = cost.dtype
    spread = jnp.max(cost, axis=(-2, -1)) - jnp.min(cost, axis=(-2, -1))
    eps0 = jnp.maximum(spread, eps)[..., None, None]
    if init is not None:
        eps0 = jnp.broadcast_to(eps, eps0.shape)
    log_decay = jnp.log(jnp.asarray(ANNEAL_DECAY, dtype))
    inf = jnp.asarray(jnp.inf, dtype)

    # Column sums cannot be resolved better than the rounding of the potentials
    # allows: about one ulp of the cost's spread, divided by eps.
    floor = 2 * jnp.finfo(dtype).eps * spread / eps
    target = jnp.maximum(floor, jnp.asarray(tol, dtype))

    def cond(carry):
        step, _, _, best_err, stall = carry
        return (step < max_iter) & (stall < STALL) & jnp.any(best_err > target)

    def body(carry):
        step, g, best_g, best_err, stall = carry
        annealed = eps0 * jnp.exp(step.astype(dtype) * log_decay)
        eps_t = jnp.maximum(annealed, eps)
        f = -eps_t[..., 0] * _shift((g[..., None, :] - cost) / eps_t, mode)[..., 0]
        theta = jnp.swapaxes((f[..., :, None] - cost) / eps_t, -1, -2)  # (.., col, row)
        shift = _shift(theta, mode)[..., 0]
        if mode == "smooth":
            column_sums = jnp.exp(g / eps_t[..., 0] + shift)
        else:
            column_sums = jnp.sum(
                _phi(theta + (g / eps_t[..., 0])[..., None], mode), axis=-1
            )
        err = jnp.max(jnp.abs(column_sums - 1), axis=-1)
        err = jnp.where(annealed[..., 0, 0] <= eps, err, inf)
        better = err < best_err
        best_g = jnp.where(better[..., None], g, best_g)
        best_err = jnp.where(better, err, best_err)
        g = -eps_t[..., 0] * shift
        stall = jnp.where(jnp.any(better), 0, stall + 1)
        return step + 1, g, best_g, best_err, stall

    g0 = (
        jnp.zeros(cost.shape[:-1], dtype)
        if init is None
        else jax.lax.stop_gradient(init)
    )
    zero = jnp.zeros((), jnp.int32)
    carry = (zero, g0, g0, jnp.full(cost.shape[:-2], inf), zero)
    steps, g, best_g, best_err, _ = jax.lax.while_loop(cond, body, carry)
    g = jnp.where(jnp.isinf(best_err)[..., None], g, best_g)
    return g, steps, best_err


def plan_parts(
    cost: Array, g: Array, eps: Array, mode: str
) -> tuple[Array, Array, Array]:
    """`(P, W, H)` for the column potential `g`: rows are exact projections."""
    theta = (g[..., None, :] - cost) / eps
    h = theta - _shift(theta, mode)
    p = _phi(h, mode)
    p = p / jnp.sum(p, axis=-1, keepdims=True)
    return p, _phi_slope(h, mode), h


def _conjugate_gradients(matvec, b: Array, diagonal: Array, rtol: float, max_iter: int):
    """Preconditioned CG for `A x = b`, batched over the leading axes of `b`.

    Every system of the batch gets its own step sizes and stops when its
    residual is below `rtol` times its right-hand side (or after `max_iter`).
    """

    def dot(u: Array, v: Array) -> Array:
        return jnp.sum(u * v, axis=-1, keepdims=True)

    def ratio(num: Array, den: Array) -> Array:
        ok = den > 0
        return jnp.where(ok, num / jnp.where(ok, den, 1), 0)

    limit = (rtol**2) * dot(b, b)
    z = b / diagonal

    def cond(carry):
        step, _, r, _, _ = carry
        return (step < max_iter) & jnp.any(dot(r, r) > limit)

    def body(carry):
        step, x, r, p, rz = carry
        active = dot(r, r) > limit
        ap = matvec(p)
        alpha = jnp.where(active, ratio(rz, dot(p, ap)), 0)
        x = x + alpha * p
        r = r - alpha * ap
        z = r / diagonal
        rz_new = dot(r, z)
        beta = jnp.where(active, ratio(rz_new, rz), 0)
        p = jnp.where(active, z + beta * p, p)
        return step + 1, x, r, p, jnp.where(active, rz_new, rz)

    init = (jnp.zeros((), jnp.int32), jnp.zeros_like(b), b, z, dot(b, z))
    return jax.lax.while_loop(cond, body, init)[1]


def _tangent(
    p: Array,
    w: Array,
    h: Array,
    eps: Array,
    d_cost: Array,
    d_eps: Array,
    max_iter: int,
) -> Array:
    """`dP` from `(dC, d_eps)`: linear in the tangents (see the module docstring)."""
    n = p.shape[-1]
    dtype = p.dtype
    e = -(d_cost + h * d_eps) / eps
    we = w * e
    rhs = -jnp.concatenate([jnp.sum(we, axis=-1), jnp.sum(we, axis=-2)], axis=-1)
    row_w, col_w = jnp.sum(w, axis=-1), jnp.sum(w, axis=-2)
    gauge = GAUGE / (2 * n)
    diagonal = jnp.concatenate([row_w, col_w], axis=-1) + gauge

    def matvec(x: Array) -> Array:
        x1, x2 = x[..., :n], x[..., n:]
        y1 = row_w * x1 + (w @ x2[..., None])[..., 0]
        y2 = (jnp.swapaxes(w, -1, -2) @ x1[..., None])[..., 0] + col_w * x2
        shift = gauge * (
            jnp.sum(x1, axis=-1, keepdims=True) - jnp.sum(x2, axis=-1, keepdims=True)
        )
        return jnp.concatenate([y1 + shift, y2 - shift], axis=-1)

    def solve(matvec, b: Array) -> Array:
        return _conjugate_gradients(
            matvec, b, diagonal, linear_tolerance(dtype), max_iter
        )

    x = jax.lax.custom_linear_solve(matvec, rhs, solve, symmetric=True)
    du, dv = x[..., :n], x[..., n:]
    return w * (du[..., :, None] + dv[..., None, :] + e)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4, 5))
def transport_plan(
    cost: Float[Array, "*batch n n"],
    eps: Float[Array, ""],
    init: Float[Array, "*batch n"] | None,
    mode: str,
    max_iter: int,
    tol: float,
) -> Float[Array, "*batch n n"]:
    """The regularised optimal transport plan for `cost` (rows and columns sum to 1).

    Rows sum to 1 exactly, columns to within `tol` (or the best reached in
    `max_iter` sweeps, see `solve_potentials`). `init` is a starting column
    potential (e.g. `sorting_potential`), or `None` to start from zero with
    epsilon annealing. Differentiable in `cost` and `eps` by implicit
    differentiation, in forward and reverse mode (not in `init`: the plan
    does not depend on it).
    """
    g, _, _ = solve_potentials(cost, eps, mode, max_iter, tol, init)
    return plan_parts(cost, g, eps, mode)[0]


@transport_plan.defjvp
def _transport_plan_jvp(mode: str, max_iter: int, tol: float, primals, tangents):
    cost, eps, init = primals
    d_cost, d_eps, _ = tangents
    g, _, _ = solve_potentials(cost, eps, mode, max_iter, tol, init)
    p, w, h = plan_parts(cost, g, eps, mode)
    return p, _tangent(p, w, h, eps, d_cost, d_eps, max_iter)


def sorting_cost(a: Float[Array, "*batch n"]) -> Float[Array, "*batch n n"]:
    r"""The cost of sending element $j$ (score $a_j$) to sorted position $i$.

    $(a_j - t_i)^2$ for the evenly spaced targets $t_i = i / (n - 1)$ in
    $[0, 1]$ (Cuturi, Teboul and Vert 2019), written as $-2 t_i (a_j - c)$:
    terms that depend on $i$ or $j$ alone do not change a transport plan, and
    the centre $c$ of the scores keeps the numbers small.
    """
    n = a.shape[-1]
    t = jnp.linspace(0, 1, n, dtype=a.dtype) if n > 1 else jnp.zeros(1, a.dtype)
    stopped = jax.lax.stop_gradient(a)
    centre = (
        jnp.max(stopped, axis=-1, keepdims=True)
        + jnp.min(stopped, axis=-1, keepdims=True)
    ) / 2
    return -2 * t[:, None] * (a - centre)[..., None, :]


def sorting_potential(a: Array) -> Array:
    """The column potential `g` of the unregularised sorting problem.

    For `sorting_cost(a)`, the plan of the hard sort and potentials `f, g`
    with `f_i + g_j <= C_ij`, equality on the sorting permutation, and each
    increment `f_{i+1} - f_i` in the middle of its feasible interval
    `[-2 dt a_(i+1), -2 dt a_(i)]`. A warm start for small softness.
    """
    a = jax.lax.stop_gradient(a)
    n = a.shape[-1]
    if n == 1:
        return jnp.zeros_like(a)
    centre = (
        jnp.max(a, axis=-1, keepdims=True) + jnp.min(a, axis=-1, keepdims=True)
    ) / 2
    order = jnp.argsort(a, axis=-1)
    s = jnp.take_along_axis(a, order, axis=-1) - centre
    dt = 1 / (n - 1)
    t = jnp.linspace(0, 1, n, dtype=a.dtype)
    steps = -dt * (s[..., 1:] + s[..., :-1])
    f = jnp.concatenate(
        [jnp.zeros_like(s[..., :1]), jnp.cumsum(steps, axis=-1)], axis=-1
    )
    # Tied scores start from the same potential (the mean over their run):
    # the solver stops at a tolerance, and unequal starts would leave tied
    # columns unequal by about that much, depending on the input order.
    g_sorted = tie_mean(s, -2 * t * s - f)
    inverse = inverse_permutation(order)
    return jnp.take_along_axis(g_sorted, inverse, axis=-1)
