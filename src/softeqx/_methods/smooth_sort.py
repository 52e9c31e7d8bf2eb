"""A C-infinity soft permutation from elementary symmetric polynomials."""

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._util import inverse_permutation, tie_mean
from .base import AbstractOrderingMethod


SMOOTH_ONLY = ("smooth",)


def _big(dtype: jnp.dtype) -> float:
    """`M`, the size of the undefined log-ratios: finite, and far beyond any
    score / softness."""
    return 0.25 * float(jnp.finfo(dtype).max)


def _log_esp_ratios(z: Array) -> Array:
    """`log(e_k / e_{k-1})` for `k = 1..n`, minus `z_{k-1}` in value but not in
    derivative, with `e_k` the elementary symmetric polynomials of `exp(z)`,
    for a 1-D `z` in descending order.

    Adding an element `x = exp(z_j)` maps the ratios `rho_k = e_k / e_{k-1}`
    to `rho_{k-1} (rho_k + x) / (rho_{k-1} + x)` (`rho_1 + x` for `k = 1`).
    In logs, centred on `c_k = z_{k-1}`, `D_k = log rho_k - c_k` becomes

    `logaddexp(D_k, z_j - c_k) - softplus(z_j - c_{k-1} - D_{k-1})`,

    without the second term for `k = 1`. Every quantity here is a difference
    of scores or a centred ratio of size at most about `log n`, never a
    log-ESP itself (which grows like `sum z`, and keeps only its leading
    digits in float32). The centres carry no derivative (only `z_j` does, one
    row per step), so the derivative is that of `log rho_k`.

    Ratios not defined yet (`k > j + 1` after `j + 1` elements) start at a
    large finite negative number `-M` (not `-inf`, so that no derivative is
    NaN), and the same update keeps them there with no derivative: the first
    term is then `z_j - c_k` and the second `z_j - c_{k-1} + M`. The first
    ratio's missing second term comes from `D_0 = +M`.
    """
    n = z.shape[0]
    big = _big(z.dtype)
    centres = jax.lax.stop_gradient(z)
    before = jnp.concatenate([centres[:1], centres[:-1]])  # c_{k-1}; any for k = 1

    def step(d: Array, zj: Array) -> tuple[Array, None]:
        return _ratio_step(d, zj, centres, before), None

    def segment(d: Array, zs: Array) -> tuple[Array, None]:
        return jax.lax.scan(step, d, zs)[0], None

    # In segments of about sqrt(n) steps, each recomputed in the backward pass:
    # reverse mode then keeps the n x n derivatives at the start of each
    # segment and within one segment, O(n^2.5) memory instead of O(n^3).
    # Elements `exp(-M) = 0` pad the last segment; they change no ratio.
    length = math.isqrt(n - 1) + 1  # ceil(sqrt(n)), for n >= 1
    count = -(-n // length)
    padded = jnp.concatenate([z, jnp.full(count * length - n, -big, z.dtype)])
    d, _ = jax.lax.scan(
        jax.checkpoint(segment), jnp.full_like(z, -big), padded.reshape(count, length)
    )
    return d


def _ratio_step_parts(
    d: Array, zj: Array, centres: Array, before: Array
) -> tuple[Array, Array, Array, Array]:
    """One step of `_log_esp_ratios`, and the slopes of its two terms."""
    d_before = jnp.concatenate([jnp.full_like(d[:1], _big(d.dtype)), d[:-1]])
    grown = jnp.logaddexp(d, zj - centres)
    shrunk = zj - before - d_before
    new = grown - jax.nn.softplus(shrunk)
    return (
        new,
        jnp.exp(d - grown),
        jnp.exp(zj - centres - grown),
        jax.nn.sigmoid(shrunk),
    )


@jax.custom_jvp
def _ratio_step(d: Array, zj: Array, centres: Array, before: Array) -> Array:
    return _ratio_step_parts(d, zj, centres, before)[0]


@_ratio_step.defjvp
def _ratio_step_jvp(primals, tangents):
    # The matrix is this step's derivative carried over n directions, so its
    # cost is this rule's: one fused multiply-add of the direction rows, where
    # the two generic rules (logaddexp, softplus) measured twice as slow in
    # the reverse pass. The centres carry no derivative (see above).
    new, keep, enter, leave = _ratio_step_parts(*primals)
    d_dot, zj_dot = tangents[:2]
    before_dot = jnp.concatenate([jnp.zeros_like(d_dot[:1]), d_dot[:-1]])
    return new, keep * d_dot + leave * before_dot + (enter - leave) * zj_dot


def _matrix_row(a: Array, softness: Array) -> Array:
    """The ascending soft permutation matrix of a 1-D ascending `a`, `(n, n)`.

    With the scores in descending order, row `k` (the `k`-th largest) is
    `pi_k - pi_{k-1}`, the difference of the gradients of the smoothed top-k
    sums `eps log e_k(exp(a / eps))`: the gradient in `z = a / eps` of
    `log(e_k / e_{k-1})`, which `_log_esp_ratios` gives directly. No
    difference of two nearly equal probabilities is ever formed.
    """
    by_rank = jax.jacfwd(_log_esp_ratios)(jnp.flip(a) / softness)
    return jnp.flip(by_rank, axis=(0, 1))


def soft_permutation(
    a: Float[Array, "*batch n"], softness: Array
) -> Float[Array, "*batch n n"]:
    """The whole ascending soft permutation matrix of `SmoothSort`.

    The ESP recursion runs over the scores in sorted order, and the columns
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
    # meets them at different steps, so their rounding differs: each tied
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
    modes raise a `ValueError`. The recursion runs on the ratios
    $e_k / e_{k-1}$ in log space, each centred on the $k$-th largest score,
    and row $k$ is the derivative of $\log(e_k / e_{k-1})$: no log-ESP (of
    size $\sum_i a_i / \varepsilon$) and no difference of two inclusion
    probabilities is ever formed, so float32 keeps the entries within
    $5 \cdot 10^{-7}$ of float64 (measured up to $n = 512$), and values and
    gradients stay finite at tiny softness. Cost: $O(n^2)$ per recursion and
    $n$ forward-mode directions for the matrix, $O(n^3)$ time per row, and
    $O(n^2)$ memory for the values but $O(n^{5/2})$ for their gradient
    (reverse mode keeps the $n \times n$ derivatives every $\sqrt{n}$ steps
    and recomputes the rest): meant for small and moderate $n$ (use
    `"fast_soft_sort"` for large $n$).

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
