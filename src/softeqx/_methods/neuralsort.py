"""NeuralSort: the relaxed sort operator of Grover et al. (2019)."""

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._checks import SIGMOIDAL_MODES
from .._ops.sigmoidal import SIGMOIDS
from .._util import sort
from .score import AbstractLinearScoreMethod, _over_chunks


def _pair_sums(
    a_rows: Array, a: Array, ref: Array, softness: Array, mode: str
) -> Array:
    """`sum_k (|a_j - a_k|_soft - |ref - a_k|_soft)` for the rows `a_rows`, `(..., c)`.

    Each term is `d g - e h` with `d = a_j - a_k`, `e = ref - a_k`, `g, h` their
    soft signs, written as `(a_j - ref) g + e (g - h)`: far from `a_k` both signs
    are exactly +-1, so a distant outlier adds `+-(a_j - ref)` without rounding
    to its (large) distance. Plain sums `B_j` would carry an absolute error of
    about `eps * sum_k |a_j - a_k|`, which outliers make larger than the
    differences between nearby elements that decide their soft rows.
    """
    sign = SIGMOIDS[mode].sign
    d = a_rows[..., :, None] - a[..., None, :]
    e = (ref - a)[..., None, :]
    g = sign(d / softness)
    return jnp.sum((a_rows - ref)[..., :, None] * g + e * (g - sign(e / softness)), -1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def soft_deviation_sums(
    a: Float[Array, "*batch n"],
    ref: Float[Array, "*batch 1"],
    softness: Array,
    mode: str,
) -> Float[Array, "*batch n"]:
    r"""`B_j - B(ref)`, with `B_j = sum_k |a_j - a_k|_s` (soft `|.|` of `mode`).

    $|d|_s = d\,(2F(d/\tau) - 1)$ as in [`softeqx.abs`][]; `B(ref)` is the same
    sum for a reference point (a constant per row, which the projections
    ignore). Computed relative to `ref` so that values near `ref` keep their
    precision (see `_pair_sums`), in chunks of rows (O(n) memory per row), with
    a chunked backward pass.
    """
    n = a.shape[-1]

    def block(rows: Array) -> tuple[tuple, tuple[Array]]:
        return (), (_pair_sums(rows, a, ref, softness, mode),)

    return _over_chunks(block, n, n, [(a, -1, False)], (-1,))[1][0]


def _soft_deviation_sums_fwd(a: Array, ref: Array, softness: Array, mode: str):
    return soft_deviation_sums(a, ref, softness, mode), (a, ref, softness)


def _soft_deviation_sums_bwd(
    mode: str, residuals: tuple[Array, Array, Array], g: Array
):
    # The derivatives of `B_j - B(ref)` are those of `B_j` minus those of the
    # per-row constant `B(ref)`: no large terms cancel in them, so the pairs
    # take the plain (cheaper) form, and `B(ref)` adds `O(n)` work.
    a, ref, softness = residuals
    family = SIGMOIDS[mode]
    n = a.shape[-1]

    def block(a_rows: Array, g_rows: Array) -> tuple[tuple, tuple[Array]]:
        def sums(r: Array, c: Array, s: Array) -> Array:
            return jnp.sum(family.abs(r[..., :, None] - c[..., None, :], s), -1)

        d_rows, d_cols, d_s = jax.vjp(sums, a_rows, a, softness)[1](g_rows[..., 0])
        return (d_cols, d_s), (d_rows,)

    # Padding rows repeat the last element: their cotangents are masked.
    inputs = [(a, -1, False), (g[..., None], -2, True)]
    zeros = (jnp.zeros_like(a), jnp.zeros_like(softness))
    (d_cols, d_s), (d_rows,) = _over_chunks(block, n, n, inputs, (-1,), zeros)

    def offset(c: Array, o: Array, s: Array) -> Array:
        return jnp.sum(family.abs(o - c, s), -1, keepdims=True)

    _, pullback = jax.vjp(offset, a, ref, softness)
    d_c, d_ref, d_s_ref = pullback(-jnp.sum(g, axis=-1, keepdims=True))
    return d_rows + d_cols + d_c, d_ref, d_s + d_s_ref


soft_deviation_sums.defvjp(_soft_deviation_sums_fwd, _soft_deviation_sums_bwd)


class NeuralSort(AbstractLinearScoreMethod):
    r"""NeuralSort (Grover et al., 2019).

    Row $i$ (the $i$-th smallest, 0-based) of the ascending soft permutation is
    the projection onto the simplex of
    $$\theta_{ij} = \big((2i + 1 - n)\,a_j - B_j\big) / \tau,
    \qquad B_j = \textstyle\sum_k |a_j - a_k|_\tau,$$
    With the exact absolute value, the maximiser of row $i$ is exactly the
    element of rank $i$; the projection relaxes that choice (softmax for
    `"smooth"`, sparse p-norm projections for `"c0"`, `"c1"`, `"c2"`). As in
    SoftJAX, $B$ uses the soft absolute value of the same mode and softness
    ($|d|_\tau = d\,(2F(d/\tau) - 1)$, see [`softeqx.abs`][]), which makes the
    scores smooth in $a$ where the plain $|\cdot|$ has kinks at ties. Sorting
    costs O(n^2) time and, with rows built in chunks, O(n) memory per row of
    the batch.

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

    def columns(
        self, a: Float[Array, "*batch n"], softness: Array, mode: str
    ) -> tuple[Array, Array]:
        # Scores relative to the median: a constant shift of each row of
        # theta, which the projection ignores, that keeps float32 precision for
        # the elements near the centre however far the outliers are.
        ascending = sort(jax.lax.stop_gradient(a))
        low, high = (a.shape[-1] - 1) // 2, a.shape[-1] // 2
        ref = (ascending[..., low : low + 1] + ascending[..., high : high + 1]) / 2
        return a - ref, soft_deviation_sums(a, ref, softness, mode)

    def row_parameters(
        self, a: Float[Array, "*batch n"], positions: Int[Array, " k"]
    ) -> Float[Array, "*batch k"]:
        slope = (2 * positions + 1 - a.shape[-1]).astype(a.dtype)
        return jnp.broadcast_to(slope, (*a.shape[:-1], positions.shape[0]))
