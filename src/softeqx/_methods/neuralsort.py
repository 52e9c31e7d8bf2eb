"""NeuralSort: the relaxed sort operator of Grover et al. (2019)."""

import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._checks import SIGMOIDAL_MODES
from .._projections.simplex import project
from .base import AbstractOrderingMethod, chunked_rows_matmul, chunked_rows_rmatmul


def absolute_deviation_sums(a: Float[Array, "*batch n"]) -> Float[Array, "*batch n"]:
    """`B_j = sum_k |a_j - a_k|` in O(n log n), from sorted prefix sums."""
    n = a.shape[-1]
    order = jnp.argsort(a, axis=-1)
    s = jnp.take_along_axis(a, order, axis=-1)
    before = jnp.cumsum(s, axis=-1) - s  # sum of the smaller values
    after = jnp.sum(s, axis=-1, keepdims=True) - before - s
    r = jnp.arange(n, dtype=a.dtype)
    sums = r * s - before + after - (n - 1 - r) * s
    inverse = jnp.argsort(order, axis=-1)
    return jnp.take_along_axis(sums, inverse, axis=-1)


class NeuralSort(AbstractOrderingMethod):
    r"""NeuralSort (Grover et al., 2019).

    Row $i$ (the $i$-th smallest, 0-based) of the ascending soft permutation is
    the projection onto the simplex of
    $$\theta_{ij} = \big((2i + 1 - n)\,a_j - B_j\big) / \tau,
    \qquad B_j = \textstyle\sum_k |a_j - a_k|,$$
    whose maximiser is exactly the element of rank $i$: the projection relaxes
    that choice (softmax for `"smooth"`, sparse p-norm projections for `"c0"`,
    `"c1"`, `"c2"`). Every row is unimodal, so soft-sorted values are ordered.
    $B$ costs O(n log n); rows are built in chunks, so sorting costs O(n^2) time
    and O(n) memory per row of the batch.

    ??? cite "Reference"

        ```bibtex
        @inproceedings{grover2019stochastic,
          title={Stochastic Optimization of Sorting Networks
                 via Continuous Relaxations},
          author={Grover, Aditya and Wang, Eric and Zweig, Aaron and Ermon, Stefano},
          booktitle={International Conference on Learning Representations},
          year={2019}
        }
        ```
    """

    modes = SIGMOIDAL_MODES

    def rows(
        self,
        a: Float[Array, "*batch n"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k n"]:
        return self._rows(a, absolute_deviation_sums(a), positions, softness, mode)

    def _rows(
        self, a: Array, b: Array, positions: Array, softness: Array, mode: str
    ) -> Array:
        n = a.shape[-1]
        slope = (2 * positions + 1 - n).astype(a.dtype)
        scores = (slope[:, None] * a[..., None, :] - b[..., None, :]) / softness
        return project(scores, mode)

    def sorted_values(
        self,
        a: Float[Array, "*batch n"],
        v: Float[Array, "*batch n m"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k m"]:
        b = absolute_deviation_sums(a)
        return chunked_rows_matmul(
            lambda p: self._rows(a, b, p, softness, mode), v, positions
        )

    def transpose_apply(
        self,
        a: Float[Array, "*batch n"],
        u: Float[Array, "*batch n m"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch n m"]:
        b = absolute_deviation_sums(a)
        return chunked_rows_rmatmul(lambda p: self._rows(a, b, p, softness, mode), u)
