"""The interface every ordering method implements, and the helpers they share.

A method turns standardised scores `a` (shape `(..., n)`, ordering along the
last axis) into a soft permutation matrix `P` of shape `(..., n, [n])`: row `i`
is a distribution over the elements for the `i`-th smallest position
(ascending; the ops flip it for descending orders). A method never has to build
all of `P`; it answers three questions about it:

- `rows(a, positions)`: the rows `P[positions]`, a SoftIndex `(..., k, [n])`;
- `sorted_values(a, v, positions)`: `P[positions] @ v` for payload columns `v`;
- `transpose_apply(a, u)`: `P^T @ u`, used for ranks.

Two answers have overridable defaults built on those three: `ranks` (soft
ranks, by default column-normalised positions from `transpose_apply`) and, for
methods that sort values (`AbstractValueSortingMethod`), `sort_scores` (the
soft-sorted scores, by default `sorted_values` with the scores as payload).
A method whose sorted values or ranks are not products with its soft
permutation (e.g. projections onto the permutahedron) overrides them.

The row-based methods (`softeqx._methods.score`) compute rows in chunks, so
memory grows linearly in `n` and the backward pass recomputes each chunk
instead of storing an `n x n` matrix.
"""

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._checks import check_mode
from .._util import sortable


# Largest number of matrix entries per batch row that one chunk may hold.
CHUNK_ENTRIES = 2**16


class AbstractOrderingMethod(eqx.Module):
    """A strategy for building soft permutations; subclass it to add a method.

    Concrete methods are final `eqx.Module`s whose fields are their settings
    (iteration counts, tolerances); pass an instance as `method=` to any
    ordering op.
    """

    modes: eqx.AbstractClassVar[tuple[str, ...]]
    # Whether the soft sort and ranks depend on the scores only through their
    # values in ascending order (true of projections onto the permutahedron;
    # not of a sorting network, nor of methods that build `P` from the scores
    # in their given order). For such methods the ops pass `sort_scores` and
    # `ranks` the scores already sorted, from the one sort the standardisation
    # needs anyway, and put ranks back in the input's order themselves.
    order_free: ClassVar[bool] = False
    # Whether the method's `P` depends on the scores' values only, not on
    # their order (permuting the scores permutes `P`'s columns): its sorted
    # values are then the same, and its ranks permuted alike, for the scores
    # in ascending order. With `standardize`, the ops pass such a method the
    # scores sorted, from the sort the standardisation needs anyway: the
    # method's own argsort of sorted scores is about 3x cheaper on XLA:CPU.
    equivariant: ClassVar[bool] = False

    def check_mode(self, mode: str) -> str:
        """Raise a `ValueError` if this method does not support soft `mode`."""
        return check_mode(mode, self.modes)

    @abc.abstractmethod
    def rows(
        self,
        a: Float[Array, "*batch n"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k n"]:
        """Rows `P[positions]` of the ascending soft permutation matrix."""

    @abc.abstractmethod
    def sorted_values(
        self,
        a: Float[Array, "*batch n"],
        v: Float[Array, "*batch n m"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k m"]:
        """`P[positions] @ v`: the soft-sorted payload at those positions."""

    @abc.abstractmethod
    def transpose_apply(
        self,
        a: Float[Array, "*batch n"],
        u: Float[Array, "*batch n m"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch n m"]:
        """`P^T @ u`, for every element the `u`-weighted sum over positions."""

    def ranks(
        self,
        a: Float[Array, "*batch n"],
        descending: bool,
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch n"]:
        r"""Soft 1-based ranks of the scores along the last axis, in `[1, n]`.

        Default: the expected position of each element under `P`, normalised
        by the mass `P` gives it, $r_j = \sum_i (i + 1) P_{ij} / \sum_i P_{ij}$
        (positions counted from the largest element if `descending`). If the
        method is `order_free`, `a` comes in ascending order.
        """
        n = a.shape[-1]
        positions = jnp.arange(n)
        if descending:
            positions = positions[::-1]
        weights = jnp.stack([positions + 1, jnp.ones(n, int)], axis=-1)
        weights = jnp.broadcast_to(weights.astype(a.dtype), (*a.shape, 2))
        totals = self.transpose_apply(a, weights, softness, mode)
        # A sparse mode may give an element no mass in any row (a zero column):
        # its rank is then its hard (average) rank instead of 0 / 0.
        mass = totals[..., 1]
        covered = mass > 0
        expected = totals[..., 0] / jnp.where(covered, mass, 1)

        def with_fallback(expected: Array) -> Array:
            fallback = average_ranks(-a if descending else a).astype(a.dtype)
            return jnp.where(covered, expected, fallback)

        # The hard ranks cost a sort: only when some column is empty (never
        # in "smooth", short of underflow).
        expected = jax.lax.cond(
            jnp.all(covered), lambda expected: expected, with_fallback, expected
        )
        return jnp.clip(expected, 1, n)


class AbstractValueSortingMethod(AbstractOrderingMethod):
    """A method that sorts the scores themselves, not only their permutation.

    For these methods the ordering ops take sorted values from the method's
    sorted scores (`sort_scores`), mapped back through the standardisation,
    instead of `P @ x`.
    """

    def sort_scores(
        self,
        keys: Float[Array, "*batch n"],
        scores: Float[Array, "*batch n"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k"]:
        """The soft-sorted scores at ascending `positions`.

        `keys` and `scores` hold the same numbers; `keys` decide the order and
        may have their gradient stopped (`gated_grad=False`). If the method is
        `order_free`, both come in ascending order. Default: the
        method's `sorted_values` with the scores as the payload.
        """
        return self.sorted_values(keys, scores[..., None], positions, softness, mode)[
            ..., 0
        ]


def with_ones(v: Array) -> Array:
    """`v` with a column of ones appended: a product `k @ with_ones(v)` also
    gives the row sums of `k`."""
    return jnp.concatenate([v, jnp.ones_like(v[..., :1])], -1)


def chunk_size(n: int) -> int:
    return max(1, min(n, CHUNK_ENTRIES // max(n, 1)))


def average_ranks(x: Array) -> Array:
    """1-based ranks along the last axis; ties get the mean of their ranks."""
    x = sortable(x)  # the same counts, from a faster sort
    s = jnp.sort(x, axis=-1)
    count = jnp.vectorize(
        lambda s, v: (
            jnp.searchsorted(s, v, side="left"),
            jnp.searchsorted(s, v, side="right"),
        ),
        signature="(n),(n)->(n),(n)",
    )
    below, up_to = count(s, x)
    return (below + up_to + 1) / 2
