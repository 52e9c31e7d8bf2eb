"""SoftSort: each row is a projection of the distances to one sorted value."""

import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._checks import SIGMOIDAL_MODES
from .._projections.simplex import project
from .base import AbstractOrderingMethod, chunked_rows_matmul, chunked_rows_rmatmul


class SoftSort(AbstractOrderingMethod):
    r"""SoftSort (Prillo & Eisenschlos, 2020).

    Row $i$ of the ascending soft permutation is the projection onto the simplex
    of $-|s_i - a_j| / \tau$, where $s = \operatorname{sort}(a)$ and $\tau$ is
    the softness: the mass of position $i$ goes to the elements closest to the
    $i$-th smallest value. The projection is softmax for `"smooth"` and the
    sparse p-norm projections for `"c0"`, `"c1"`, `"c2"`
    (see `softeqx._projections.simplex`). A single row costs O(n) after one
    O(n log n) sort, which makes it the cheapest method for `argmax`/`max`.

    ??? cite "Reference"

        ```bibtex
        @inproceedings{prillo2020softsort,
          title={SoftSort: A Continuous Relaxation for the argsort Operator},
          author={Prillo, Sebastian and Eisenschlos, Julian},
          booktitle={International Conference on Machine Learning},
          year={2020}
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
        targets = jnp.take(jnp.sort(a, axis=-1), positions, axis=-1)
        scores = -jnp.abs(targets[..., :, None] - a[..., None, :]) / softness
        return project(scores, mode)

    def sorted_values(
        self,
        a: Float[Array, "*batch n"],
        v: Float[Array, "*batch n m"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k m"]:
        return chunked_rows_matmul(
            lambda p: self.rows(a, p, softness, mode), v, positions
        )

    def transpose_apply(
        self,
        a: Float[Array, "*batch n"],
        u: Float[Array, "*batch n m"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch n m"]:
        return chunked_rows_rmatmul(lambda p: self.rows(a, p, softness, mode), u)
