"""What every ordering and quantile op does before its method runs.

Validation, moving the ordered axis last (flattening for `axis=None`), dtype
handling, resolving the method, and standardisation of the scores.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._checks import MODES, check_axis, check_mode, check_softness, float_dtypes
from .._methods.base import AbstractOrderingMethod
from .._methods.registry import resolve_method


# Winsorise at this many robust standard deviations (1.4826 MAD) from the median.
WINSOR_RADIUS = 3.0
# Floor of the scale: spreads below it are not magnified further.
SCALE_FLOOR = 1e-3


def standardize_scores(x: Float[Array, "*batch n"]) -> Float[Array, "*batch n"]:
    r"""Map scores to $(0, 1)$ along the last axis, robustly and scale-free.

    $a = \sigma((x - \mu) / \sqrt{v + \delta^2})$, with $\mu$ and $v$ the mean and
    variance of $x$ winsorised at 3 robust standard deviations
    ($1.4826\,\mathrm{MAD}$) around the median, $\delta = 10^{-3}$ and $\sigma$
    the logistic function. For inputs without outliers this is the plain
    z-score (the winsorisation does nothing); a single huge outlier neither
    squeezes the other values together (its influence on $\mu$ and $v$ is
    bounded) nor escapes its rank (it is squashed to near 1, not clipped). The
    floor $\delta$ keeps gradients bounded for constant or near-constant
    inputs, whose spread is not magnified beyond $1/\delta$.
    """
    median = jnp.median(x, axis=-1, keepdims=True)
    mad = jnp.median(jnp.abs(x - median), axis=-1, keepdims=True)
    radius = jnp.where(mad > 0, WINSOR_RADIUS * 1.4826 * mad, jnp.inf)
    clipped = jnp.clip(x, median - radius, median + radius)
    mean = jnp.mean(clipped, axis=-1, keepdims=True)
    var = jnp.mean((clipped - mean) ** 2, axis=-1, keepdims=True)
    return jax.nn.sigmoid((x - mean) / jnp.sqrt(var + SCALE_FLOOR**2))


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

    def scores(self, gated: bool = True) -> Array:
        """The keys the method orders (standardised if asked)."""
        a = standardize_scores(self.moved) if self.standardize else self.moved
        return a if gated else jax.lax.stop_gradient(a)

    def restore(self, y: Array, extra: int = 0) -> Array:
        """Move axis `-1 - extra` of `y` back to the ordered axis and cast back."""
        return jnp.moveaxis(y, -1 - extra, self.axis).astype(self.out_dtype)
