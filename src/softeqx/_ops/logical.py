"""Fuzzy logic on SoftBools: NOT is `1 - x`, AND the product, OR its dual.

The reductions work in a way that neither underflows silently nor loses its
gradient: the gradient of a product with respect to one factor is the exact
product of the others (prefix and suffix products), also where a factor is 0;
a positive result or gradient too small for the dtype is held at the smallest
normal number instead of flushing to 0, so its direction survives.
"""

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Real

from .._checks import check_axis, float_dtypes
from .._custom_types import SoftBool


def _exclusive_products(x: Array) -> Array:
    """`prod_{j != i} x_j` along the last axis, exactly (no division)."""
    ones = jnp.ones_like(x[..., :1])
    before = jnp.cumprod(jnp.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)
    after = jnp.cumprod(jnp.concatenate([ones, x[..., :0:-1]], axis=-1), axis=-1)[
        ..., ::-1
    ]
    return before * after


def _floor_positive(value: Array, positive: Array) -> Array:
    """Hold `value` at the dtype's smallest normal number where it should be > 0."""
    tiny = jnp.finfo(value.dtype).tiny
    return jnp.where(positive, jnp.maximum(value, tiny), value)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _reduce_and(x: Array, epsilon: float, geometric: bool) -> Array:
    """AND over the last axis: the product, or the geometric mean."""
    zeros = jnp.sum((x <= 0).astype(jnp.int32), axis=-1)
    if geometric and x.shape[-1] > 0:
        mean_log = jnp.mean(jnp.log(jnp.maximum(x, epsilon)), axis=-1)
        value = jnp.exp(mean_log)
    else:
        value = jnp.prod(x, axis=-1)
    return jnp.where(zeros > 0, 0, _floor_positive(value, zeros == 0))


@_reduce_and.defjvp
def _reduce_and_jvp(
    epsilon: float, geometric: bool, primals: tuple[Array], tangents: tuple[Array]
) -> tuple[Array, Array]:
    (x,), (dx,) = primals, tangents
    value = _reduce_and(x, epsilon, geometric)
    if geometric and x.shape[-1] > 0:
        safe = jnp.maximum(x, epsilon)
        mean_log = jnp.mean(jnp.log(safe), axis=-1, keepdims=True)
        partial = jnp.exp(mean_log - jnp.log(safe)) / x.shape[-1]
    else:
        is_zero = (x <= 0).astype(jnp.int32)
        others_zero = (
            jnp.sum(is_zero, axis=-1, keepdims=True, dtype=jnp.int32) - is_zero
        )
        partial = _floor_positive(_exclusive_products(x), others_zero == 0)
    return value, jnp.sum(partial * dx, axis=-1)


def _prepare(x: ArrayLike, axis: int | None) -> tuple[Array, jnp.dtype]:
    compute, out = float_dtypes(x)
    x = jnp.asarray(x).astype(compute)
    if axis is None:
        return x.reshape(-1), out
    if x.ndim == 0:
        raise ValueError("`x` must have at least one dimension to reduce over.")
    return jnp.moveaxis(x, check_axis(axis, x.ndim), -1), out


def all(
    x: Real[ArrayLike, "..."],
    axis: int | None = -1,
    epsilon: float = 1e-10,
    use_geometric_mean: bool = False,
) -> SoftBool:
    r"""Soft AND over an axis: the product $\prod_i x_i$ of the SoftBools.

    With `use_geometric_mean=True` it is $(\prod_i x_i)^{1/n}$ instead, which
    does not shrink with $n$. For inputs in $\{0, 1\}$ both equal `jnp.all`.
    Exact zeros give exactly 0 with the exact gradient (the product of the other
    factors). A positive product too small for the dtype (1,000 values of 0.9 in
    float32) is held at `jnp.finfo(dtype).tiny` rather than 0, and so is its
    gradient, which keeps its direction.

    **Arguments:**

    - `x`: SoftBool array, values in `[0, 1]`.
    - `axis`: the axis to reduce; `None` reduces over all elements.
    - `epsilon`: lower bound applied inside the logarithm of the geometric mean.
    - `use_geometric_mean`: combine by geometric mean instead of product.

    **Returns:**

    A SoftBool with `axis` removed.

    !!! Example

        ```python
        softeqx.all(jnp.array([0.1, 0.2, 0.8, 1.0]))  # Array(0.016)
        ```
    """
    x, out = _prepare(x, axis)
    return _reduce_and(x, epsilon, use_geometric_mean).astype(out)


def any(
    x: Real[ArrayLike, "..."],
    axis: int | None = -1,
    use_geometric_mean: bool = False,
) -> SoftBool:
    r"""Soft OR over an axis: $1 - \prod_i (1 - x_i)$.

    The dual of [`softeqx.all`][] (`1 - all(1 - x)`), with the same care for
    long reductions. For inputs in $\{0, 1\}$ it equals `jnp.any`.

    **Arguments:**

    - `x`: SoftBool array.
    - `axis`: the axis to reduce; `None` reduces over all elements.
    - `use_geometric_mean`: use the geometric mean in the inner AND.

    **Returns:**

    A SoftBool with `axis` removed.
    """
    x, out = _prepare(x, axis)
    return (1 - _reduce_and(1 - x, 1e-10, use_geometric_mean)).astype(out)


def logical_not(x: Real[ArrayLike, "*shape"]) -> Real[Array, "*shape"]:
    r"""Soft NOT: $1 - x$."""
    x = jnp.asarray(x)
    return (1 - x).astype(float_dtypes(x)[1])


def _stacked(x: ArrayLike, y: ArrayLike) -> Array:
    dtype = float_dtypes(x, y)[1]
    x, y = jnp.broadcast_arrays(jnp.asarray(x, dtype), jnp.asarray(y, dtype))
    return jnp.stack([x, y], axis=-1)


def logical_and(
    x: Real[ArrayLike, "..."],
    y: Real[ArrayLike, "..."],
    use_geometric_mean: bool = False,
) -> SoftBool:
    r"""Soft AND of two SoftBools: $x y$ (or $\sqrt{x y}$ with the geometric mean).

    **Arguments:**

    - `x`, `y`: SoftBools that broadcast together.
    - `use_geometric_mean`: use $\sqrt{xy}$ instead of $xy$.

    **Returns:**

    A SoftBool of the broadcast shape.

    !!! Example

        ```python
        softeqx.logical_and(jnp.array([0.1, 0.8]), jnp.array([0.7, 0.1]))
        # Array([0.07, 0.08])
        ```
    """
    return all(_stacked(x, y), axis=-1, use_geometric_mean=use_geometric_mean)


def logical_or(
    x: Real[ArrayLike, "..."],
    y: Real[ArrayLike, "..."],
    use_geometric_mean: bool = False,
) -> SoftBool:
    r"""Soft OR of two SoftBools: $1 - (1 - x)(1 - y)$.

    Arguments and return as [`softeqx.logical_and`][].
    """
    return any(_stacked(x, y), axis=-1, use_geometric_mean=use_geometric_mean)


def logical_xor(
    x: Real[ArrayLike, "..."],
    y: Real[ArrayLike, "..."],
    use_geometric_mean: bool = False,
) -> SoftBool:
    r"""Soft XOR: $(x \wedge \neg y) \vee (\neg x \wedge y)$ with the soft AND and OR.

    Arguments and return as [`softeqx.logical_and`][].
    """
    dtype = float_dtypes(x, y)[1]
    x, y = jnp.asarray(x).astype(dtype), jnp.asarray(y).astype(dtype)
    a = logical_and(x, logical_not(y), use_geometric_mean)
    b = logical_and(logical_not(x), y, use_geometric_mean)
    return logical_or(a, b, use_geometric_mean)
