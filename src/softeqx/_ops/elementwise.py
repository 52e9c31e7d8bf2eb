"""Soft versions of elementwise functions with kinks or jumps."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Real

from .._checks import check_mode, check_positive_int
from .._custom_types import Mode, SoftBool
from .sigmoidal import relu_core, soft_setup


def heaviside(
    x: Real[ArrayLike, "*shape"],
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
) -> SoftBool:
    r"""Soft Heaviside step: 0 for $x < 0$, 1 for $x > 0$, 1/2 at 0.

    Soft modes return [`softeqx.sigmoidal`][]`(x, softness, mode)`, which
    converges to the step as `softness -> 0`.

    **Arguments:**

    - `x`: input array.
    - `softness`: width of the transition ($s > 0$).
    - `mode`: `"hard"` for `jnp.heaviside(x, 0.5)`, or a smoothness family
      (`"smooth"`, `"c0"`, `"c1"`, `"c2"`).

    **Returns:**

    A SoftBool of the shape of `x`.

    !!! Example

        ```python
        softeqx.heaviside(jnp.array([-0.2, -1.0, 0.3, 1.0]))
        # Array([0.1192, 0.0000, 0.9526, 1.0000])
        ```
    """
    if check_mode(mode) == "hard":
        return jnp.heaviside(x, 0.5)
    family, x, s, out = soft_setup(x, softness, mode)
    return family.cdf(x / s).astype(out)


def sign(
    x: Real[ArrayLike, "*shape"],
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
) -> Real[Array, "*shape"]:
    r"""Soft sign, with values in $[-1, 1]$.

    Soft modes return $2 F(x/s) - 1$ with $F$ the family's S-curve ($\tanh(x/2s)$
    for `"smooth"`); `"hard"` returns `jnp.sign(x)`.

    **Arguments:**

    - `x`: input array.
    - `softness`: width of the transition ($s > 0$).
    - `mode`: `"hard"`, `"smooth"`, `"c0"`, `"c1"` or `"c2"`.

    **Returns:**

    An array of the shape of `x`.

    !!! Example

        ```python
        softeqx.sign(jnp.array([-0.2, 0.3]))  # Array([-0.7616, 0.9051])
        ```
    """
    if check_mode(mode) == "hard":
        return jnp.sign(x)
    family, x, s, out = soft_setup(x, softness, mode)
    return family.sign(x / s).astype(out)


def abs(
    x: Real[ArrayLike, "*shape"],
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
) -> Real[Array, "*shape"]:
    r"""Soft absolute value, $x \cdot \operatorname{sign}(x)$ with the soft sign.

    Non-negative, even, and equal to $|x|$ outside the transition region of the
    piecewise families; `"hard"` returns `jnp.abs(x)`.

    **Arguments:**

    - `x`: input array.
    - `softness`: width of the transition ($s > 0$).
    - `mode`: `"hard"`, `"smooth"`, `"c0"`, `"c1"` or `"c2"`.

    **Returns:**

    An array of the shape of `x`, values $\ge 0$.

    !!! Example

        ```python
        softeqx.abs(jnp.array([-0.2, 0.3]))  # Array([0.1523, 0.2715])
        ```
    """
    if check_mode(mode) == "hard":
        return jnp.abs(x)
    family, x, s, out = soft_setup(x, softness, mode)
    return family.abs(x, s).astype(out)


def relu(
    x: Real[ArrayLike, "*shape"],
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    gated: bool = False,
) -> Real[Array, "*shape"]:
    r"""Soft ReLU: [`softeqx.softrelu`][] in soft modes, `jax.nn.relu` in `"hard"`.

    **Arguments:**

    - `x`: input array.
    - `softness`: width of the transition ($s > 0$).
    - `mode`: `"hard"`, `"smooth"`, `"c0"`, `"c1"` or `"c2"`.
    - `gated`: use the gated form $x F(x/s)$ instead of the antiderivative.

    **Returns:**

    An array of the shape of `x`.

    !!! Example

        ```python
        softeqx.relu(jnp.array([-0.2, 0.3, 1.0]))  # Array([0.0127, 0.3049, 1.0])
        ```
    """
    if check_mode(mode) == "hard":
        return jax.nn.relu(x)
    family, x, s, out = soft_setup(x, softness, mode)
    return relu_core(family, x, s, gated).astype(out)


def clip(
    x: Real[ArrayLike, "..."],
    a: Real[ArrayLike, "..."],
    b: Real[ArrayLike, "..."],
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    gated: bool = False,
) -> Real[Array, "..."]:
    r"""Soft clipping to $[a, b]$: $a + \mathrm{relu}(x - a) - \mathrm{relu}(x - b)$.

    With the soft ReLU of [`softeqx.softrelu`][] this is increasing in $x$ and
    converges to `jnp.clip(x, a, b)` as `softness -> 0`; for the piecewise
    families it equals `jnp.clip` outside $5s$ of either bound.

    **Arguments:**

    - `x`: input array.
    - `a`, `b`: lower and upper bounds, broadcastable against `x`.
    - `softness`: width of each transition ($s > 0$).
    - `mode`: `"hard"` (`jnp.clip(x, a, b)`), `"smooth"`, `"c0"`, `"c1"`, `"c2"`.
    - `gated`: use the gated soft ReLU.

    **Returns:**

    An array of the broadcast shape of `x`, `a`, `b`.

    !!! Example

        ```python
        softeqx.clip(jnp.array([-0.2, -1.0, 1.0]), -0.5, 0.5)
        # Array([-0.1952, -0.4993, 0.4993])
        ```
    """
    if check_mode(mode) == "hard":
        return jnp.clip(x, a, b)
    family, x, s, out = soft_setup(x, softness, mode, a, b)
    a = jnp.asarray(a).astype(x.dtype)
    b = jnp.asarray(b).astype(x.dtype)
    # relu(u) = u + relu(-u) gives two equal forms; each is free of cancellation
    # on its side of the midpoint, so the result is exactly a or b far away.
    lower = a + relu_core(family, x - a, s, gated) - relu_core(family, x - b, s, gated)
    upper = b + relu_core(family, a - x, s, gated) - relu_core(family, b - x, s, gated)
    return jnp.where(2 * x > a + b, upper, lower).astype(out)


def round(
    x: Real[ArrayLike, "*shape"],
    softness: ArrayLike = 0.1,
    mode: Mode = "smooth",
    neighbor_radius: int = 5,
) -> Real[Array, "*shape"]:
    r"""Soft rounding to the nearest integer: a sum of soft steps at the half-integers.

    With $m = \operatorname{round}(x)$, $u = x - m \in [-1/2, 1/2]$ and $r$ the
    `neighbor_radius`,
    $$\operatorname{round}_s(x) = m + \frac{\sum_{j=-r}^{r-1}
        \big(F(\tfrac{u - j - 1/2}{s}) - [j < 0]\big)}{1 - 2F(-r/s)},$$
    the $2r$ soft steps nearest to $x$. The denominator makes the result exactly
    continuous, with a continuous first derivative, where $m$ changes (at
    half-integers), for every softness; it is 1 up to ~1e-22 at the default
    settings. Converges to `jnp.round` as `softness -> 0` (to 1/2-way values at
    exact half-integers); `"hard"` returns `jnp.round(x)` (half to even).

    **Arguments:**

    - `x`: input array.
    - `softness`: width of each step ($s > 0$).
    - `mode`: `"hard"`, `"smooth"`, `"c0"`, `"c1"` or `"c2"`.
    - `neighbor_radius`: number of integers on each side of $x$ whose steps are
      summed (an int >= 1). Steps further away contribute less than
      $F(-r/s)$ each.

    **Returns:**

    An array of the shape of `x`.

    !!! Example

        ```python
        softeqx.round(jnp.array([-0.2, 0.3, 1.0]))  # Array([-0.0465, 0.1189, 1.0])
        ```

    ??? cite "Reference"

        ```bibtex
        @article{semenov2023smooth,
          title={Smooth approximations of the rounding function},
          author={Semenov, Stanislav},
          journal={arXiv preprint arXiv:2504.19026},
          year={2025}
        }
        ```
    """
    if check_mode(mode) == "hard":
        return jnp.round(x)
    r = check_positive_int(neighbor_radius, "neighbor_radius", minimum=1)
    family, x, s, out = soft_setup(x, softness, mode)
    m = jax.lax.stop_gradient(jnp.round(x))
    steps = jnp.arange(-r, r, dtype=x.dtype)
    z = (x - m)[..., None] - steps - 0.5
    z = z / jnp.asarray(s)[..., None]
    # F(z) - 1 = -F(-z): no cancellation for the steps left of x.
    terms = jnp.where(steps >= 0, family.cdf(z), -family.cdf(-z))
    y = m + jnp.sum(terms, axis=-1) / family.sign(r / s)
    return y.astype(out)
