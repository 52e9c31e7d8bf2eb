"""SoftSort: each row is a projection of the distances to one sorted value."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._checks import SIGMOIDAL_MODES
from .._projections.simplex import POWERS
from .._util import argsort, inverse_permutation
from . import softsort_piecewise as piecewise
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

    In `"smooth"` mode the kernel $e^{-|s_i - a_j| / \tau}$ splits at row
    $i$'s own element into two geometric sums along the sorted scores, so the
    sorted payload $P v$ and the products $P^\top u$ behind the ranks take
    O(n log n) time in all (two linear recurrences, see `laplace_sums`)
    instead of O(n^2). In the piecewise modes each row's support is a run of
    sorted neighbours and its entries are truncated powers of the distances,
    so the same products take O(n log n) time too, by range sums over a
    segment tree (see `softsort_piecewise`), for rows of `MIN_SIZE` elements
    or more. Only the explicit SoftIndex rows are O(n) per row.

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
        ascending = jnp.take_along_axis(a, argsort(a), axis=-1)
        return jnp.take(ascending, positions, axis=-1)

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

    def sorted_values(
        self,
        a: Float[Array, "*batch n"],
        v: Float[Array, "*batch n m"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k m"]:
        if _dense(a, mode):
            return super().sorted_values(a, v, positions, softness, mode)
        order = argsort(a)
        s = jnp.take_along_axis(a, order, axis=-1)
        payload = jnp.take_along_axis(v, order[..., None], axis=-2)
        if mode != "smooth":
            return piecewise.apply_rows(s / softness, payload, positions, POWERS[mode])
        ones = jnp.ones_like(payload[..., :1])
        sums = laplace_sums(s, jnp.concatenate([payload, ones], -1), softness)
        sums = jnp.take(sums, positions, axis=-2)
        return sums[..., :-1] / sums[..., -1:]

    def transpose_apply(
        self,
        a: Float[Array, "*batch n"],
        u: Float[Array, "*batch n m"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch n m"]:
        if _dense(a, mode):
            return super().transpose_apply(a, u, softness, mode)
        order = argsort(a)
        s = jnp.take_along_axis(a, order, axis=-1)
        if mode != "smooth":
            sums = piecewise.apply_columns(s / softness, u, POWERS[mode])
        else:
            # Row i (position i, centred on s_i) divided by its normaliser, then
            # summed over rows at each sorted element.
            totals = laplace_sums(s, jnp.ones_like(s)[..., None], softness)
            sums = laplace_sums(s, u / totals, softness)
        inverse = inverse_permutation(order)
        return jnp.take_along_axis(sums, inverse[..., None], axis=-2)


def _dense(a: Array, mode: str) -> bool:
    """Whether a piecewise mode on rows this short takes the dense path."""
    return mode != "smooth" and a.shape[-1] < piecewise.MIN_SIZE


def _decayed_prefix_sums(decay: Array, w: Array, reverse: bool = False) -> Array:
    """`x_i = decay_i x_{i-1} + w_i` along axis -2 (`decay_0` is ignored), or
    `x_i = decay_i x_{i+1} + w_i` if `reverse` (the last `decay` is ignored).

    A sequential `lax.scan`: as fast as a parallel prefix scan on CPU here,
    and it compiles in a fraction of the time.
    """

    def step(x: Array, dw: tuple[Array, Array]) -> tuple[Array, Array]:
        x = dw[0] * x + dw[1]
        return x, x

    decay = jnp.moveaxis(jnp.broadcast_to(decay, w.shape), -2, 0)
    init = jnp.zeros_like(w[..., 0, :])
    _, out = jax.lax.scan(step, init, (decay, jnp.moveaxis(w, -2, 0)), reverse=reverse)
    return jnp.moveaxis(out, 0, -2)


def _two_sided(decay: Array, w: Array) -> tuple[Array, Array]:
    """`(L, A)`: decayed sums of `w` over `j <= i` and over `j > i` (positions),
    where `decay[i]` (`(..., n - 1, 1)`) links positions `i` and `i + 1`."""
    pad = jnp.zeros((*decay.shape[:-2], 1, decay.shape[-1]), decay.dtype)
    lower = _decayed_prefix_sums(jnp.concatenate([pad, decay], -2), w)
    upper = _decayed_prefix_sums(jnp.concatenate([decay, pad], -2), w, reverse=True)
    above = jnp.concatenate(
        [decay * upper[..., 1:, :], jnp.zeros_like(w[..., :1, :])], -2
    )
    return lower, above


def _kernel_sums(s: Array, w: Array, softness: Array) -> tuple[Array, Array]:
    """`_two_sided` for the kernel `exp(-|s_i - s_j| / softness)`."""
    return _two_sided(jnp.exp(-jnp.diff(s, axis=-1)[..., None] / softness), w)


@jax.custom_vjp
def laplace_sums(
    s: Float[Array, "*batch n"], w: Float[Array, "*batch n m"], softness: Array
) -> Float[Array, "*batch n m"]:
    r"""$\sum_j e^{-|s_i - s_j| / \tau} w_j$ for every $i$, with `s` ascending.

    Split at $i$: the elements at or below $i$ give
    $L_i = e^{-(s_i - s_{i-1}) / \tau} L_{i-1} + w_i$, those above give
    $A_i = e^{-(s_{i+1} - s_i) / \tau} (A_{i+1} + w_{i+1})$. Both recurrences
    multiply by factors in $[0, 1]$ only, so nothing overflows and rounding
    errors are not amplified, at any softness.

    The pullback is written out rather than differentiated through the
    recurrences: the kernel is symmetric, so the cotangent of `w` is the same
    sums of the cotangent `g`, and that of `s` needs the signed sums
    $\sum_j \operatorname{sign}(s_i - s_j) e^{-|s_i - s_j| / \tau} w_j$,
    which are `L - A` less the element itself and its exact ties
    ($\operatorname{sign}(0) = 0$, the symmetric derivative at the kink, so
    tied elements get equal gradients whatever their order). The kernel
    depends on `s / tau` only, which gives the softness's cotangent from
    that of `s`. Two recurrences forward, four backward.
    """
    return _laplace_sums_fwd(s, w, softness)[0]


def _laplace_sums_fwd(s: Array, w: Array, softness: Array):
    lower, above = _kernel_sums(s, w, softness)
    return lower + above, (s, w, softness, lower, above)


def _laplace_sums_bwd(residuals, g: Array):
    s, w, softness, lower, above = residuals
    lower_g, above_g = _kernel_sums(s, g, softness)
    # The sums over the exact ties strictly before / after each position, of
    # `w` and `g` together: the same recurrences with factors 1 within a run
    # of equal `s` and 0 across.
    same = (jnp.diff(s, axis=-1) == 0).astype(w.dtype)[..., None]
    both = jnp.concatenate([w, g], -1)
    up_to, after = _two_sided(same, both)
    before = up_to - both
    m = w.shape[-1]
    signed_w = (lower - w - before[..., :m]) - (above - after[..., :m])
    signed_g = (lower_g - g - before[..., m:]) - (above_g - after[..., m:])
    d_s = -(jnp.sum(g * signed_w, -1) + jnp.sum(w * signed_g, -1)) / softness
    # Scale invariance, `sum_i s_i d/ds_i + tau d/dtau = 0`, about a central
    # element (the cotangents of `s` sum to 0) to keep precision.
    centre = s[..., s.shape[-1] // 2 : s.shape[-1] // 2 + 1]
    d_softness = -jnp.sum((s - centre) * d_s) / softness
    return d_s, lower_g + above_g, jnp.broadcast_to(d_softness, jnp.shape(softness))


laplace_sums.defvjp(_laplace_sums_fwd, _laplace_sums_bwd)
