"""A bitonic sorting network of soft compare-and-swap units."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._checks import SIGMOIDAL_MODES
from .._ops.sigmoidal import SIGMOIDS
from .._util import inverse_permutation
from .base import AbstractValueSortingMethod


@functools.lru_cache(maxsize=64)
def bitonic_layers(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The comparators of an ascending bitonic network for `n` elements.

    `n` is padded to a power of two `N` with virtual elements larger than any
    input. Returns `(low, high, fixed)`, each of shape `(layers, N // 2)`: after
    a layer, position `low` holds the smaller and `high` the larger of the two.
    Whether a position holds a padding element is the same for every input
    (padding always loses), so comparators that involve padding are resolved
    here: `fixed` is 1 (keep), 0 (swap) or NaN (a real, soft comparison).
    """
    size = 1 << max(n - 1, 0).bit_length()
    padding = np.arange(size) >= n
    lows, highs, fixeds = [], [], []
    k = 2
    while k <= size:
        j = k // 2
        while j >= 1:
            i = np.arange(size)
            partner = i ^ j
            first = i[partner > i]
            second = first ^ j
            ascending = (first & k) == 0
            low = np.where(ascending, first, second)
            high = np.where(ascending, second, first)
            fixed = np.full(low.shape, np.nan)
            fixed[padding[low] & ~padding[high]] = 0.0  # the real element moves low
            fixed[~padding[low] & padding[high]] = 1.0
            fixed[padding[low] & padding[high]] = 1.0
            both, either = padding[low] & padding[high], padding[low] | padding[high]
            padding = padding.copy()
            padding[low], padding[high] = both, either
            lows.append(low)
            highs.append(high)
            fixeds.append(fixed)
            j //= 2
        k *= 2
    if not lows:  # n == 1: no comparator
        empty = np.zeros((0, size // 2 if size > 1 else 0), dtype=np.int32)
        return empty, empty, empty.astype(float)
    return np.stack(lows), np.stack(highs), np.stack(fixeds)


def _apply_layer(values: Array, low: Array, high: Array, keep: Array) -> Array:
    """Mix pairs: `low <- keep * v[low] + (1 - keep) * v[high]`, symmetric for `high`.

    `values` is `(..., N, m)`, `keep` is `(..., N // 2)`.
    """
    u = jnp.take(values, low, axis=-2)
    w = jnp.take(values, high, axis=-2)
    keep = keep[..., None]
    new_low = w + keep * (u - w)
    new_high = u + keep * (w - u)
    order = jnp.concatenate([low, high])
    inverse = inverse_permutation(order)
    return jnp.take(jnp.concatenate([new_low, new_high], axis=-2), inverse, axis=-2)


class SortingNetwork(AbstractValueSortingMethod):
    r"""A bitonic sorting network with soft compare-and-swap units.

    Each comparator of Batcher's bitonic network replaces `(min, max)` of its
    inputs $(u, w)$ by a convex combination with weight
    $p = F((w - u) / \tau)$, the sigmoidal family of the mode:
    $\min \approx p u + (1 - p) w$, $\max \approx (1 - p) u + p w$. Every unit
    preserves the sum and the network has $O(\log^2 n)$ layers of $n/2$ units,
    so sorting costs $O(n \log^2 n)$ time and memory. Any $n$ works: the input
    is padded to a power of two with virtual elements that are larger than
    everything and never take part in a soft comparison, so nothing leaks from
    the padding.

    The network sorts values, not indices: `sort`, `max`, `min`, `top_k` values
    and quantiles are the network's outputs. With `standardize=True` the network
    runs on the standardised scores and its outputs are mapped back through the
    inverse of the standardisation; with `standardize=False` it sorts `x`
    itself and every output is a convex combination that preserves the sum
    exactly. With a large softness the outputs of a soft bitonic network need
    not come out in order; they are put in non-decreasing order at the end
    (a permutation of the rows of the soft permutation, which keeps it doubly
    stochastic and the sorted values continuous). The soft permutation is the
    product of the layers' (symmetric) mixing matrices and that reordering;
    its rows and its transpose are applied by running the layers backwards,
    also in $O(n \log^2 n)$ per row.

    ??? cite "Reference"

        ```bibtex
        @inproceedings{petersen2021diffsort,
          title={Differentiable Sorting Networks for Scalable Sorting
                 and Ranking Supervision},
          author={Petersen, Felix and Borgelt, Christian and Kuehne, Hilde
                  and Deussen, Oliver},
          booktitle={International Conference on Machine Learning},
          year={2021}
        }
        ```
    """

    modes = SIGMOIDAL_MODES

    def _forward(
        self, a: Array, v: Array, softness: Array, mode: str
    ) -> tuple[Array, Array, Array]:
        """Run the network on keys `a` with payload `v`.

        Returns the payload, the layers' weights and `order`, the permutation
        that puts the network's output keys in non-decreasing order (see the
        class docstring).
        """
        n = a.shape[-1]
        low, high, fixed = bitonic_layers(n)
        size = 1 << max(n - 1, 0).bit_length()
        pad = [(0, 0)] * (a.ndim - 1) + [(0, size - n)]
        keys = jnp.pad(a, pad)[..., None]
        payload = jnp.pad(v, [*pad, (0, 0)])
        if low.shape[0] == 0:
            keeps = jnp.zeros((0, *a.shape[:-1], 0), a.dtype)
            return payload[..., :n, :], keeps, jnp.zeros(a.shape, jnp.int32)
        family = SIGMOIDS[mode]

        def layer(carry: tuple[Array, Array], layout: tuple[Array, Array, Array]):
            keys, payload = carry
            lo, hi, fix = layout
            u = jnp.take(keys[..., 0], lo, axis=-1)
            w = jnp.take(keys[..., 0], hi, axis=-1)
            soft = jnp.isnan(fix)
            fix = jnp.where(soft, 0, fix)
            keep = jnp.where(soft, family.cdf((w - u) / softness), fix).astype(a.dtype)
            keys = _apply_layer(keys, lo, hi, keep)
            payload = _apply_layer(payload, lo, hi, keep)
            return (keys, payload), keep

        layout = (jnp.asarray(low), jnp.asarray(high), jnp.asarray(fixed, a.dtype))
        (keys, payload), keeps = jax.lax.scan(layer, (keys, payload), layout)
        order = jnp.argsort(jax.lax.stop_gradient(keys[..., :n, 0]), axis=-1)
        payload = jnp.take_along_axis(payload[..., :n, :], order[..., None], axis=-2)
        return payload, keeps, order

    def _backward(self, keeps: Array, order: Array, u: Array) -> Array:
        """Apply the transposed network (layers reversed) to `u`, `(..., n, m)`."""
        n = u.shape[-2]
        # Undo the final reordering: row `order[i]` of the network's output
        # receives `u[i]`.
        u = jnp.take_along_axis(u, inverse_permutation(order)[..., None], axis=-2)
        low, high, _ = bitonic_layers(n)
        if low.shape[0] == 0:
            return u
        size = 1 << max(n - 1, 0).bit_length()
        pad = [(0, 0)] * (u.ndim - 2) + [(0, size - n), (0, 0)]

        def layer(
            values: Array, layout: tuple[Array, Array, Array]
        ) -> tuple[Array, None]:
            lo, hi, keep = layout
            return _apply_layer(values, lo, hi, keep), None

        layout = (jnp.asarray(low)[::-1], jnp.asarray(high)[::-1], keeps[::-1])
        out, _ = jax.lax.scan(layer, jnp.pad(u, pad), layout)
        return out[..., :n, :]

    def rows(
        self,
        a: Float[Array, "*batch n"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k n"]:
        n = a.shape[-1]
        picks = jnp.broadcast_to(
            jax.nn.one_hot(positions, n, dtype=a.dtype).T,
            (*a.shape[:-1], n, positions.shape[0]),
        )
        return jnp.swapaxes(self.transpose_apply(a, picks, softness, mode), -1, -2)

    def sorted_values(
        self,
        a: Float[Array, "*batch n"],
        v: Float[Array, "*batch n m"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k m"]:
        out, _, _ = self._forward(a, v, softness, mode)
        return jnp.take(out, positions, axis=-2)

    def transpose_apply(
        self,
        a: Float[Array, "*batch n"],
        u: Float[Array, "*batch n m"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch n m"]:
        empty = jnp.zeros((*a.shape, 0), a.dtype)
        _, keeps, order = self._forward(a, empty, softness, mode)
        return self._backward(keeps, order, u)
