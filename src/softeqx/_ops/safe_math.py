"""Math functions whose gradients stay finite at the edges of their domain.

Each uses the double-`where`: the unsafe function only ever sees inputs inside
its domain, and the boundary value is selected afterwards, so neither the value
nor the gradient is NaN or infinite. At the boundary the gradient is 0.
"""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Real

from .._checks import float_dtypes


def _float(x: ArrayLike) -> Array:
    return jnp.asarray(x).astype(float_dtypes(x)[1])


def sqrt(x: Real[ArrayLike, "*shape"]) -> Real[Array, "*shape"]:
    r"""$\sqrt{x}$ for $x > 0$, and 0 for $x \le 0$, with gradient 0 there.

    !!! Example

        ```python
        jax.grad(softeqx.sqrt)(0.0)  # 0.0, where jnp.sqrt gives inf
        ```
    """
    x = _float(x)
    safe = x > 0
    return jnp.where(safe, jnp.sqrt(jnp.where(safe, x, 1)), 0)


def log(x: Real[ArrayLike, "*shape"]) -> Real[Array, "*shape"]:
    r"""$\log x$ for $x > 0$, and 0 for $x \le 0$, with gradient 0 there."""
    x = _float(x)
    safe = x > 0
    return jnp.where(safe, jnp.log(jnp.where(safe, x, 1)), 0)


def div(x: Real[ArrayLike, "..."], y: Real[ArrayLike, "..."]) -> Real[Array, "..."]:
    r"""$x / y$ where $y \ne 0$, and 0 where $y = 0$, with gradient 0 there."""
    dtype = float_dtypes(x, y)[1]
    x, y = jnp.asarray(x).astype(dtype), jnp.asarray(y).astype(dtype)
    safe = y != 0
    return jnp.where(safe, x / jnp.where(safe, y, 1), 0)


def norm(
    x: Real[ArrayLike, "..."],
    axis: int | tuple[int, ...] | None = None,
    keepdims: bool = False,
) -> Real[Array, "..."]:
    r"""Euclidean norm $\sqrt{\sum x^2}$, with gradient 0 (not NaN) at the zero vector.

    **Arguments:**

    - `x`: input array.
    - `axis`: axis or axes to reduce; `None` reduces all.
    - `keepdims`: keep the reduced axes with size 1.
    """
    x = _float(x)
    return sqrt(jnp.sum(x * x, axis=axis, keepdims=keepdims))


def arcsin(x: Real[ArrayLike, "*shape"]) -> Real[Array, "*shape"]:
    r"""$\arcsin x$ for $|x| < 1$, and $\pm\pi/2$ for $|x| \ge 1$, gradient 0 there."""
    x = _float(x)
    safe = jnp.abs(x) < 1
    inner = jnp.arcsin(jnp.where(safe, x, 0))
    return jnp.where(safe, inner, jnp.sign(x) * (jnp.pi / 2))


def arccos(x: Real[ArrayLike, "*shape"]) -> Real[Array, "*shape"]:
    r"""$\arccos x$ for $|x| < 1$; 0 at $x \ge 1$ and $\pi$ at $x \le -1$ (gradient 0).

    (Values outside $[-1, 1]$ are treated as the nearest end of the domain.)
    """
    x = _float(x)
    safe = jnp.abs(x) < 1
    inner = jnp.arccos(jnp.where(safe, x, 0))
    return jnp.where(safe, inner, jnp.where(x > 0, 0, jnp.pi))
