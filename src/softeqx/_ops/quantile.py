"""Soft quantiles: soft argsort rows at the positions `jnp.quantile` interpolates."""

from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import float_dtypes, is_traced
from .._custom_types import Mode, SoftIndex
from .prepare import Prepared


QuantileMethod = Literal["linear", "lower", "higher", "nearest", "midpoint"]
QUANTILE_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def _check_fraction(q: ArrayLike, name: str, scale: float) -> Array:
    """`q / scale` as a float array of at most one dimension, checked in [0, 1]."""
    allowed = f"`{name}` must lie in [0, {scale:g}]"
    q_array = jnp.asarray(q)
    if q_array.ndim > 1:
        raise ValueError(
            f"`{name}` must be a scalar or 1-D, got shape {q_array.shape}."
        )
    if not jnp.issubdtype(q_array.dtype, jnp.floating):
        q_array = q_array.astype(jnp.result_type(float))
    q_array = q_array / scale
    if is_traced(q):
        inside = (q_array >= 0) & (q_array <= 1)
        return eqx.error_if(q_array, ~jnp.all(inside), f"{allowed}.")
    concrete = np.asarray(q, dtype=float) / scale
    if not bool(np.all((concrete >= 0) & (concrete <= 1))):
        raise ValueError(f"{allowed}, got {q!r}.")
    return q_array


def _interpolation(q: Array, n: int, quantile_method: str) -> tuple[Array, ...]:
    """Positions and weights of the two sorted elements each quantile mixes.

    The same rule as `jnp.quantile`: virtual index `h = q (n - 1)`.
    """
    if quantile_method not in QUANTILE_METHODS:
        raise ValueError(
            f"`quantile_method` must be one of {QUANTILE_METHODS}, "
            f"got {quantile_method!r}."
        )
    h = q * (n - 1)
    low = jnp.clip(jnp.floor(h), 0, n - 1)
    high = jnp.clip(jnp.ceil(h), 0, n - 1)
    frac = h - jnp.floor(h)
    if quantile_method == "linear":
        w_high = frac
    elif quantile_method == "lower":
        w_high = jnp.zeros_like(frac)
    elif quantile_method == "higher":
        w_high = jnp.ones_like(frac)
    elif quantile_method == "nearest":
        w_high = (frac > 0.5).astype(frac.dtype)
    else:
        w_high = jnp.full_like(frac, 0.5)
    return low.astype(int).reshape(-1), high.astype(int).reshape(-1), 1 - w_high, w_high


def _arrange(
    y: Array, prep: Prepared, q_shape: tuple, axis: Any, keepdims: bool, trailing: int
) -> Array:
    """`(*batch, k, *trailing)` -> `(*q_shape, *batch, *trailing)`, with keepdims."""
    k_axis = y.ndim - 1 - trailing
    y = jnp.moveaxis(y, k_axis, 0).reshape(
        *q_shape, *y.shape[:k_axis], *y.shape[k_axis + 1 :]
    )
    if keepdims:
        lead = len(q_shape)
        if axis is None:
            return y.reshape(
                *q_shape, *((1,) * prep.input_ndim), *y.shape[y.ndim - trailing :]
            )
        y = jnp.expand_dims(y, lead + prep.axis)
    return y


def _rows_at_quantiles(prep: Prepared, q: Array, quantile_method: str) -> Array:
    """The soft index of each quantile, `(*batch, k, [n])` (hard: one-hot)."""
    low, high, w_low, w_high = _interpolation(q, prep.n, quantile_method)
    w_low, w_high = w_low.reshape(-1, 1), w_high.reshape(-1, 1)
    if prep.hard:
        order = jnp.argsort(prep.moved, axis=-1, stable=True)
        dtype = float_dtypes(prep.moved)[1]
        lows = jax.nn.one_hot(jnp.take(order, low, axis=-1), prep.n, dtype=dtype)
        highs = jax.nn.one_hot(jnp.take(order, high, axis=-1), prep.n, dtype=dtype)
        return w_low.astype(dtype) * lows + w_high.astype(dtype) * highs
    both = jnp.concatenate([low, high])
    rows = prep.call("rows", prep.scores(), both)
    k = low.shape[0]
    dtype = rows.dtype
    return (
        w_low.astype(dtype) * rows[..., :k, :] + w_high.astype(dtype) * rows[..., k:, :]
    )


def argquantile(
    x: Real[ArrayLike, "..."],
    q: Real[ArrayLike, "..."],
    axis: int | None = None,
    keepdims: bool = False,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "neuralsort",
    quantile_method: QuantileMethod = "linear",
    standardize: bool = True,
) -> SoftIndex:
    r"""Soft argquantile: the soft index of the `q`-quantile.

    `jnp.quantile` reads the sorted values at the virtual index $h = q(n - 1)$,
    mixing the elements at positions $\lfloor h \rfloor$ and $\lceil h \rceil$
    as `quantile_method` says. The soft argquantile mixes the same two rows of
    the soft permutation matrix with the same weights; `"hard"` mixes the
    one-hot rows of `jnp.argsort`, so for `"linear"` and an even count the
    median splits its mass 0.5/0.5 between the two middle elements.

    **Arguments:**

    - `x`: input array.
    - `q`: quantile(s) in $[0, 1]$, a scalar or a 1-D array (traced values are
      checked at run time).
    - `axis`: the axis to reduce; `None` flattens `x` first.
    - `keepdims`: keep the reduced axis with size 1.
    - `softness`: how soft the ordering is ($\tau > 0$).
    - `mode`: `"hard"`, `"smooth"`, `"c0"`, `"c1"` or `"c2"`.
    - `method`: the ordering method (see [`softeqx.argsort`][]).
    - `quantile_method`: `"linear"`, `"lower"`, `"higher"`, `"nearest"` or
      `"midpoint"`, as in `jnp.quantile`.
    - `standardize`: order standardised scores (see [`softeqx.argsort`][]).

    **Returns:**

    A SoftIndex of shape `(*q.shape, ..., [n])`: `q`'s shape first, as in
    `jnp.quantile`, then `x`'s shape without `axis`.

    !!! Example

        ```python
        softeqx.argquantile(jnp.array([-0.2, -1.0, 0.3, 1.0]), 0.2, mode="hard")
        # Array([0.6, 0.4, 0.0, 0.0])
        ```
    """
    prep = Prepared(x, axis, softness, mode, method, standardize)
    q_array = _check_fraction(q, "q", 1.0)
    rows = _rows_at_quantiles(prep, q_array, quantile_method)
    if not prep.hard:
        rows = rows.astype(prep.out_dtype)
    return _arrange(rows, prep, q_array.shape, axis, keepdims, trailing=1)


def quantile(
    x: Real[ArrayLike, "..."],
    q: Real[ArrayLike, "..."],
    axis: int | None = None,
    keepdims: bool = False,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "neuralsort",
    quantile_method: QuantileMethod = "linear",
    standardize: bool = True,
    gated_grad: bool = True,
) -> Float[Array, "..."]:
    r"""Soft quantile: `x` averaged under [`softeqx.argquantile`][].

    `"hard"` returns `jnp.quantile(x, q, axis, method=quantile_method,
    keepdims=keepdims)` exactly.

    **Arguments:** as for [`softeqx.argquantile`][], plus

    - `gated_grad`: if `False`, the soft index is a constant in the backward pass.

    **Returns:**

    An array of shape `(*q.shape, ...)`, as `jnp.quantile`.

    !!! Example

        ```python
        softeqx.quantile(jnp.array([-0.2, -1.0, 0.3, 1.0]), 0.2, mode="hard")
        # Array(-0.52)
        ```
    """
    prep = Prepared(x, axis, softness, mode, method, standardize)
    q_array = _check_fraction(q, "q", 1.0)
    if prep.hard:
        _interpolation(q_array, prep.n, quantile_method)  # validates the method
        return jnp.quantile(
            jnp.asarray(x),
            q_array,
            axis=axis,
            method=quantile_method,
            keepdims=keepdims,
        )
    low, high, w_low, w_high = _interpolation(q_array, prep.n, quantile_method)
    values = prep.sorted_values(jnp.concatenate([low, high]), gated_grad)
    k = low.shape[0]
    mixed = w_low.reshape(-1).astype(values.dtype) * values[..., :k]
    mixed = mixed + w_high.reshape(-1).astype(values.dtype) * values[..., k:]
    return _arrange(
        mixed.astype(prep.out_dtype), prep, q_array.shape, axis, keepdims, 0
    )


def argmedian(
    x: Real[ArrayLike, "..."],
    axis: int | None = None,
    keepdims: bool = False,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "neuralsort",
    standardize: bool = True,
) -> SoftIndex:
    r"""Soft argmedian: [`softeqx.argquantile`][] at `q = 0.5` (linear).

    For an even count the mass is split between the two middle elements, as
    `jnp.median` averages them.
    """
    return argquantile(
        x, 0.5, axis, keepdims, softness, mode, method, "linear", standardize
    )


def median(
    x: Real[ArrayLike, "..."],
    axis: int | None = None,
    keepdims: bool = False,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "neuralsort",
    standardize: bool = True,
    gated_grad: bool = True,
) -> Float[Array, "..."]:
    r"""Soft median: [`softeqx.quantile`][] at `q = 0.5`; `"hard"` is `jnp.median`."""
    if Prepared(x, axis, softness, mode, method, standardize).hard:
        return jnp.median(jnp.asarray(x), axis=axis, keepdims=keepdims)
    return quantile(
        x,
        0.5,
        axis,
        keepdims,
        softness,
        mode,
        method,
        "linear",
        standardize,
        gated_grad,
    )


def argpercentile(
    x: Real[ArrayLike, "..."],
    p: Real[ArrayLike, "..."],
    axis: int | None = None,
    keepdims: bool = False,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "neuralsort",
    standardize: bool = True,
) -> SoftIndex:
    r"""Soft argpercentile: [`softeqx.argquantile`][] at `q = p / 100`.

    `p` lies in $[0, 100]$ (a scalar or 1-D array).
    """
    q = _check_fraction(p, "p", 100.0)
    return argquantile(
        x, q, axis, keepdims, softness, mode, method, "linear", standardize
    )


def percentile(
    x: Real[ArrayLike, "..."],
    p: Real[ArrayLike, "..."],
    axis: int | None = None,
    keepdims: bool = False,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "neuralsort",
    standardize: bool = True,
    gated_grad: bool = True,
) -> Float[Array, "..."]:
    r"""Soft percentile: [`softeqx.quantile`][] at `q = p / 100`.

    `p` lies in $[0, 100]$; `"hard"` is `jnp.percentile` exactly.
    """
    q = _check_fraction(p, "p", 100.0)
    if Prepared(x, axis, softness, mode, method, standardize).hard:
        return jnp.percentile(
            jnp.asarray(x), jnp.asarray(p), axis=axis, keepdims=keepdims
        )
    return quantile(
        x, q, axis, keepdims, softness, mode, method, "linear", standardize, gated_grad
    )
