"""Methods whose rows are simplex projections of pairwise scores.

For SoftSort and NeuralSort, row `i` of the ascending soft permutation is
`project(theta_i)` with `theta_ij = score(row_i, column_j)`: a cheap elementwise
function of per-row parameters (a target value, a slope) and per-element
parameters (the scores, their absolute-deviation sums). This module turns such a
description into the three operations of `AbstractOrderingMethod`, in `O(n)`
memory per row and with hand-written derivatives:

- rows are computed in chunks; nothing of size `n x n` is kept;
- the products `P[positions] @ v` and `P^T @ u` have custom VJPs that recompute
  each chunk once in the backward pass and apply the projection's closed-form
  Jacobian (see `softeqx._projections.simplex`), with the score's own
  derivatives from `jax.vjp` of the elementwise score function;
- each row's maximum sits at the element of that rank (the row is unimodal in
  sorted order), so the projection's shift and a starting threshold come from a
  small window of sorted neighbours, and Newton's method on the full row needs
  one or two passes instead of about eight.
"""

import abc
import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PyTree

from .._projections.simplex import POWERS, _threshold, solve
from .._util import inverse_permutation
from .base import AbstractOrderingMethod, chunk_size


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

    def _setup(self, a: Array, positions: Array, softness: Array, mode: str) -> tuple:
        order = jnp.argsort(a, axis=-1)
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


def _expand_rows(rows: PyTree[Array]) -> PyTree[Array]:
    return jax.tree_util.tree_map(lambda r: r[..., :, None], rows)


def _expand_columns(columns: PyTree[Array]) -> PyTree[Array]:
    return jax.tree_util.tree_map(lambda c: c[..., None, :], columns)


def _chunk_solve(method, mode, rows, columns, sorting, softness):
    """Scores, projection and Jacobian weights of one chunk of rows.

    For the piecewise modes, the threshold is first solved on the `WINDOW`
    sorted neighbours of each row's peak: the scores are unimodal in sorted
    order, so this is the exact root whenever the support fits in the window,
    and a valid lower start for Newton's method on the full row otherwise.
    """
    theta = method.score(_expand_rows(rows), _expand_columns(columns), softness)
    peak = jnp.max(theta, axis=-1, keepdims=True)
    start = None
    if mode != "smooth":
        order, rank = sorting
        n = order.shape[-1]
        # The first index of the maximum, from two plain reductions: XLA:CPU
        # runs `argmax` (one reduction of value-index pairs) about 3x slower
        # than these two together, and 13x slower than the `max` alone that
        # `"smooth"` needs.
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
    return theta, solve(theta, mode, peak=peak, start=start)


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


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _row_products(method, mode, rows, columns, sorting, softness, v):
    """`P[rows] @ v`, chunk by chunk."""
    k = _row_count(rows)
    n = v.shape[-2]
    size = chunk_size(n)

    def block(r):
        _, (p, _) = _chunk_solve(method, mode, r, columns, sorting, softness)
        return p @ v

    if k <= size:
        return block(rows)
    r, _ = _split(rows, size, k, axis=-1)
    out = jax.lax.map(block, r)
    return _merge(out, k, axis=-2)


def _row_products_fwd(method, mode, rows, columns, sorting, softness, v):
    y = _row_products(method, mode, rows, columns, sorting, softness, v)
    return y, (rows, columns, sorting, softness, v, y)


def _row_products_bwd(method, mode, residuals, g):
    rows, columns, sorting, softness, v, y = residuals
    k = _row_count(rows)
    n = v.shape[-2]
    size = chunk_size(n)

    def block(r, g_c, y_c):
        theta, (p, weights) = _chunk_solve(method, mode, r, columns, sorting, softness)
        if mode == "smooth":
            y_hat = y_c
        else:
            total = jnp.sum(weights, axis=-1, keepdims=True)
            y_hat = (weights @ v) / total
        dp = g_c @ jnp.swapaxes(v, -1, -2)  # (..., c, n)
        dtheta = weights * (dp - jnp.sum(g_c * y_hat, axis=-1, keepdims=True))
        d_rows, d_columns, d_softness = method.score_pullback(
            r, columns, softness, theta, dtheta
        )
        # Transposed, `(..., m, n)`, for speed (see `_column_products`).
        d_v = jnp.swapaxes(g_c, -1, -2) @ p
        return d_rows, d_columns, d_softness, d_v

    zeros = (
        jax.tree_util.tree_map(jnp.zeros_like, columns),
        jnp.zeros_like(softness),
        jnp.zeros_like(jnp.swapaxes(v, -1, -2)),
    )
    if k <= size:
        d_rows, d_columns, d_softness, d_v = block(rows, g, y)
    else:
        r = _chunks_of(rows, -1, k, n)
        gs = _chunks_of(g, -2, k, n)
        gs = gs * _row_mask(gs.shape[0], gs.shape[-2], k, gs)
        ys = _chunks_of(y, -2, k, n)

        def step(acc, xs):
            d_r, d_c, d_s, d_v = block(*xs)
            acc = jax.tree_util.tree_map(jnp.add, acc, (d_c, d_s, d_v))
            return acc, d_r

        (d_columns, d_softness, d_v), d_r = jax.lax.scan(step, zeros, (r, gs, ys))
        d_rows = jax.tree_util.tree_map(lambda x: _merge(x, k, axis=-1), d_r)
    return d_rows, d_columns, None, d_softness, jnp.swapaxes(d_v, -1, -2)


_row_products.defvjp(_row_products_fwd, _row_products_bwd)


def _row_count(rows: PyTree[Array]) -> int:
    return jax.tree_util.tree_leaves(rows)[0].shape[-1]


def _chunks_of(tree: PyTree[Array], axis: int, k: int, n: int) -> PyTree[Array]:
    return _split(tree, chunk_size(n), k, axis)[0]


def _row_mask(count: int, size: int, k: int, like: Array) -> Array:
    """1 for real rows, 0 for padding rows; shaped `(count, 1.., size, 1)`."""
    valid = (jnp.arange(count * size) < k).reshape(count, size).astype(like.dtype)
    return valid.reshape(count, *([1] * (like.ndim - 3)), size, 1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _rows(method, mode, rows, columns, sorting, softness):
    """The rows `P[rows]` themselves, `(..., k, n)`."""
    k = _row_count(rows)
    n = jax.tree_util.tree_leaves(columns)[0].shape[-1]

    def block(r):
        return _chunk_solve(method, mode, r, columns, sorting, softness)[1][0]

    if k <= chunk_size(n):
        return block(rows)
    r = _chunks_of(rows, -1, k, n)
    return _merge(jax.lax.map(block, r), k, axis=-2)


def _rows_fwd(method, mode, rows, columns, sorting, softness):
    return _rows(method, mode, rows, columns, sorting, softness), (
        rows,
        columns,
        sorting,
        softness,
    )


def _rows_bwd(method, mode, residuals, g):
    rows, columns, sorting, softness = residuals
    k = _row_count(rows)
    n = jax.tree_util.tree_leaves(columns)[0].shape[-1]

    def block(r, g_c):
        theta, (_, weights) = _chunk_solve(method, mode, r, columns, sorting, softness)
        total = jnp.sum(weights, axis=-1, keepdims=True)
        mean = jnp.sum(weights * g_c, axis=-1, keepdims=True) / total
        dtheta = weights * (g_c - mean)
        return method.score_pullback(r, columns, softness, theta, dtheta)

    if k <= chunk_size(n):
        d_rows, d_columns, d_softness = block(rows, g)
    else:
        r = _chunks_of(rows, -1, k, n)
        gs = _chunks_of(g, -2, k, n)
        gs = gs * _row_mask(gs.shape[0], gs.shape[-2], k, gs)
        zeros = (
            jax.tree_util.tree_map(jnp.zeros_like, columns),
            jnp.zeros_like(softness),
        )

        def step(acc, xs):
            d_r, d_c, d_s = block(*xs)
            return jax.tree_util.tree_map(jnp.add, acc, (d_c, d_s)), d_r

        (d_columns, d_softness), d_r = jax.lax.scan(step, zeros, (r, gs))
        d_rows = jax.tree_util.tree_map(lambda x: _merge(x, k, axis=-1), d_r)
    return d_rows, d_columns, None, d_softness


_rows.defvjp(_rows_fwd, _rows_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _column_products(method, mode, rows, columns, sorting, softness, u):
    """`P^T @ u` over all rows, `(..., n, m)`."""
    k = _row_count(rows)
    n = u.shape[-2]

    def block(r, u_c):
        # `u_c^T P`, `(..., m, n)`: a product with `P` untransposed is much
        # faster on CPU than `P^T u_c`; the sum is transposed once at the end.
        p = _chunk_solve(method, mode, r, columns, sorting, softness)[1][0]
        return jnp.swapaxes(u_c, -1, -2) @ p

    if k <= chunk_size(n):
        return jnp.swapaxes(block(rows, u), -1, -2)
    r = _chunks_of(rows, -1, k, n)
    us = _chunks_of(u, -2, k, n)
    us = us * _row_mask(us.shape[0], us.shape[-2], k, us)

    def step(total, xs):
        return total + block(*xs), None

    total, _ = jax.lax.scan(step, jnp.zeros_like(jnp.swapaxes(u, -1, -2)), (r, us))
    return jnp.swapaxes(total, -1, -2)


def _column_products_fwd(method, mode, rows, columns, sorting, softness, u):
    z = _column_products(method, mode, rows, columns, sorting, softness, u)
    return z, (rows, columns, sorting, softness, u)


def _column_products_bwd(method, mode, residuals, h):
    rows, columns, sorting, softness, u = residuals
    k = _row_count(rows)
    n = u.shape[-2]

    def block(r, u_c):
        theta, (p, weights) = _chunk_solve(method, mode, r, columns, sorting, softness)
        d_u = p @ h  # (..., c, m)
        if mode == "smooth":
            h_hat = d_u
        else:
            h_hat = (weights @ h) / jnp.sum(weights, axis=-1, keepdims=True)
        dp = u_c @ jnp.swapaxes(h, -1, -2)  # (..., c, n)
        dtheta = weights * (dp - jnp.sum(u_c * h_hat, axis=-1, keepdims=True))
        d_r, d_c, d_s = method.score_pullback(r, columns, softness, theta, dtheta)
        return d_r, d_c, d_s, d_u

    if k <= chunk_size(n):
        d_rows, d_columns, d_softness, d_u = block(rows, u)
    else:
        r = _chunks_of(rows, -1, k, n)
        us = _chunks_of(u, -2, k, n)
        us = us * _row_mask(us.shape[0], us.shape[-2], k, us)
        zeros = (
            jax.tree_util.tree_map(jnp.zeros_like, columns),
            jnp.zeros_like(softness),
        )

        def step(acc, xs):
            d_r, d_c, d_s, d_u = block(*xs)
            return jax.tree_util.tree_map(jnp.add, acc, (d_c, d_s)), (d_r, d_u)

        (d_columns, d_softness), (d_r, d_us) = jax.lax.scan(step, zeros, (r, us))
        d_rows = jax.tree_util.tree_map(lambda x: _merge(x, k, axis=-1), d_r)
        d_u = _merge(d_us, k, axis=-2)
    return d_rows, d_columns, None, d_softness, d_u


_column_products.defvjp(_column_products_fwd, _column_products_bwd)
