"""SoftSort: each row is a projection of the distances to one sorted value."""

import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._checks import SIGMOIDAL_MODES
from .score import AbstractScoreMethod


class SoftSort(AbstractScoreMethod):
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

    def columns(
        self, a: Float[Array, "*batch n"], softness: Array, mode: str
    ) -> Float[Array, "*batch n"]:
        return a

    def row_parameters(
        self, a: Float[Array, "*batch n"], positions: Int[Array, " k"]
    ) -> Float[Array, "*batch k"]:
        return jnp.take(jnp.sort(a, axis=-1), positions, axis=-1)

    def score(self, rows: Array, columns: Array, softness: Array) -> Array:
        return -jnp.abs(rows - columns) / softness

    def score_pullback(
        self, rows: Array, columns: Array, softness: Array, theta: Array, dtheta: Array
    ) -> tuple[Array, Array, Array]:
        signed = (
            dtheta * jnp.sign(rows[..., :, None] - columns[..., None, :]) / softness
        )
        d_softness = -jnp.sum(dtheta * theta) / softness
        return -jnp.sum(signed, axis=-1), jnp.sum(signed, axis=-2), d_softness
