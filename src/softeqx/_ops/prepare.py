"""What every ordering and quantile op does before its method runs.

Validation, moving the ordered axis last (flattening for `axis=None`), dtype
handling, resolving the method, and standardisation of the scores.
"""

import functools
import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._checks import MODES, check_axis, check_mode, check_softness, float_dtypes
from .._methods.base import AbstractOrderingMethod, AbstractValueSortingMethod
from .._methods.registry import resolve_method
from .._util import argsort, inverse_permutation


# Winsorise at this many robust standard deviations (1.4826 MAD) from the median.
WINSOR_RADIUS = 3.0
# Floor of the scale: spreads below it are not magnified further.
SCALE_FLOOR = 1e-3
# Beyond |z| = TAIL the squashed scores keep growing linearly, with the slope of
# the logistic function at TAIL, blended in smoothly (sharpness TAIL_SHARPNESS).
TAIL = 4.0
TAIL_SHARPNESS = 4.0
UNSQUASH_STEPS = 4


def _logistic(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def _tail_slope() -> float:
    e = _logistic(TAIL)
    return e * (1 - e)


def squash(z: Array) -> Array:
    r"""$\sigma(z)$ in the bulk, growing linearly for outliers; smooth and increasing.

    $\sigma(z) + \sigma'(c)\,[\mathrm{sp}_\beta(z - c) - \mathrm{sp}_\beta(-z - c)]$
    with $c = 4$, $\mathrm{sp}_\beta(u) = \log(1 + e^{\beta u}) / \beta$,
    $\beta = 4$. For $|z| < 2$ it differs from the logistic function by less
    than $10^{-6}$; a point far outside the bulk keeps a distance proportional
    to its z-score, so no softness lets it leak into the other positions.
    """
    beta = TAIL_SHARPNESS
    excess = jax.nn.softplus(beta * (z - TAIL)) - jax.nn.softplus(beta * (-z - TAIL))
    return jax.nn.sigmoid(z) + _tail_slope() * excess / beta


def _squash_slope(z: Array) -> Array:
    s = jax.nn.sigmoid(z)
    beta = TAIL_SHARPNESS
    tails = jax.nn.sigmoid(beta * (z - TAIL)) + jax.nn.sigmoid(beta * (-z - TAIL))
    return s * (1 - s) + _tail_slope() * tails


@jax.custom_jvp
def unsquash(a: Array) -> Array:
    """The inverse of `squash`, by Newton's method from the matching branch."""
    edge = _logistic(TAIL)
    slope = _tail_slope()
    inside = jnp.clip(a, 1e-6, 1 - 1e-6)
    z = jnp.where(
        a > edge,
        TAIL + (a - edge) / slope,
        jnp.where(
            a < 1 - edge, -TAIL - (1 - edge - a) / slope, jnp.log(inside / (1 - inside))
        ),
    )
    # From this start Newton's method reaches float64 precision (4e-15,
    # relative) in four steps: measured on [-1e4, 1e4], bulk, blend and tails.
    for _ in range(UNSQUASH_STEPS):
        z = z - (squash(z) - a) / _squash_slope(z)
    return z


@unsquash.defjvp
def _unsquash_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    (a,), (da,) = primals, tangents
    z = unsquash(a)
    return z, da / _squash_slope(z)


def _kth_deviation(s: Array, center: Array, k: int) -> Array:
    """The `k`-th smallest `|s - center|` (1-based) of rows `s` sorted ascending.

    The `k` elements closest to `center` are `k` neighbours in sorted order,
    and no window of `k` neighbours has a smaller largest deviation (that of
    one of its ends): so the answer is the smallest such end deviation over
    all windows, in `O(n)` from the sort.
    """
    n = s.shape[-1]
    ends = jnp.maximum(center - s[..., : n - k + 1], s[..., k - 1 :] - center)
    return jnp.min(ends, axis=-1, keepdims=True)


def standardization(s: Float[Array, "*batch n"]) -> tuple[Array, Array]:
    r"""Robust centre $\mu$ and scale $\sqrt{v + \delta^2}$ of rows `s` sorted in
    ascending order (see `Prepared.standardized`).

    $\mu$ and $v$ are the mean and variance winsorised at 3 robust standard
    deviations ($1.4826\,\mathrm{MAD}$) around the median, $\delta = 10^{-3}$.
    The median and the median absolute deviation (MAD) both come from the sort.
    """
    n = s.shape[-1]
    # The middle one or two of the sorted values, and of the deviations.
    low, high = (n - 1) // 2, n // 2
    median = (s[..., low : low + 1] + s[..., high : high + 1]) / 2
    mad = (_kth_deviation(s, median, low + 1) + _kth_deviation(s, median, high + 1)) / 2
    radius = jnp.where(mad > 0, WINSOR_RADIUS * 1.4826 * mad, jnp.inf)
    clipped = jnp.clip(s, median - radius, median + radius)
    mean = jnp.mean(clipped, axis=-1, keepdims=True)
    var = jnp.mean((clipped - mean) ** 2, axis=-1, keepdims=True)
    return mean, jnp.sqrt(var + SCALE_FLOOR**2)


@eqx.filter_jit
def _call_method(method: AbstractOrderingMethod, name: str, *args: Any) -> Array:
    """`method.<name>(*args)` under `eqx.filter_jit`: arrays are traced, the
    method's configuration, the name and the mode are static."""
    return getattr(method, name)(*args)


class Prepared:
    """An input ready for a method: `x` with the ordered axis last, and friends."""

    def __init__(
        self,
        x: ArrayLike,
        axis: int | None,
        softness: ArrayLike,
        mode: str,
        method: object,
        standardize: bool,
        ot_kwargs: dict | None = None,
    ):
        self.mode = check_mode(mode, MODES)
        x = jnp.asarray(x)
        self.input_ndim = x.ndim
        if axis is None:
            x, axis = x.reshape(-1), 0
        if x.ndim == 0:
            raise ValueError("`x` must have at least one dimension to order along.")
        self.axis = check_axis(axis, x.ndim)
        self.n = x.shape[self.axis]
        if self.n == 0:
            raise ValueError(
                f"`x` has no elements along `axis`={axis} (shape {x.shape}); ordering "
                "ops need at least one."
            )
        self.x = x  # the (possibly flattened) input, ordered axis in place
        self.moved = jnp.moveaxis(x, self.axis, -1)
        self.method: AbstractOrderingMethod = resolve_method(method, ot_kwargs)
        self.standardize = standardize
        if self.mode != "hard":
            self.method.check_mode(self.mode)
            compute, self.out_dtype = float_dtypes(x)
            self.moved = self.moved.astype(compute)
            self.softness = check_softness(softness, compute)
            if self.softness.ndim != 0:
                raise ValueError(
                    "`softness` must be a scalar for ordering ops, got shape "
                    f"{self.softness.shape} (use jax.vmap for one softness per row)."
                )

    @property
    def hard(self) -> bool:
        return self.mode == "hard"

    def call(self, name: str, *args: Any) -> Array:
        """`self.method.<name>(*args, self.softness, self.mode)`, compiled.

        The methods run loops (PAV pooling rounds, transport sweeps, ESP
        scans) that eager JAX would re-trace and re-compile at every call;
        compiling the call once per shape and method makes eager use as fast
        as jitted use. Inside a caller's `jax.jit` this is inlined.
        """
        return _call_method(self.method, name, *args, self.softness, self.mode)

    def scores(self, gated: bool = True) -> Array:
        """The keys the method orders (standardised if asked)."""
        a = self.standardized(self.moved)[0]
        return a if gated else jax.lax.stop_gradient(a)

    def standardized(
        self, values: Array, ascending: Array | None = None
    ) -> tuple[Array, Array, Array]:
        r"""`values` (`x`, or `x` reordered) as scores, with the centre and scale.

        With `standardize`, the scores map to $(0, 1)$ robustly and scale-free:
        $a = \operatorname{squash}((x - \mu) / \sigma)$ with the centre $\mu$
        and scale $\sigma$ of `standardization` and `squash` the logistic
        function extended linearly beyond 4 standard deviations. For inputs
        without outliers this is the logistic of the plain z-score (the
        winsorisation does nothing); a single huge outlier neither squeezes the
        other values together (its influence on $\mu$ and $\sigma$ is bounded)
        nor leaks into their soft positions (it stays far away). The floor of
        the scale keeps gradients bounded for constant or near-constant inputs,
        whose spread is not magnified beyond $1/\delta$. `squash` is
        increasing, so sorted values give sorted scores.

        The statistics come from `ascending`, the sort of `x`, if the caller
        has it. Without `standardize` the scores are `values`, centre 0, scale 1.
        """
        if not self.standardize:
            return values, jnp.zeros(()), jnp.ones(())
        if ascending is None:
            ascending = jnp.take_along_axis(self.moved, self._order, axis=-1)
        center, scale = standardization(ascending)
        return squash((values - center) / scale), center, scale

    def sorted_values(self, positions: Array, gated: bool = True) -> Array:
        """The soft-sorted values of `x` at ascending `positions`, `(..., k)`.

        `P[positions] @ x` for permutation methods. Methods that sort values
        sort the scores, and their outputs are mapped back to `x`'s scale;
        those that are `order_free` get the scores already sorted, as a
        monotone map of `x`'s sort, which the standardisation shares; so do
        `equivariant` permutation methods when standardising.
        """
        if not isinstance(self.method, AbstractValueSortingMethod):
            if self._presorted:
                ascending = jnp.take_along_axis(self.moved, self._order, axis=-1)
                scores = self.standardized(ascending, ascending)[0]
                keys = scores if gated else jax.lax.stop_gradient(scores)
                v = ascending[..., None]
                return self.call("sorted_values", keys, v, positions)[..., 0]
            v = self.moved[..., None]
            return self.call("sorted_values", self.scores(gated), v, positions)[..., 0]
        if self.method.order_free:
            ascending = jnp.sort(self.moved, axis=-1)
            scores, center, scale = self.standardized(ascending, ascending)
        else:
            scores, center, scale = self.standardized(self.moved)
        keys = scores if gated else jax.lax.stop_gradient(scores)
        out = self.call("sort_scores", keys, scores, positions)
        return center + scale * unsquash(out) if self.standardize else out

    def ranks(self, descending: bool) -> Array:
        """The method's soft ranks of the scores, `(..., n)`.

        An `order_free` method, and an `equivariant` one when standardising,
        ranks the scores in ascending order (one sort, shared with the
        standardisation); the ranks are then put back in the order of `x`.
        """
        if not (self.method.order_free or self._presorted):
            return self.call("ranks", self.scores(), descending)
        order = self._order
        ascending = jnp.take_along_axis(self.moved, order, axis=-1)
        scores = self.standardized(ascending, ascending)[0]
        ranks = self.call("ranks", scores, descending)
        return jnp.take_along_axis(ranks, inverse_permutation(order), axis=-1)

    @property
    def _presorted(self) -> bool:
        """Whether the method gets the scores sorted (see `equivariant`)."""
        return self.standardize and self.method.equivariant

    @functools.cached_property
    def _order(self) -> Array:
        """The argsort of `x` along the axis, computed once."""
        return argsort(self.moved)

    def restore(self, y: Array, extra: int = 0) -> Array:
        """Move axis `-1 - extra` of `y` back to the ordered axis and cast back."""
        return jnp.moveaxis(y, -1 - extra, self.axis).astype(self.out_dtype)
