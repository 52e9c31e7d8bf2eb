"""Methods whose rows are simplex projections of pairwise scores.

For SoftSort and NeuralSort, row `i` of the ascending soft permutation is
`project(theta_i)` with `theta_ij = score(row_i, column_j)`: a cheap elementwise
function of per-row parameters (a target value, a slope) and per-element
parameters (the scores, their absolute-deviation sums). This module turns such a
description into the three operations of `AbstractOrderingMethod`, in `O(n)`
memory per row and with hand-written derivatives:

- rows are computed in chunks; nothing of size `n x n` is kept;
- the products `P[positions] @ v` and `P^T @ u` have custom VJPs. The forward
  pass keeps each row's shift (its peak and, for the piecewise modes, its
  threshold: `O(k)` numbers); the backward pass evaluates each chunk's kernel
  at that shift, without solving again, and applies the projection's
  closed-form Jacobian (see `softeqx._projections.simplex`) and the method's
  `score_pullback`. For scores linear in the row parameter (NeuralSort) that
  pullback is two thin matrix products per chunk;
- each row's maximum sits at the element of that rank (the row is unimodal in
  sorted order), so the piecewise modes take a starting threshold from a small
  window of sorted neighbours, and Newton's method on the full row needs one
  or two passes instead of about eight.
"""

import abc
import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PyTree

from .._projections.simplex import POWERS, _threshold, kernel
from .._util import argsort, inverse_permutation
from .base import AbstractOrderingMethod, chunk_size, with_ones


WINDOW = 32


class AbstractScoreMethod(AbstractOrderingMethod):
    """A method whose rows are projections of `score(row_params, column_params)`."""

    equivariant = True

    @abc.abstractmethod
    def columns(
        self, a: Float[Array, "*batch n"], softness: Array, mode: str
    ) -> PyTree[Float[Array, "*batch n"]]:
        """Per-element parameters of the score."""

    @abc.abstractmethod
    def row_parameters(
        self, a: Float[Array, "*batch n"], positions: Int[Array, " k"]
    ) -> PyTree[Float[Array, "*batch k"]]:
        """Per-row parameters of the score, for ascending positions."""

    @abc.abstractmethod
    def score(
        self, rows: PyTree[Array], columns: PyTree[Array], softness: Array
    ) -> Array:
        """`theta`, elementwise: rows come as `(..., k, 1)`, columns `(..., 1, n)`."""

    @abc.abstractmethod
    def score_pullback(
        self,
        rows: PyTree[Array],
        columns: PyTree[Array],
        softness: Array,
        theta: Array,
        dtheta: Array,
    ) -> tuple[PyTree[Array], PyTree[Array], Array]:
        """Cotangents of `(rows, columns, softness)` given `dtheta` (`(..., k, n)`)."""

    def pullback_columns(
        self, columns: PyTree[Array], v: Float[Array, "*batch n m"]
    ) -> Float[Array, "*batch n x"]:
        """Columns `X` whose products `w @ X` with a chunk's Jacobian weights
        `product_pullback` needs (none by default); they ride along with the
        caller's own product `w @ [v, 1]`."""
        return v[..., :0]

    def product_pullback(
        self,
        rows: PyTree[Array],
        columns: PyTree[Array],
        softness: Array,
        theta: Array,
        weights: Array,
        g: Array,
        shift: Array,
        v: Array,
        sums: Array,
    ) -> tuple[PyTree[Array], PyTree[Array], Array, Array | None]:
        """Cotangents of `(rows, columns, softness)` for the factored
        `dtheta = weights * (g @ v^T - shift)`, with `sums` the products
        `weights @ pullback_columns(columns, v)`; and `g^T weights`,
        `(..., m, n)`, if computed on the way (else `None`).

        By default `dtheta` is formed and passed to `score_pullback`.
        """
        dtheta = weights * (g @ jnp.swapaxes(v, -1, -2) - shift)
        return (*self.score_pullback(rows, columns, softness, theta, dtheta), None)

    def _setup(self, a: Array, positions: Array, softness: Array, mode: str) -> tuple:
        order = argsort(a)
        rank = inverse_permutation(order)
        columns = self.columns(a, softness, mode)
        rows = self.row_parameters(a, positions)
        return rows, columns, (order, rank)

    def rows(
        self,
        a: Float[Array, "*batch n"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k n"]:
        rows, columns, sorting = self._setup(a, positions, softness, mode)
        return _rows(self, mode, rows, columns, sorting, softness)

    def sorted_values(
        self,
        a: Float[Array, "*batch n"],
        v: Float[Array, "*batch n m"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k m"]:
        rows, columns, sorting = self._setup(a, positions, softness, mode)
        return _row_products(self, mode, rows, columns, sorting, softness, v)

    def transpose_apply(
        self,
        a: Float[Array, "*batch n"],
        u: Float[Array, "*batch n m"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch n m"]:
        positions = jnp.arange(a.shape[-1])
        rows, columns, sorting = self._setup(a, positions, softness, mode)
        return _column_products(self, mode, rows, columns, sorting, softness, u)


class AbstractLinearScoreMethod(AbstractScoreMethod):
    r"""A score method with $\theta_{ij} = (r_i a_j - b_j) / \tau$.

    The row parameter is the slope $r_i$ and the columns are `(a, b)`. Every
    reduction of the backward pass is then a thin matrix product with the
    chunk's Jacobian weights (`product_pullback`), so the pullback of the
    products never forms the `k x n` cotangent of the scores.
    """

    def score(
        self, rows: Array, columns: tuple[Array, Array], softness: Array
    ) -> Array:
        a, b = columns
        return (rows * a - b) / softness

    def score_pullback(
        self,
        rows: Array,
        columns: tuple[Array, Array],
        softness: Array,
        theta: Array,
        dtheta: Array,
    ) -> tuple[Array, tuple[Array, Array], Array]:
        a, _ = columns
        d_rows = (dtheta @ a[..., :, None])[..., 0] / softness
        d_a = (rows[..., None, :] @ dtheta)[..., 0, :] / softness
        d_b = -jnp.sum(dtheta, axis=-2) / softness
        d_softness = -jnp.sum(dtheta * theta) / softness
        return d_rows, (d_a, d_b), d_softness

    def pullback_columns(
        self, columns: tuple[Array, Array], v: Float[Array, "*batch n m"]
    ) -> Float[Array, "*batch n x"]:
        a = columns[0][..., :, None]
        return jnp.concatenate([v * a, a], axis=-1)

    def product_pullback(
        self,
        rows: Array,
        columns: tuple[Array, Array],
        softness: Array,
        theta: Array,
        weights: Array,
        g: Array,
        shift: Array,
        v: Array,
        sums: Array,
    ) -> tuple[Array, tuple[Array, Array], Array, Array | None]:
        # dtheta is never formed: its row reductions come from `sums`
        # (`w @ [v a, a]`), its column reductions from one product
        # `[g, s, r g, r s]^T @ w`, whose first rows are `g^T w`.
        m = v.shape[-1]
        w_va, w_a = sums[..., :m], sums[..., m]
        r = rows[..., :, None]
        right = jnp.concatenate([g, shift, r * g, r * shift], axis=-1)
        cols = _transposed_product(right, weights)  # (..., 2m + 2, n)
        vt = jnp.swapaxes(v, -1, -2)
        d_b = -(jnp.sum(vt * cols[..., :m, :], -2) - cols[..., m, :]) / softness
        d_a = jnp.sum(vt * cols[..., m + 1 : 2 * m + 1, :], -2) - cols[..., -1, :]
        d_rows = (jnp.sum(g * w_va, axis=-1) - shift[..., 0] * w_a) / softness
        # sum(dtheta * theta) from the two reductions, as theta is linear in both.
        d_softness = -(jnp.sum(rows * d_rows) + jnp.sum(columns[1] * d_b)) / softness
        return d_rows, (d_a / softness, d_b), d_softness, cols[..., :m, :]


def _expand_rows(rows: PyTree[Array]) -> PyTree[Array]:
    return jax.tree_util.tree_map(lambda r: r[..., :, None], rows)


def _expand_columns(columns: PyTree[Array]) -> PyTree[Array]:
    return jax.tree_util.tree_map(lambda c: c[..., None, :], columns)


def _chunk_solve(method, mode, rows, columns, sorting, softness, shift=None):
    """Scores, kernel, Jacobian weights and shift of one chunk of rows.

    The kernel and weights are those of `kernel`; the shift is `(peak,)` for
    `"smooth"` and `(peak, threshold)` for the piecewise modes, each `(..., c, 1)`.
    Given the shift of an earlier call (the forward pass), the kernel is
    evaluated at it directly. Otherwise, for the piecewise modes, the
    threshold is first solved on the `WINDOW` sorted neighbours of each row's
    peak: the scores are unimodal in sorted order, so this is the exact root
    whenever the support fits in the window, and a valid lower start for
    Newton's method on the full row otherwise.
    """
    theta = method.score(_expand_rows(rows), _expand_columns(columns), softness)
    if shift is not None:
        lam = shift[1] if len(shift) > 1 else None
        kern, weights, _ = kernel(theta, mode, shift[0], lam=lam)
        return theta, kern, weights, shift
    peak = jnp.max(theta, axis=-1, keepdims=True)
    if mode == "smooth":
        kern, weights, _ = kernel(theta, mode, peak)
        return theta, kern, weights, (peak,)
    order, rank = sorting
    n = order.shape[-1]
    # The first index of the maximum, from two plain reductions: XLA:CPU runs
    # `argmax` (one reduction of value-index pairs) about 3x slower than these
    # two together, and 13x slower than the `max` alone that `"smooth"` needs.
    index = jnp.arange(n, dtype=jnp.int32)
    top = jnp.min(jnp.where(theta == peak, index, n - 1), axis=-1, keepdims=True)
    width = min(WINDOW, n)
    centre = jnp.take_along_axis(rank[..., None, :], top, axis=-1)
    first = jnp.clip(centre - width // 2, 0, n - width)
    window = jnp.take_along_axis(
        order[..., None, :], first + jnp.arange(width), axis=-1
    )
    picked = jax.tree_util.tree_map(
        lambda c: jnp.take_along_axis(c[..., None, :], window, axis=-1), columns
    )
    local = method.score(_expand_rows(rows), picked, softness)  # (..., c, w)
    # The root for a subset of the scores is a valid (lower) start.
    start = _threshold(local - peak, POWERS[mode])
    kern, weights, lam = kernel(theta, mode, peak, start=start)
    return theta, kern, weights, (peak, lam)


def _transposed_product(y: Array, k: Array) -> Array:
    """`y^T @ k`, `(..., m, n)`, for a chunk `k`, `(..., c, n)`, and `y`, `(..., c, m)`.

    XLA:CPU folds a transpose of `y` into the product as a contraction over
    the rows of both, which its fast matrix kernels do not take (about 2x
    slower); the barrier keeps `y^T` a small array of its own.
    """
    return jax.lax.optimization_barrier(jnp.swapaxes(y, -1, -2)) @ k


def _outer_pullback(method, mode, r, columns, sorting, softness, shift, g, v, want_pv):
    """Cotangents through one chunk of rows `P` for the cotangent `dP = g v^T`.

    Returns `(other, d_rows, d_columns, d_softness)`, where `other` is `P @ v`
    if `want_pv` (the cotangent of `u` in `u^T P`) and `g^T P`, `(..., m, n)`,
    otherwise (the cotangent of `v` in `P v`). With the kernel `k` and weights
    `w` of `kernel`, the projection's pullback is
    `dtheta = w * (g' v^T - s')` with `g' = g / sum(k)` and
    `s' = <g, w v> / (sum(w) sum(k))`, so only thin products `w @ [1, v, ...]`
    are needed before `dtheta`; the method's `product_pullback` takes it from
    there, with any columns it asks for (`pullback_columns`) merged into the
    same product.
    """
    theta, kern, weights, _ = _chunk_solve(
        method, mode, r, columns, sorting, softness, shift
    )
    m = v.shape[-1]
    smooth = mode == "smooth"
    left = jnp.concatenate([with_ones(v), method.pullback_columns(columns, v)], -1)
    sums = weights @ left  # (..., c, m + 1 + x)
    w_v, w_total = sums[..., :m], sums[..., m : m + 1]
    k_sums = sums[..., : m + 1] if smooth else kern @ with_ones(v)
    k_total = k_sums[..., m:]
    g_k = g / k_total
    s_k = jnp.sum(g * w_v, axis=-1, keepdims=True) / (w_total * k_total)
    d_rows, d_columns, d_softness, g_w = method.product_pullback(
        r, columns, softness, theta, weights, g_k, s_k, v, sums[..., m + 1 :]
    )
    if want_pv:
        return k_sums[..., :m] / k_total, d_rows, d_columns, d_softness
    # `g^T P`: the method's `g_k^T w` is that in `"smooth"` (`w` is the kernel).
    g_p = g_w if smooth and g_w is not None else _transposed_product(g_k, kern)
    return g_p, d_rows, d_columns, d_softness


def _split(
    tree: PyTree[Array], size: int, k: int, axis: int
) -> tuple[PyTree[Array], int]:
    """Pad the row axis `axis` to a multiple of `size` and move chunks to the front."""
    count = -(-k // size)

    def split(x: Array) -> Array:
        x = jnp.moveaxis(x, axis, 0)
        pad = [(0, count * size - k)] + [(0, 0)] * (x.ndim - 1)
        x = jnp.pad(x, pad, mode="edge")
        x = x.reshape(count, size, *x.shape[1:])
        return jnp.moveaxis(x, 1, axis + 1 if axis >= 0 else x.ndim + axis)

    return jax.tree_util.tree_map(split, tree), count


def _merge(x: Array, k: int, axis: int) -> Array:
    """Inverse of `_split` for one array: chunks in front -> row axis `axis`."""
    x = jnp.moveaxis(x, 0, axis - 1 if axis < 0 else axis)
    shape = list(x.shape)
    pos = axis - 1 if axis < 0 else axis
    pos = pos % x.ndim
    merged = [*shape[:pos], shape[pos] * shape[pos + 1], *shape[pos + 2 :]]
    return jnp.take(x.reshape(merged), jnp.arange(k), axis=axis)


def _row_count(rows: PyTree[Array]) -> int:
    return jax.tree_util.tree_leaves(rows)[0].shape[-1]


def _column_count(columns: PyTree[Array]) -> int:
    return jax.tree_util.tree_leaves(columns)[0].shape[-1]


def _chunks_of(tree: PyTree[Array], axis: int, k: int, n: int) -> PyTree[Array]:
    return _split(tree, chunk_size(n), k, axis)[0]


def _row_mask(count: int, size: int, k: int, like: Array) -> Array:
    """1 for real rows, 0 for padding rows; shaped `(count, 1.., size, 1)`."""
    valid = (jnp.arange(count * size) < k).reshape(count, size).astype(like.dtype)
    return valid.reshape(count, *([1] * (like.ndim - 3)), size, 1)


def _over_chunks(block, k: int, n: int, inputs, out_axes, zeros=()):
    """`block` over all `k` rows, in chunks of at most `chunk_size(n)` rows.

    `inputs` are `(tree, axis, masked)` triples: each tree is split along its
    row axis `axis`, and the chunks of `masked` ones (cotangents, row axis -2)
    are zero in the padding rows of the last chunk. `block(*chunks)` returns
    `(summed, per_row)`: `summed` (shaped like `zeros`) is added up over the
    chunks and each leaf of `per_row` is put back together along its axis in
    `out_axes` (a matching tuple).
    """
    if k <= chunk_size(n):
        return block(*(tree for tree, _, _ in inputs))
    xs = []
    for tree, axis, masked in inputs:
        chunks = _chunks_of(tree, axis, k, n)
        if masked:
            chunks = jax.tree_util.tree_map(
                lambda c: c * _row_mask(c.shape[0], c.shape[-2], k, c), chunks
            )
        xs.append(chunks)

    def step(acc, x):
        summed, per_row = block(*x)
        return jax.tree_util.tree_map(jnp.add, acc, summed), per_row

    summed, per_row = jax.lax.scan(step, zeros, tuple(xs))
    merged = tuple(
        jax.tree_util.tree_map(lambda x, a=axis: _merge(x, k, a), out)
        for out, axis in zip(per_row, out_axes, strict=True)
    )
    return summed, merged


def _cotangent_zeros(columns, softness, *more):
    return (
        jax.tree_util.tree_map(jnp.zeros_like, columns),
        jnp.zeros_like(softness),
        *more,
    )


# The three products below share one shape: the forward pass solves each chunk
# of rows and keeps, besides its output, each row's shift (the peak and, for
# the piecewise modes, the threshold: `O(k)` numbers); the backward pass
# recomputes the chunk's kernel at that shift, without solving again, and
# applies the projection's closed-form pullback.


def _row_products_impl(method, mode, rows, columns, sorting, softness, v):
    def block(r):
        _, kern, _, shift = _chunk_solve(method, mode, r, columns, sorting, softness)
        sums = kern @ with_ones(v)
        return (), (sums[..., :-1] / sums[..., -1:], shift)

    k, n = _row_count(rows), v.shape[-2]
    return _over_chunks(block, k, n, [(rows, -1, False)], (-2, -2))[1]


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _row_products(method, mode, rows, columns, sorting, softness, v):
    """`P[rows] @ v`, chunk by chunk."""
    return _row_products_impl(method, mode, rows, columns, sorting, softness, v)[0]


def _row_products_fwd(method, mode, rows, columns, sorting, softness, v):
    y, shift = _row_products_impl(method, mode, rows, columns, sorting, softness, v)
    return y, (rows, columns, sorting, softness, v, shift)


def _row_products_bwd(method, mode, residuals, g):
    rows, columns, sorting, softness, v, shift = residuals

    def block(r, g_c, s_c):
        g_p, d_r, d_c, d_s = _outer_pullback(
            method, mode, r, columns, sorting, softness, s_c, g_c, v, want_pv=False
        )
        return (d_c, d_s, g_p), (d_r,)

    zeros = _cotangent_zeros(columns, softness, jnp.zeros_like(jnp.swapaxes(v, -1, -2)))
    inputs = [(rows, -1, False), (g, -2, True), (shift, -2, False)]
    (d_columns, d_softness, d_v), (d_rows,) = _over_chunks(
        block, _row_count(rows), v.shape[-2], inputs, (-1,), zeros
    )
    return d_rows, d_columns, None, d_softness, jnp.swapaxes(d_v, -1, -2)


_row_products.defvjp(_row_products_fwd, _row_products_bwd)


def _rows_impl(method, mode, rows, columns, sorting, softness):
    def block(r):
        _, kern, _, shift = _chunk_solve(method, mode, r, columns, sorting, softness)
        return (), (kern / jnp.sum(kern, axis=-1, keepdims=True), shift)

    k, n = _row_count(rows), _column_count(columns)
    return _over_chunks(block, k, n, [(rows, -1, False)], (-2, -2))[1]


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _rows(method, mode, rows, columns, sorting, softness):
    """The rows `P[rows]` themselves, `(..., k, n)`."""
    return _rows_impl(method, mode, rows, columns, sorting, softness)[0]


def _rows_fwd(method, mode, rows, columns, sorting, softness):
    p, shift = _rows_impl(method, mode, rows, columns, sorting, softness)
    return p, (rows, columns, sorting, softness, shift)


def _rows_bwd(method, mode, residuals, g):
    rows, columns, sorting, softness, shift = residuals

    def block(r, g_c, s_c):
        theta, kern, weights, _ = _chunk_solve(
            method, mode, r, columns, sorting, softness, s_c
        )
        total = jnp.sum(weights, axis=-1, keepdims=True)
        mean = jnp.sum(weights * g_c, axis=-1, keepdims=True) / total
        dtheta = weights / jnp.sum(kern, axis=-1, keepdims=True) * (g_c - mean)
        d_r, d_c, d_s = method.score_pullback(r, columns, softness, theta, dtheta)
        return (d_c, d_s), (d_r,)

    inputs = [(rows, -1, False), (g, -2, True), (shift, -2, False)]
    (d_columns, d_softness), (d_rows,) = _over_chunks(
        block,
        _row_count(rows),
        _column_count(columns),
        inputs,
        (-1,),
        _cotangent_zeros(columns, softness),
    )
    return d_rows, d_columns, None, d_softness


_rows.defvjp(_rows_fwd, _rows_bwd)


def _column_products_impl(method, mode, rows, columns, sorting, softness, u):
    # `u_c^T P`, `(..., m, n)`, summed over chunks and transposed once at the end.
    def block(r, u_c):
        _, kern, _, shift = _chunk_solve(method, mode, r, columns, sorting, softness)
        u_c = u_c / jnp.sum(kern, axis=-1, keepdims=True)
        return _transposed_product(u_c, kern), (shift,)

    inputs = [(rows, -1, False), (u, -2, True)]
    zeros = jnp.zeros_like(jnp.swapaxes(u, -1, -2))
    total, (shift,) = _over_chunks(
        block, _row_count(rows), u.shape[-2], inputs, (-2,), zeros
    )
    return jnp.swapaxes(total, -1, -2), shift


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _column_products(method, mode, rows, columns, sorting, softness, u):
    """`P^T @ u` over all rows, `(..., n, m)`."""
    return _column_products_impl(method, mode, rows, columns, sorting, softness, u)[0]


def _column_products_fwd(method, mode, rows, columns, sorting, softness, u):
    z, shift = _column_products_impl(method, mode, rows, columns, sorting, softness, u)
    return z, (rows, columns, sorting, softness, u, shift)


def _column_products_bwd(method, mode, residuals, h):
    rows, columns, sorting, softness, u, shift = residuals

    def block(r, u_c, s_c):
        d_u, d_r, d_c, d_s = _outer_pullback(
            method, mode, r, columns, sorting, softness, s_c, u_c, h, want_pv=True
        )
        return (d_c, d_s), (d_r, d_u)

    inputs = [(rows, -1, False), (u, -2, True), (shift, -2, False)]
    (d_columns, d_softness), (d_rows, d_u) = _over_chunks(
        block,
        _row_count(rows),
        u.shape[-2],
        inputs,
        (-1, -2),
        _cotangent_zeros(columns, softness),
    )
    return d_rows, d_columns, None, d_softness, d_u


_column_products.defvjp(_column_products_fwd, _column_products_bwd)
