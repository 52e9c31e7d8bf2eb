"""Selection with SoftBools and SoftIndices: expected values instead of lookups.

A SoftIndex carries its probabilities over the `n` positions in its last axis,
written `[n]` in shapes. Selecting with it returns the expectation
`sum_i p_i x_i`; with a one-hot SoftIndex this is exactly the hard selection.
"""

from collections.abc import Sequence

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Real

from .._checks import check_axis, check_positive_int, check_soft_index, float_dtypes


def _common(x: ArrayLike, p: ArrayLike) -> tuple[Array, Array]:
    dtype = float_dtypes(x, p)[1]
    return jnp.asarray(x).astype(dtype), jnp.asarray(p).astype(dtype)


def where(
    condition: Real[ArrayLike, "..."],
    x: Real[ArrayLike, "..."],
    y: Real[ArrayLike, "..."],
) -> Real[Array, "..."]:
    r"""Soft `jnp.where`: $c\,x + (1 - c)\,y$ for a SoftBool condition $c$.

    **Arguments:**

    - `condition`: SoftBool, values in `[0, 1]`.
    - `x`: values chosen where the condition is 1.
    - `y`: values chosen where it is 0.

    All three broadcast together.

    **Returns:**

    The interpolated array, of the broadcast shape.

    !!! Example

        ```python
        c, x, y = jnp.array([0.1, 1.0]), jnp.array([-0.2, 1.0]), jnp.array([0.2, -1.0])
        softeqx.where(c, x, y)  # Array([0.16, 1.0])
        ```
    """
    dtype = float_dtypes(condition, x, y)[1]
    c, x, y = (jnp.asarray(a).astype(dtype) for a in (condition, x, y))
    return c * x + (1 - c) * y  # exact for c in {0, 1}


def take_along_axis(
    x: Real[ArrayLike, "..."],
    soft_index: Real[ArrayLike, "... n"],
    axis: int | None = -1,
) -> Real[Array, "..."]:
    r"""Soft `jnp.take_along_axis`: one expectation per entry of the SoftIndex.

    `soft_index` has one more axis than `x`: with `x` of shape `(..., n, ...)`
    (`n` at `axis`) it has shape `(..., k, ..., [n])`, and
    `out[..., j, ...] = sum_i soft_index[..., j, ..., i] * x[..., i, ...]`.
    The other axes broadcast.

    **Arguments:**

    - `x`: array of shape `(..., n, ...)`.
    - `soft_index`: SoftIndex of shape `(..., k, ..., [n])`.
    - `axis`: the axis of `x` to select along; `None` flattens `x` first (then
      `soft_index` has shape `(k, [x.size])`).

    **Returns:**

    An array of shape `(..., k, ...)`.

    !!! Example

        ```python
        x = jnp.array([[3.0, 1.0, 2.0]])
        p = softeqx.argmax(x, axis=1, keepdims=True, mode="hard")  # (1, 1, [3])
        softeqx.take_along_axis(x, p, axis=1)  # Array([[3.0]])
        ```
    """
    x = jnp.asarray(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    if x.ndim == 0:
        raise ValueError("`x` must have at least one dimension.")
    axis = check_axis(axis, x.ndim)
    p = check_soft_index(soft_index, x.shape[axis], "soft_index")
    if p.ndim != x.ndim + 1:
        raise ValueError(
            f"`soft_index` must have one more dimension than `x` ({x.ndim + 1}), "
            f"got shape {p.shape}."
        )
    x, p = _common(x, p)
    moved = jnp.moveaxis(x, axis, -1)[..., None, :]
    out = jnp.sum(jnp.moveaxis(p, axis, -2) * moved, axis=-1)
    return jnp.moveaxis(out, -1, axis)


def take(
    x: Real[ArrayLike, "..."],
    soft_index: Real[ArrayLike, "k n"],
    axis: int | None = None,
) -> Real[Array, "..."]:
    r"""Soft `jnp.take`: the same `k` SoftIndices applied along `axis` everywhere.

    `out[..., j, ...] = sum_i soft_index[j, i] * x[..., i, ...]`.

    **Arguments:**

    - `x`: array of shape `(..., n, ...)`.
    - `soft_index`: SoftIndex of shape `(k, [n])`.
    - `axis`: the axis to select along; `None` flattens `x` first.

    **Returns:**

    An array of shape `(..., k, ...)`.
    """
    x = jnp.asarray(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    if x.ndim == 0:
        raise ValueError("`x` must have at least one dimension.")
    axis = check_axis(axis, x.ndim)
    p = check_soft_index(soft_index, x.shape[axis], "soft_index")
    if p.ndim != 2:
        raise ValueError(f"`soft_index` must have shape (k, [n]), got {p.shape}.")
    x, p = _common(x, p)
    return jnp.moveaxis(jnp.tensordot(x, p, axes=((axis,), (1,))), -1, axis)


def choose(
    soft_index: Real[ArrayLike, "... n"],
    choices: Real[ArrayLike, "n ..."],
) -> Real[Array, "..."]:
    r"""Soft `jnp.choose`: $\sum_i p_i\,\text{choices}_i$ with broadcasting.

    **Arguments:**

    - `soft_index`: SoftIndex of shape `(..., [n])`.
    - `choices`: array of shape `(n, ...)`; `choices[i]` broadcasts against
      `soft_index[..., i]`.

    **Returns:**

    The broadcast of `soft_index.shape[:-1]` and `choices.shape[1:]`.
    """
    choices = jnp.asarray(choices)
    if choices.ndim == 0:
        raise ValueError("`choices` must have a leading axis of choices.")
    p = check_soft_index(soft_index, choices.shape[0], "soft_index")
    choices, p = _common(choices, p)
    return jnp.sum(p * jnp.moveaxis(choices, 0, -1), axis=-1)


def dynamic_index_in_dim(
    x: Real[ArrayLike, "..."],
    soft_index: Real[ArrayLike, " n"],
    axis: int = 0,
    keepdims: bool = True,
) -> Real[Array, "..."]:
    r"""Soft `jax.lax.dynamic_index_in_dim`: $\sum_i p_i\,x[\dots, i, \dots]$.

    **Arguments:**

    - `x`: array of shape `(..., n, ...)`.
    - `soft_index`: SoftIndex of shape `([n],)`.
    - `axis`: the axis to index.
    - `keepdims`: keep `axis` with size 1.

    **Returns:**

    `x` with `axis` reduced (kept as size 1 with `keepdims`).
    """
    x = jnp.asarray(x)
    if x.ndim == 0:
        raise ValueError("`x` must have at least one dimension.")
    axis = check_axis(axis, x.ndim)
    p = check_soft_index(soft_index, x.shape[axis], "soft_index")
    if p.ndim != 1:
        raise ValueError(f"`soft_index` must have shape ([n],), got {p.shape}.")
    out = take(x, p[None, :], axis=axis)
    return out if keepdims else jnp.squeeze(out, axis)


def _slice_matrix(p: Array, size: int) -> Array:
    """`(size, [n])` SoftIndex of the rows of a window whose start has law `p`.

    Starts are clamped to `[0, n - size]` as in `jax.lax.dynamic_slice_in_dim`,
    so the mass of every start past the end lands on the last valid start.
    """
    n = p.shape[0]
    last = n - size
    start = jnp.concatenate([p[:last], jnp.sum(p[last:], keepdims=True)])
    rows = [jnp.pad(start, (j, size - 1 - j)) for j in range(size)]
    return jnp.stack(rows)


def dynamic_slice_in_dim(
    x: Real[ArrayLike, "..."],
    soft_start_index: Real[ArrayLike, " n"],
    slice_size: int,
    axis: int = 0,
) -> Real[Array, "..."]:
    r"""Soft `jax.lax.dynamic_slice_in_dim`: the expected window of `slice_size`.

    Row `j` of the result is $\sum_i p_i\,x[\min(i, n - L) + j]$: a start
    past `n - slice_size` is clamped, exactly as `jax.lax.dynamic_slice_in_dim`
    clamps it, so a one-hot start gives the hard slice and no window wraps
    around.

    **Arguments:**

    - `x`: array of shape `(..., n, ...)`.
    - `soft_start_index`: SoftIndex of shape `([n],)` over start positions.
    - `slice_size`: window length $L$, `1 <= L <= n`.
    - `axis`: the axis to slice.

    **Returns:**

    An array of shape `(..., slice_size, ...)`.
    """
    x = jnp.asarray(x)
    if x.ndim == 0:
        raise ValueError("`x` must have at least one dimension.")
    axis = check_axis(axis, x.ndim)
    n = x.shape[axis]
    size = check_positive_int(slice_size, "slice_size", minimum=1)
    if size > n:
        raise ValueError(
            f"`slice_size`={size} is larger than the axis it slices (size {n})."
        )
    p = check_soft_index(soft_start_index, n, "soft_start_index")
    if p.ndim != 1:
        raise ValueError(f"`soft_start_index` must have shape ([n],), got {p.shape}.")
    return take(x, _slice_matrix(p, size), axis=axis)


def dynamic_slice(
    x: Real[ArrayLike, "..."],
    soft_start_indices: Sequence[Real[ArrayLike, " _"]],
    slice_sizes: Sequence[int],
) -> Real[Array, "..."]:
    r"""Soft `jax.lax.dynamic_slice`: [`softeqx.dynamic_slice_in_dim`][] on every axis.

    **Arguments:**

    - `x`: array of shape `(n_1, ..., n_d)`.
    - `soft_start_indices`: one SoftIndex of shape `([n_a],)` per axis.
    - `slice_sizes`: one window length per axis.

    **Returns:**

    An array of shape `slice_sizes`.
    """
    x = jnp.asarray(x)
    if not len(soft_start_indices) == len(slice_sizes) == x.ndim:
        raise ValueError(
            f"`soft_start_indices` and `slice_sizes` need one entry per axis of "
            f"`x` ({x.ndim}), got {len(soft_start_indices)} and {len(slice_sizes)}."
        )
    for axis, (p, size) in enumerate(zip(soft_start_indices, slice_sizes, strict=True)):
        x = dynamic_slice_in_dim(x, p, size, axis=axis)
    return x
