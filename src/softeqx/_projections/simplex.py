"""Regularised projections onto the probability simplex, one per smoothness mode.

For scores `theta` (last axis), each mode returns
`argmax_{p in simplex} <p, theta> - Omega(p)` for a strictly convex `Omega`:

| mode | `Omega(p)` | solution | smoothness in `theta` |
| --- | --- | --- | --- |
| `smooth` | `sum p log p` | `softmax(theta)` | C-infinity |
| `c0` | `sum p^2 / 2` | `[theta - lam]_+` (sparsemax) | C0 |
| `c1` | `sum (2/3) p^(3/2)` | `[theta - lam]_+^2` | C1 |
| `c2` | `sum (3/4) p^(4/3)` | `[theta - lam]_+^3` | C2 |

with the threshold `lam` chosen so that `p` sums to 1. The piecewise modes are
sparse: scores more than about 1 below the largest get exactly 0.

The threshold is found by Newton's method on `f(lam) = sum [theta - lam]_+^q - 1`,
started at `max(theta) - 1` where `f >= 0`: `f` is convex and decreasing, so the
iterates increase monotonically to the root without overshooting, and every
term stays in `[0, 1]` (no overflow, whatever the spread of `theta`).

Derivatives are exact and in closed form (implicit differentiation of the
optimality conditions): with `w = q [theta - lam]_+^(q - 1)` (`w = p` for
softmax), `dp = w * (dtheta - <w, dtheta> / sum(w))`.
"""

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


POWERS = {"c0": 1, "c1": 2, "c2": 3}
MAX_NEWTON_STEPS = 60


def _threshold(theta: Array, q: int, start: Array | None = None) -> Array:
    """The `lam` with `sum [theta - lam]_+^q = 1` along the last axis (keepdims).

    `start` must be a threshold at or below the root (`f(start) >= 0`), e.g. the
    root for a subset of the scores; the default `max(theta) - 1` always is.
    """
    lam0 = jnp.max(theta, axis=-1, keepdims=True) - 1 if start is None else start

    def excess_and_slope(lam: Array) -> tuple[Array, Array]:
        gap = jnp.maximum(theta - lam, 0)
        excess = jnp.sum(gap**q, axis=-1, keepdims=True) - 1
        slope = q * jnp.sum(
            gap ** (q - 1) if q > 1 else (gap > 0).astype(gap.dtype),
            axis=-1,
            keepdims=True,
        )
        return excess, slope

    tol = 64 * jnp.finfo(theta.dtype).eps
    Carry = tuple[Array, Array, Array, Array]

    def cond(carry: Carry) -> Array:
        step, _, excess, _ = carry
        return (step < MAX_NEWTON_STEPS) & jnp.any(excess > tol)

    def body(carry: Carry) -> Carry:
        # One pass over the row per step: the slope comes with the excess.
        step, lam, excess, slope = carry
        lam = lam + jnp.where(excess > tol, excess / slope, 0)
        return (step + 1, lam, *excess_and_slope(lam))

    init = (jnp.zeros((), jnp.int32), lam0, *excess_and_slope(lam0))
    _, lam, _, _ = jax.lax.while_loop(cond, body, init)
    return lam


def kernel(
    theta: Array,
    mode: str,
    peak: Array | None = None,
    start: Array | None = None,
    lam: Array | None = None,
) -> tuple[Array, Array, Array | None]:
    """The projection up to its row sums, the Jacobian weights and the threshold.

    Returns `(k, w, lam)` with `p = k / sum(k)` and
    `dp = (w / sum(k)) * (dtheta - <w, dtheta> / sum(w))`: `k` is `exp(theta)`
    (shifted) for `"smooth"`, where `w` is `k` itself and `lam` is `None`, and
    `[theta - lam]_+^q`, whose sum is 1 at the root, for the piecewise modes.
    Leaving the division to the caller lets products `p @ v` take the row sums
    from the same product (a column of ones in `v`) instead of an extra pass.

    Optional hints, each with a trailing axis of size 1: `peak`, the maximum of
    `theta` along the last axis; `start`, a threshold at or below the root; and
    `lam`, the root itself from an earlier call on the same scores, which skips
    the solve (both relative to `peak`). Not differentiable: use `project`.
    """
    theta = theta - (jnp.max(theta, axis=-1, keepdims=True) if peak is None else peak)
    if mode == "smooth":
        e = jnp.exp(theta)
        return e, e, None
    q = POWERS[mode]
    if lam is None:
        lam = _threshold(theta, q, start)
    gap = jnp.maximum(theta - lam, 0)
    w = (gap > 0).astype(gap.dtype) if q == 1 else q * gap ** (q - 1)
    return gap**q, w, lam


def solve(
    theta: Array, mode: str, peak: Array | None = None, start: Array | None = None
) -> tuple[Array, Array]:
    """The projection `p` and its Jacobian weights `w` (see module docstring)."""
    k, w, _ = kernel(theta, mode, peak, start)
    p = k / jnp.sum(k, axis=-1, keepdims=True)
    return p, p if mode == "smooth" else w


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def project(theta: Float[Array, "... n"], mode: str) -> Float[Array, "... n"]:
    """Project scores onto the simplex along the last axis with `mode`'s regulariser."""
    return solve(theta, mode)[0]


@project.defjvp
def _project_jvp(
    mode: str, primals: tuple[Array], tangents: tuple[Array]
) -> tuple[Array, Array]:
    (theta,), (dtheta,) = primals, tangents
    p, w = solve(theta, mode)
    total = jnp.sum(w, axis=-1, keepdims=True)
    mean = jnp.sum(w * dtheta, axis=-1, keepdims=True) / total
    return p, w * (dtheta - mean)
