"""A C-infinity soft permutation from elementary symmetric polynomials."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._util import inverse_permutation, tie_mean
from .base import AbstractOrderingMethod


SMOOTH_ONLY = ("smooth",)


def _log_esp(z: Array) -> Array:
    """`log e_k(exp(z))` for `k = 0..n` (a 1-D `z`), by the stable log-space recursion.

    `e_k^{(j)} = e_k^{(j-1)} + x_j e_{k-1}^{(j-1)}` over the elements `j`; empty
    sums are a large finite negative number instead of `-inf`, so that
    derivatives stay finite.
    """
    n = z.shape[0]
    empty = -0.25 * jnp.finfo(z.dtype).max
    init = jnp.full(n + 1, empty, z.dtype).at[0].set(0)

    def step(log_e: Array, zj: Array) -> tuple[Array, None]:
        shifted = jnp.concatenate([jnp.full(1, empty, z.dtype), log_e[:-1] + zj])
        return jnp.logaddexp(log_e, jnp.maximum(shifted, empty)), None

    log_e, _ = jax.lax.scan(step, init, z)
    return log_e


def _top_k_sums(a: Array, softness: Array) -> Array:
    """Smoothed top-k sums `eps log e_k(exp(a / eps))`, for `k = 0..n`."""
    shift = jax.lax.stop_gradient(jnp.max(a))
    k = jnp.arange(a.shape[0] + 1).astype(a.dtype)
    return softness * _log_esp((a - shift) / softness) + k * shift


def _matrix_row(a: Array, softness: Array) -> Array:
    """The ascending soft permutation matrix of a 1-D `a`, `(n, n)`."""
    # inclusion[k, i]: probability that i is among the k largest, k = 0..n.
    inclusion = jax.jacfwd(_top_k_sums)(a, softness)
    by_rank = inclusion[1:] - inclusion[:-1]  # row k: the (k+1)-th largest
    return jnp.flip(by_rank, axis=0)


def soft_permutation(
    a: Float[Array, "*batch n"], softness: Array
) -> Float[Array, "*batch n n"]:
    """The whole ascending soft permutation matrix of `SmoothSort`.

    The ESP recursion runs over the scores in ascending order, and the columns
    are put back afterwards: the matrix is a symmetric function of the scores,
    and a canonical order makes its float rounding (and so the output) exactly
    equivariant under permutations of the input; the columns of exactly tied
    scores are averaged, so that their order does not matter either. The order
    and the ties are piecewise constant, so they carry no gradient.
    """
    n = a.shape[-1]
    order = jnp.argsort(jax.lax.stop_gradient(a), axis=-1)
    ascending = jnp.take_along_axis(a, order, axis=-1)
    flat = ascending.reshape(-1, n)
    sorted_columns = jax.vmap(_matrix_row, in_axes=(0, None))(flat, softness)
    sorted_columns = sorted_columns.reshape(*a.shape, n)
    # Tied scores have equal columns in exact arithmetic, but the recursion
    # meets them at different steps, and float32 rounding of the differences
    # of inclusion probabilities reaches 1e-3 for clustered scores: each tied
    # column gets the mean of its run, so that tied elements are exchangeable
    # (and the output exactly equivariant) whatever their input order.
    sorted_columns = tie_mean(ascending[..., None, :], sorted_columns)
    inverse = inverse_permutation(order)
    return jnp.take_along_axis(sorted_columns, inverse[..., None, :], axis=-1)


class SmoothSort(AbstractOrderingMethod):
    r"""A $C^\infty$ soft permutation from the permutahedron's top-k faces.

    The sum of the $k$ largest scores, $T_k(a) = \max_{|S| = k} \sum_{i \in S}
    a_i$, is smoothed by entropy over the $k$-subsets:
    $T_k^\varepsilon(a) = \varepsilon \log e_k(e^{a / \varepsilon})$, with
    $e_k$ the $k$-th elementary symmetric polynomial (ESP). Its gradient
    $\pi^{(k)} = \nabla T_k^\varepsilon$ holds the inclusion probabilities of
    the maximum-entropy distribution over $k$-subsets (conditional Poisson
    sampling); it lies in the $k$-hypersimplex, and the soft ranks
    $\sum_k \pi^{(k)}$ lie in the permutahedron, whose support function is
    $\sum_k T_k$. The soft permutation matrix has rows
    $P_k = \pi^{(k)} - \pi^{(k-1)}$ (the $k$-th largest position): rows and
    columns sum to 1, every entry is a $C^\infty$ function of the scores and
    the softness, and $P$ becomes the hard permutation as
    $\varepsilon \to 0$. All ops use it: sorted values $P x$, ranks from
    $P^T$, rows as soft indices.

    Only `mode="smooth"` exists (entropy is what makes it $C^\infty$); other
    modes raise a `ValueError`. The ESPs are computed in log space with a
    finite floor, so values and gradients stay finite at tiny softness. Cost:
    $O(n^2)$ per ESP pass and $n$ forward-mode passes for the matrix,
    $O(n^3)$ time and $O(n^2)$ memory per row: meant for small and moderate
    $n$ (use `"fast_soft_sort"` for large $n$).

    ??? cite "Reference"

        Conditional Poisson sampling and elementary symmetric polynomials:
        Chen, Dempster & Liu, "Weighted finite population sampling to maximize
        entropy", Biometrika 81(3), 1994. Permutahedron as a sum of
        hypersimplices, and soft sorting as its regularised linear program:
        Blondel, Teboul, Berthet & Djolonga, "Fast Differentiable Sorting and
        Ranking", ICML 2020.
    """

    modes = SMOOTH_ONLY

    def check_mode(self, mode: str) -> str:
        if mode not in SMOOTH_ONLY:
            raise ValueError(
                f"`mode`={mode!r} is not supported by the smooth_sort method: it "
                "only supports mode='smooth' (use 'fast_soft_sort' for the "
                "'c0', 'c1', 'c2' regularisers)."
            )
        return mode

    def rows(
        self,
        a: Float[Array, "*batch n"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k n"]:
        self.check_mode(mode)
        return jnp.take(soft_permutation(a, softness), positions, axis=-2)

    def sorted_values(
        self,
        a: Float[Array, "*batch n"],
        v: Float[Array, "*batch n m"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k m"]:
        return self.rows(a, positions, softness, mode) @ v

    def transpose_apply(
        self,
        a: Float[Array, "*batch n"],
        u: Float[Array, "*batch n m"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch n m"]:
        self.check_mode(mode)
        return jnp.swapaxes(soft_permutation(a, softness), -1, -2) @ u
