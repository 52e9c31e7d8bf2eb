"""Soft argmax, max, argmin, min, argsort, sort, rank and top-k.

Each op validates its arguments and moves the ordered axis last (`Prepared`),
then asks the method (`softeqx._methods`) for the rows of the soft permutation
it needs: one row for argmax, `k` for top-k, all for argsort, a payload product
for sort and a transposed product for rank. `mode="hard"` never reaches a
method: it returns exactly what `jax.numpy`/`jax.lax` return (one-hot for
index-valued ops).
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import check_positive_int, float_dtypes
from .._custom_types import Mode, SoftIndex
from .._methods.base import average_ranks
from .prepare import Prepared


def _one_hot(index: Array, n: int, like: ArrayLike) -> Array:
    return jax.nn.one_hot(index, n, dtype=float_dtypes(like)[1])


def _keepdims(y: Array, prep: Prepared, axis: int | None, trailing: int) -> Array:
    """Re-insert the reduced axis as size 1 (before `trailing` SoftIndex axes)."""
    if axis is None:
        return y.reshape((1,) * prep.input_ndim + y.shape[y.ndim - trailing :])
    return jnp.expand_dims(y, prep.axis)


def _extreme(prep: Prepared, largest: bool, gated: bool = True) -> Array:
    """The SoftIndex row of the largest (or smallest) element, `(..., [n])`."""
    position = jnp.array([prep.n - 1 if largest else 0])
    a = prep.scores(gated)
    return prep.call("rows", a, position)[..., 0, :]


def _arg_extreme(
    x: ArrayLike,
    axis: int | None,
    keepdims: bool,
    softness: ArrayLike,
    mode: str,
    method: object,
    standardize: bool,
    ot_kwargs: dict | None,
    largest: bool,
) -> Array:
    prep = Prepared(x, axis, softness, mode, method, standardize, ot_kwargs)
    if prep.hard:
        find = jnp.argmax if largest else jnp.argmin
        p = _one_hot(find(prep.x, axis=prep.axis), prep.n, prep.x)
    else:
        p = _extreme(prep, largest).astype(prep.out_dtype)
    return _keepdims(p, prep, axis, trailing=1) if keepdims else p


def _extreme_value(
    x: ArrayLike,
    axis: int | None,
    keepdims: bool,
    softness: ArrayLike,
    mode: str,
    method: object,
    standardize: bool,
    ot_kwargs: dict | None,
    gated_grad: bool,
    largest: bool,
) -> Array:
    prep = Prepared(x, axis, softness, mode, method, standardize, ot_kwargs)
    if prep.hard:
        find = jnp.max if largest else jnp.min
        return find(jnp.asarray(x), axis=axis, keepdims=keepdims)
    position = jnp.array([prep.n - 1 if largest else 0])
    value = prep.sorted_values(position, gated_grad)[..., 0].astype(prep.out_dtype)
    return _keepdims(value, prep, axis, trailing=0) if keepdims else value


def argmax(
    x: Real[ArrayLike, "..."],
    axis: int | None = None,
    keepdims: bool = False,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "softsort",
    standardize: bool = True,
    ot_kwargs: dict | None = None,
) -> SoftIndex:
    r"""Soft argmax: a distribution over the positions of the largest element.

    The row of the soft permutation matrix that picks the largest element. With
    `"softsort"` (default) and `"smooth"` this is
    $\operatorname{softmax}(-|a_{\max} - a| / \tau)$ of the standardised
    scores $a$; as `softness -> 0` it becomes the one-hot `jnp.argmax` (ties
    share the mass).

    **Arguments:**

    - `x`: input array.
    - `axis`: the axis to reduce; `None` flattens `x` first.
    - `keepdims`: keep the reduced axis with size 1.
    - `softness`: how soft the ordering is ($\tau > 0$), in units of the
      standardised scores when `standardize=True`. Scalar; may be traced.
    - `mode`: `"hard"` for the exact op, or `"smooth"`, `"c0"`, `"c1"`, `"c2"`:
      the regulariser of the method's relaxation (entropic, or sparse p-norm
      regularisers of increasing smoothness) or, for `"sorting_network"`, the
      sigmoidal family of its comparators; `"smooth_sort"` has `"smooth"` only.
    - `method`: `"softsort"`, `"neuralsort"`, `"sorting_network"`, `"ot"`,
      `"fast_soft_sort"`, `"smooth_sort"` (the classes of `softeqx.methods`), or a
      configured method object.
    - `standardize`: order robust z-scores squashed to $(0, 1)$ instead of the
      raw values, so that one softness suits every input scale: a z-score
      winsorised at three robust standard deviations around the median, with
      a floor on the spread, so constant rows and outliers stay well-behaved.
    - `ot_kwargs`: settings of the optimal-transport method (only with it).

    **Returns:**

    A SoftIndex of shape `(..., [n])`: `x`'s shape without `axis` (or with a
    size-1 axis for `keepdims`), plus the probability axis of size $n$.

    !!! Example

        ```python
        softeqx.argmax(jnp.array([-0.2, -1.0, 0.3, 1.0]))
        # Array([0.0215, 0.0022, 0.1176, 0.8586])
        ```

    ??? cite "Reference"

        SoftSort: Prillo & Eisenschlos, ICML 2020.
    """
    return _arg_extreme(
        x, axis, keepdims, softness, mode, method, standardize, ot_kwargs, largest=True
    )


def argmin(
    x: Real[ArrayLike, "..."],
    axis: int | None = None,
    keepdims: bool = False,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "softsort",
    standardize: bool = True,
    ot_kwargs: dict | None = None,
) -> SoftIndex:
    r"""Soft argmin: a distribution over the positions of the smallest element.

    The mirror image of [`softeqx.argmax`][] (the row of the smallest element);
    `"hard"` is the one-hot `jnp.argmin`. Arguments and shapes as for
    [`softeqx.argmax`][].

    !!! Example

        ```python
        softeqx.argmin(jnp.array([-0.2, -1.0, 0.3, 1.0]))
        # Array([0.0922, 0.8885, 0.0169, 0.0023])
        ```
    """
    return _arg_extreme(
        x, axis, keepdims, softness, mode, method, standardize, ot_kwargs, largest=False
    )


def max(
    x: Real[ArrayLike, "..."],
    axis: int | None = None,
    keepdims: bool = False,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "softsort",
    standardize: bool = True,
    ot_kwargs: dict | None = None,
    gated_grad: bool = True,
) -> Float[Array, "..."]:
    r"""Soft maximum: the expected value of `x` under [`softeqx.argmax`][].

    Lies between the mean and the maximum of `x`, and converges to `jnp.max` as
    `softness -> 0`. With `"sorting_network"` it is the last output of the soft
    network.

    **Arguments:** as for [`softeqx.argmax`][], plus

    - `gated_grad`: if `False`, the soft index is treated as a constant in the
      backward pass, so the gradient only flows through the selected values.

    **Returns:**

    `x`'s shape without `axis` (size 1 with `keepdims`).

    !!! Example

        ```python
        softeqx.max(jnp.array([-0.2, -1.0, 0.3, 1.0]))  # Array(0.8874)
        ```
    """
    return _extreme_value(
        x,
        axis,
        keepdims,
        softness,
        mode,
        method,
        standardize,
        ot_kwargs,
        gated_grad,
        True,
    )


def min(
    x: Real[ArrayLike, "..."],
    axis: int | None = None,
    keepdims: bool = False,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "softsort",
    standardize: bool = True,
    ot_kwargs: dict | None = None,
    gated_grad: bool = True,
) -> Float[Array, "..."]:
    r"""Soft minimum: the expected value of `x` under [`softeqx.argmin`][].

    Arguments and shapes as for [`softeqx.max`][]; `"hard"` is `jnp.min`.

    !!! Example

        ```python
        softeqx.min(jnp.array([-0.2, -1.0, 0.3, 1.0]))  # Array(-0.8996)
        ```
    """
    return _extreme_value(
        x,
        axis,
        keepdims,
        softness,
        mode,
        method,
        standardize,
        ot_kwargs,
        gated_grad,
        False,
    )


def _positions(n: int, descending: bool) -> Array:
    positions = jnp.arange(n)
    return positions[::-1] if descending else positions


def argsort(
    x: Real[ArrayLike, "..."],
    axis: int | None = None,
    descending: bool = False,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "neuralsort",
    standardize: bool = True,
    ot_kwargs: dict | None = None,
) -> SoftIndex:
    r"""Soft argsort: the soft permutation matrix that sorts `x`.

    Row $i$ is a distribution over the elements for the $i$-th position of the
    sorted order. `"hard"` is the one-hot of `jnp.argsort(x, stable=True)`.

    **Arguments:**

    - `x`: input array.
    - `axis`: the axis to sort along; `None` flattens `x` first.
    - `descending`: sort from largest to smallest.
    - `softness`: how soft the ordering is ($\tau > 0$), in units of the
      standardised scores when `standardize=True`. Scalar; may be traced.
    - `mode`: `"hard"` for the exact op, or `"smooth"`, `"c0"`, `"c1"`, `"c2"`:
      the regulariser of the method's relaxation (entropic, or sparse p-norm
      regularisers of increasing smoothness) or, for `"sorting_network"`, the
      sigmoidal family of its comparators; `"smooth_sort"` has `"smooth"` only.
    - `method`: `"softsort"`, `"neuralsort"`, `"sorting_network"`, `"ot"`,
      `"fast_soft_sort"`, `"smooth_sort"` (the classes of `softeqx.methods`), or a
      configured method object.
    - `standardize`: order robust z-scores squashed to $(0, 1)$ instead of the
      raw values, so that one softness suits every input scale: a z-score
      winsorised at three robust standard deviations around the median, with
      a floor on the spread, so constant rows and outliers stay well-behaved.
    - `ot_kwargs`: settings of the optimal-transport method (only with it).

    **Returns:**

    A SoftIndex of shape `(..., n, ..., [n])`: `x`'s shape plus a probability axis.

    !!! Example

        ```python
        softeqx.argsort(jnp.array([0.3, -1.0, 1.0]), mode="hard")
        # Array([[0., 1., 0.], [1., 0., 0.], [0., 0., 1.]])
        ```
    """
    prep = Prepared(x, axis, softness, mode, method, standardize, ot_kwargs)
    if prep.hard:
        order = jnp.argsort(prep.x, axis=prep.axis, descending=descending, stable=True)
        return _one_hot(order, prep.n, prep.x)
    p = prep.call("rows", prep.scores(), _positions(prep.n, descending))
    return prep.restore(p, extra=1)


def sort(
    x: Real[ArrayLike, "..."],
    axis: int | None = None,
    descending: bool = False,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "neuralsort",
    standardize: bool = True,
    ot_kwargs: dict | None = None,
    gated_grad: bool = True,
) -> Float[Array, "..."]:
    r"""Soft sort: `x` multiplied by its soft permutation matrix.

    Each output is a weighted average of the inputs, so the result lies within
    the input's range; `"hard"` is `jnp.sort`. The matrix is never built whole:
    memory grows linearly in $n$.

    **Arguments:** as for [`softeqx.argsort`][], plus

    - `gated_grad`: if `False`, the soft permutation is a constant in the
      backward pass.

    **Returns:**

    An array of `x`'s shape (flattened for `axis=None`).

    !!! Example

        ```python
        softeqx.sort(jnp.array([-0.2, -1.0, 0.3, 1.0]), method="softsort")
        # Array([-0.8996, -0.1705, 0.2847, 0.8874])
        ```
    """
    prep = Prepared(x, axis, softness, mode, method, standardize, ot_kwargs)
    if prep.hard:
        return jnp.sort(prep.x, axis=prep.axis, descending=descending)
    return prep.restore(prep.sorted_values(_positions(prep.n, descending), gated_grad))


def rank(
    x: Real[ArrayLike, "..."],
    axis: int | None = None,
    descending: bool = False,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "softsort",
    standardize: bool = True,
) -> Float[Array, "..."]:
    r"""Soft ranks in $[1, n]$ (1 is the smallest, or the largest if `descending`).

    The soft rank of element $j$ is its expected position under the soft
    permutation matrix $P$, normalised by the mass $P$ gives it:
    $r_j = \sum_i (i + 1) P_{ij} / \sum_i P_{ij}$. So every rank lies in
    $[1, n]$, ties get equal ranks, and the ranks sum to $n(n+1)/2$ up to the
    softness (exactly for doubly stochastic $P$). `"fast_soft_sort"` has no
    $P$: its ranks are the regularised projection onto the permutahedron of
    $(1, \ldots, n)$, which sums to $n(n+1)/2$ in the quadratic and p-norm
    modes; its `"smooth"` (log-KL) ranks lie in $[1, n]$ but their sum drifts
    above $n(n+1)/2$ as the softness grows. `"hard"` gives the ranks of
    `scipy.stats.rankdata` (ties averaged), as floats.

    **Arguments:**

    - `x`: input array.
    - `axis`: the axis to rank along; `None` flattens `x` first.
    - `descending`: rank 1 is the largest.
    - `softness`: how soft the ordering is ($\tau > 0$), in units of the
      standardised scores when `standardize=True`. Scalar; may be traced.
    - `mode`: `"hard"` for the exact op, or `"smooth"`, `"c0"`, `"c1"`, `"c2"`:
      the regulariser of the method's relaxation (entropic, or sparse p-norm
      regularisers of increasing smoothness) or, for `"sorting_network"`, the
      sigmoidal family of its comparators; `"smooth_sort"` has `"smooth"` only.
    - `method`: `"softsort"`, `"neuralsort"`, `"sorting_network"`, `"ot"`,
      `"fast_soft_sort"`, `"smooth_sort"` (the classes of `softeqx.methods`), or a
      configured method object.
    - `standardize`: order robust z-scores squashed to $(0, 1)$ instead of the
      raw values, so that one softness suits every input scale: a z-score
      winsorised at three robust standard deviations around the median, with
      a floor on the spread, so constant rows and outliers stay well-behaved.

    **Returns:**

    An array of `x`'s shape (flattened for `axis=None`).

    !!! Example

        ```python
        softeqx.rank(jnp.array([-0.2, -1.0, 0.3, 1.0]), mode="hard")
        # Array([2., 1., 3., 4.])
        ```
    """
    prep = Prepared(x, axis, softness, mode, method, standardize)
    if prep.hard:
        moved = jnp.asarray(prep.moved)
        ranks = average_ranks(-moved if descending else moved)
        return jnp.moveaxis(ranks.astype(float_dtypes(moved)[1]), -1, prep.axis)
    return prep.restore(prep.ranks(descending))


def top_k(
    x: Real[ArrayLike, "..."],
    k: int,
    axis: int = -1,
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: object = "neuralsort",
    standardize: bool = True,
    ot_kwargs: dict | None = None,
    gated_grad: bool = True,
) -> tuple[Float[Array, "..."], SoftIndex]:
    r"""Soft top-k: the `k` largest values and their soft indices, largest first.

    The first `k` rows of the descending soft permutation matrix, and `x`
    weighted by them. `"hard"` is `jax.lax.top_k` along `axis` (ties: lower
    index first). The values are the top `k` of `sort`'s, computed without the
    rows: under `jax.jit`, a caller who uses only the values never pays for the
    `k x n` rows.

    **Arguments:**

    - `x`: input array.
    - `k`: how many, `1 <= k <= n`.
    - `axis`: the axis to select along.
    - `softness`: how soft the ordering is ($\tau > 0$), in units of the
      standardised scores when `standardize=True`. Scalar; may be traced.
    - `mode`: `"hard"` for the exact op, or `"smooth"`, `"c0"`, `"c1"`, `"c2"`:
      the regulariser of the method's relaxation (entropic, or sparse p-norm
      regularisers of increasing smoothness) or, for `"sorting_network"`, the
      sigmoidal family of its comparators; `"smooth_sort"` has `"smooth"` only.
    - `method`: `"softsort"`, `"neuralsort"`, `"sorting_network"`, `"ot"`,
      `"fast_soft_sort"`, `"smooth_sort"` (the classes of `softeqx.methods`), or a
      configured method object.
    - `standardize`: order robust z-scores squashed to $(0, 1)$ instead of the
      raw values, so that one softness suits every input scale: a z-score
      winsorised at three robust standard deviations around the median, with
      a floor on the spread, so constant rows and outliers stay well-behaved.
    - `ot_kwargs`: settings of the optimal-transport method (only with it).
    - `gated_grad`: if `False`, the soft indices are constants in the backward
      pass of the values.

    **Returns:**

    `(values, soft_indices)`: `values` of `x`'s shape with `axis` of size `k`,
    `soft_indices` of shape `(..., k, ..., [n])`.

    !!! Example

        ```python
        values, index = softeqx.top_k(jnp.array([-0.2, -1.0, 0.3, 1.0]), k=2)
        ```
    """
    prep = Prepared(x, axis, softness, mode, method, standardize, ot_kwargs)
    k = check_positive_int(k, "k", minimum=1)
    if k > prep.n:
        raise ValueError(
            f"`k`={k} is larger than the axis it selects from (n={prep.n})."
        )
    if prep.hard:
        values, index = jax.lax.top_k(prep.moved, k)
        onehot = _one_hot(index, prep.n, prep.x)
        return jnp.moveaxis(values, -1, prep.axis), jnp.moveaxis(onehot, -2, prep.axis)
    positions = prep.n - 1 - jnp.arange(k)
    # Values without the rows (see the docstring); `sorted_values` never holds
    # `k x n` entries at once.
    p = prep.call("rows", prep.scores(), positions)
    values = prep.sorted_values(positions, gated_grad)
    return prep.restore(values), prep.restore(p, extra=1)
