"""NeuralSort: the relaxed sort operator of Grover et al. (2019)."""

import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._checks import SIGMOIDAL_MODES
from .score import AbstractScoreMethod


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


class NeuralSort(AbstractScoreMethod):
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

    def columns(self, a: Float[Array, "*batch n"]) -> tuple[Array, Array]:
        return a, absolute_deviation_sums(a)

    def row_parameters(
        self, a: Float[Array, "*batch n"], positions: Int[Array, " k"]
    ) -> Float[Array, "*batch k"]:
        slope = (2 * positions + 1 - a.shape[-1]).astype(a.dtype)
        return jnp.broadcast_to(slope, (*a.shape[:-1], positions.shape[0]))

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
        d_a = (jnp.swapaxes(dtheta, -1, -2) @ rows[..., :, None])[..., 0] / softness
        d_b = -jnp.sum(dtheta, axis=-2) / softness
        d_softness = -jnp.sum(dtheta * theta) / softness
        return d_rows, (d_a, d_b), d_softness
