"""Soft comparisons: each returns a SoftBool, the probability that it holds."""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Real

from .._checks import check_mode, float_dtypes
from .._custom_types import Mode, SoftBool
from .sigmoidal import AbstractSigmoid, soft_setup


def _hard(result: Array, *args: ArrayLike) -> SoftBool:
    return result.astype(float_dtypes(*args)[1])


def _step(
    x: ArrayLike,
    y: ArrayLike,
    softness: ArrayLike,
    mode: str,
    offset: float,
    flip: bool,
) -> SoftBool:
    """`F((x - y + offset) / s)`, or `F(-(x - y + offset) / s)` with `flip`."""
    family, x, s, out = soft_setup(x, softness, mode, y)
    z = (x - jnp.asarray(y).astype(x.dtype) + offset) / s
    return family.cdf(-z if flip else z).astype(out)


def greater(
    x: Real[ArrayLike, "..."],
    y: Real[ArrayLike, "..."],
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft $x > y$: $F((x - y - \epsilon) / s)$.

    The offset $\epsilon$ makes the limit strict: at $x = y$ the result tends to
    0 as `softness -> 0`, as `jnp.greater` gives.

    **Arguments:**

    - `x`, `y`: arrays (or scalars) that broadcast together.
    - `softness`: width of the transition ($s > 0$).
    - `mode`: `"hard"` (`jnp.greater` as floats), `"smooth"`, `"c0"`, `"c1"`, `"c2"`.
    - `epsilon`: the small offset that decides the limit at equality.

    **Returns:**

    A SoftBool of the broadcast shape.

    !!! Example

        ```python
        softeqx.greater(jnp.array([-0.2, 1.0]), jnp.array([0.2, -1.0]))
        # Array([0.018, 1.0])
        ```
    """
    if check_mode(mode) == "hard":
        return _hard(jnp.greater(x, y), x, y)
    return _step(x, y, softness, mode, -epsilon, flip=False)


def greater_equal(
    x: Real[ArrayLike, "..."],
    y: Real[ArrayLike, "..."],
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft $x \ge y$: $F((x - y + \epsilon) / s)$, tending to 1 at equality.

    Arguments and return as [`softeqx.greater`][]; `"hard"` is `jnp.greater_equal`.
    """
    if check_mode(mode) == "hard":
        return _hard(jnp.greater_equal(x, y), x, y)
    return _step(x, y, softness, mode, epsilon, flip=False)


def less(
    x: Real[ArrayLike, "..."],
    y: Real[ArrayLike, "..."],
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft $x < y$: one minus [`softeqx.greater_equal`][], tending to 0 at equality.

    Arguments and return as [`softeqx.greater`][]; `"hard"` is `jnp.less`.
    """
    if check_mode(mode) == "hard":
        return _hard(jnp.less(x, y), x, y)
    return _step(x, y, softness, mode, epsilon, flip=True)


def less_equal(
    x: Real[ArrayLike, "..."],
    y: Real[ArrayLike, "..."],
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft $x \le y$: one minus [`softeqx.greater`][], tending to 1 at equality.

    Arguments and return as [`softeqx.greater`][]; `"hard"` is `jnp.less_equal`.
    """
    if check_mode(mode) == "hard":
        return _hard(jnp.less_equal(x, y), x, y)
    return _step(x, y, softness, mode, -epsilon, flip=True)


def _closeness(
    family: AbstractSigmoid, d: Array, tol: Array, s: Array, epsilon: float
) -> Array:
    """Soft `|d| <= tol`, normalised so that `d = 0` gives exactly 1.

    `F((tol + eps - |d|_s) / s) / F((tol + eps) / s)` with the soft absolute
    value `|d|_s = d (2F(d/s) - 1) >= 0`: in `[0, 1]` for every tolerance.
    """
    top = tol + epsilon
    ratio = family.cdf((top - family.abs(d, s)) / s) / family.cdf(top / s)
    return jnp.minimum(ratio, 1.0)


def isclose(
    x: Real[ArrayLike, "..."],
    y: Real[ArrayLike, "..."],
    softness: ArrayLike = 0.1,
    rtol: float = 1e-05,
    atol: float = 1e-08,
    mode: Mode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft `jnp.isclose`: the soft truth of $|x - y| \le a + r|y|$.

    With $a$ = `atol`, $r$ = `rtol`, $\tau = a + r|y| + \epsilon$ and the soft
    absolute value $|d|_s = d\,(2F(d/s) - 1)$,
    $$\operatorname{isclose}(x, y) = \frac{F((\tau - |x - y|_s)/s)}{F(\tau / s)},$$
    which is exactly 1 at $x = y$, decreases with $|x - y|$, and stays in
    $[0, 1]$ for every tolerance (a plain $2F(\cdot)$ would exceed 1 once $\tau$
    is larger than the softness). With zero tolerance it is
    $2F(-|x - y|_s / s)$.

    **Arguments:**

    - `x`, `y`: arrays that broadcast together.
    - `softness`: width of the transition ($s > 0$).
    - `rtol`, `atol`: relative and absolute tolerance, as in `jnp.isclose`.
    - `mode`: `"hard"` (`jnp.isclose` as floats), `"smooth"`, `"c0"`, `"c1"`, `"c2"`.
    - `epsilon`: small offset added to the tolerance.

    **Returns:**

    A SoftBool of the broadcast shape.

    !!! Example

        ```python
        softeqx.isclose(jnp.array([-0.2, 0.3]), jnp.array([0.2, 0.5]))
        # Array([0.0414, 0.3580])
        ```
    """
    if check_mode(mode) == "hard":
        return _hard(jnp.isclose(x, y, rtol=rtol, atol=atol), x, y)
    family, x, s, out = soft_setup(x, softness, mode, y)
    y = jnp.asarray(y).astype(x.dtype)
    tol = atol + rtol * jnp.abs(y)
    return _closeness(family, x - y, tol, s, epsilon).astype(out)


def equal(
    x: Real[ArrayLike, "..."],
    y: Real[ArrayLike, "..."],
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft $x = y$: the soft truth of $|x - y| \le 0$, scaled to $[0, 1]$.

    $2F(-|x - y|_s / s)$ with the soft absolute value of [`softeqx.abs`][]
    (exactly 1 at $x = y$, see [`softeqx.isclose`][] with zero tolerance).

    Arguments and return as [`softeqx.greater`][]; `"hard"` is `jnp.equal`.

    !!! Example

        ```python
        softeqx.equal(jnp.array([-0.2, 0.3]), jnp.array([0.2, 0.5]))
        # Array([0.0414, 0.3580])
        ```
    """
    if check_mode(mode) == "hard":
        return _hard(jnp.equal(x, y), x, y)
    family, x, s, out = soft_setup(x, softness, mode, y)
    d = x - jnp.asarray(y).astype(x.dtype)
    return _closeness(family, d, jnp.zeros((), d.dtype), s, epsilon).astype(out)


def not_equal(
    x: Real[ArrayLike, "..."],
    y: Real[ArrayLike, "..."],
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft $x \ne y$: one minus [`softeqx.equal`][].

    Arguments and return as [`softeqx.greater`][]; `"hard"` is `jnp.not_equal`.
    """
    if check_mode(mode) == "hard":
        return _hard(jnp.not_equal(x, y), x, y)
    return 1 - equal(x, y, softness, mode, epsilon)
