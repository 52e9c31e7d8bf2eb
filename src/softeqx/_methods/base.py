"""The interface every ordering method implements, and the helpers they share.

A method turns standardised scores `a` (shape `(..., n)`, ordering along the
last axis) into a soft permutation matrix `P` of shape `(..., n, [n])`: row `i`
is a distribution over the elements for the `i`-th smallest position
(ascending; the ops flip it for descending orders). A method never has to build
all of `P`; it answers three questions about it:

- `rows(a, positions)`: the rows `P[positions]`, a SoftIndex `(..., k, [n])`;
- `sorted_values(a, v, positions)`: `P[positions] @ v` for payload columns `v`;
- `transpose_apply(a, u)`: `P^T @ u`, used for ranks.

The row-based methods compute rows in chunks (`chunked_rows_matmul`,
`chunked_rows_rmatmul`), so memory grows linearly in `n` and the backward pass
recomputes each chunk instead of storing an `n x n` matrix.
"""

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._checks import SIGMOIDAL_MODES, check_mode


# Largest number of matrix entries per batch row that one chunk may hold.
CHUNK_ENTRIES = 2**16


class AbstractOrderingMethod(eqx.Module):
    """A strategy for building soft permutations; subclass it to add a method.

    Concrete methods are final `eqx.Module`s whose fields are their settings
    (iteration counts, tolerances); pass an instance as `method=` to any
    ordering op.
    """

    modes: eqx.AbstractClassVar[tuple[str, ...]]

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


SMOOTHNESS_MODES = SIGMOIDAL_MODES


def chunk_size(n: int) -> int:
    return max(1, min(n, CHUNK_ENTRIES // max(n, 1)))


def _chunks(positions: Array, size: int) -> tuple[Array, int]:
    """Pad `positions` to a multiple of `size` (repeating the last) and split."""
    k = positions.shape[0]
    count = -(-k // size)
    padded = jnp.concatenate(
        [positions, jnp.full((count * size - k,), positions[-1], positions.dtype)]
    )
    return padded.reshape(count, size), k


RowsFn = Callable[[Array], Array]


def chunked_rows_matmul(rows: RowsFn, v: Array, positions: Array) -> Array:
    """`P[positions] @ v` from a function computing rows, chunk by chunk."""
    n = v.shape[-2]
    size = chunk_size(n)
    if positions.shape[0] <= size:
        return rows(positions) @ v

    @jax.checkpoint
    def block(chunk: Array) -> Array:
        return rows(chunk) @ v

    chunks, k = _chunks(positions, size)
    out = jax.lax.map(block, chunks)  # (count, ..., size, m)
    out = jnp.moveaxis(out, 0, -3)
    out = out.reshape(*out.shape[:-3], -1, out.shape[-1])
    return out[..., :k, :]


def chunked_rows_rmatmul(rows: RowsFn, u: Array) -> Array:
    """`P^T @ u` from a function computing rows, accumulated chunk by chunk."""
    n = u.shape[-2]
    size = chunk_size(n)
    positions = jnp.arange(n)
    if n <= size:
        return jnp.swapaxes(rows(positions), -1, -2) @ u

    @jax.checkpoint
    def block(chunk: Array) -> Array:
        weights = jnp.take(u, chunk, axis=-2)  # (..., size, m)
        # Padding repeats the last position: count it once.
        first = jnp.concatenate([jnp.ones((1,), bool), chunk[1:] != chunk[:-1]])
        weights = jnp.where(first[:, None], weights, 0)
        return jnp.swapaxes(rows(chunk), -1, -2) @ weights

    chunks, _ = _chunks(positions, size)

    def step(total: Array, chunk: Array) -> tuple[Array, None]:
        return total + block(chunk), None

    total, _ = jax.lax.scan(step, jnp.zeros_like(u), chunks)
    return total
