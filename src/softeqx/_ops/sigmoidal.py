"""The smoothness families: the S-curves every elementwise relaxation is built on.

Each family is an increasing function `F: R -> [0, 1]` of the standardised input
`z = x / softness`, symmetric (`F(z) + F(-z) = 1`), together with its
antiderivative. `"smooth"` is the logistic sigmoid; `"c0"`, `"c1"` and `"c2"` are
the smoothstep polynomials of that continuity class, scaled so that their
transition spans `z` in `[-5, 5]`, where the logistic sigmoid does most of its
rising (`sigmoid(5) = 0.9933`).
"""

import abc
from math import comb

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import (
    SIGMOIDAL_MODES,
    as_float,
    check_mode,
    check_softness,
    float_dtypes,
)
from .._custom_types import SigmoidalMode, SoftBool


HALF_WIDTH = 5.0


class AbstractSigmoid(eqx.Module):
    """A smoothness family, as a function of the standardised input `z`."""

    @abc.abstractmethod
    def cdf(self, z: Array) -> Array:
        """The S-curve `F(z)`, increasing from 0 to 1, with `F(0) = 1/2`."""

    @abc.abstractmethod
    def integral(self, z: Array) -> Array:
        """`int_{-inf}^z F(u) du`: a smooth ReLU, equal to `z` far to the right."""

    @abc.abstractmethod
    def sign(self, z: Array) -> Array:
        """`2 F(z) - 1`, computed accurately near 0."""

    def abs(self, x: Array, s: Array) -> Array:
        """The soft absolute value `x sign(x / s) >= 0` at softness `s`."""
        return x * self.sign(x / s)


class Logistic(AbstractSigmoid):
    """`F(z) = 1 / (1 + exp(-z))`: infinitely differentiable, full support."""

    def cdf(self, z: Array) -> Array:
        return jax.nn.sigmoid(z)

    def integral(self, z: Array) -> Array:
        return jax.nn.softplus(z)

    def sign(self, z: Array) -> Array:
        return jnp.tanh(z / 2)


class Smoothstep(AbstractSigmoid):
    """A smoothstep polynomial on `[-half_width, half_width]`, constant outside.

    `order=0` is linear (C0), `order=1` cubic (C1), `order=2` quintic (C2): the
    polynomial of lowest degree whose first `order` derivatives vanish at both
    ends of the transition.
    """

    order: int = eqx.field(static=True)
    half_width: float = eqx.field(static=True, default=HALF_WIDTH)

    def _coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        # S(t) = sum_i binom(k+i, i) binom(2k+1, k-i) (-t)^i t^(k+1), k = order.
        k = self.order
        step = np.zeros(2 * k + 2)
        for i in range(k + 1):
            coef = (-1) ** i * comb(k + i, i) * comb(2 * k + 1, k - i)
            step[k + 1 + i] = coef
        step_poly = np.polynomial.Polynomial(step)
        return step_poly.coef, step_poly.integ().coef

    def _t(self, z: Array) -> Array:
        w = self.half_width
        return jnp.clip((z + w) / (2 * w), 0.0, 1.0)

    def cdf(self, z: Array) -> Array:
        # S(t) = 1 - S(1 - t): evaluate the half nearer 0, where the polynomial is
        # small and accurate, so the curve is exactly 0, 1/2, 1 at the ends and
        # the middle and does not wiggle near 1.
        step, _ = self._coefficients()
        t = self._t(z)
        low = t <= 0.5
        near = jnp.where(low, t, 1 - t)
        value = _polyval(step, near)
        return jnp.where(low, value, 1 - value)

    def integral(self, z: Array) -> Array:
        _, area = self._coefficients()
        inside = 2 * self.half_width * _polyval(area, self._t(z))
        return jnp.where(z >= self.half_width, z, inside)

    def sign(self, z: Array) -> Array:
        return 2 * self.cdf(z) - 1


def _polyval(coef: np.ndarray, t: Array) -> Array:
    """Horner's rule with static coefficients (lowest degree first)."""
    out = jnp.zeros_like(t) + float(coef[-1])
    for c in coef[-2::-1]:
        out = out * t + float(c)  # Python floats are weakly typed: keep t's dtype
    return out


SIGMOIDS: dict[str, AbstractSigmoid] = {
    "smooth": Logistic(),
    "c0": Smoothstep(order=0),
    "c1": Smoothstep(order=1),
    "c2": Smoothstep(order=2),
}


def soft_setup(
    x: ArrayLike, softness: ArrayLike, mode: str, *others: ArrayLike
) -> tuple[AbstractSigmoid, Array, Array, jnp.dtype]:
    """Resolve the family, validate softness, and cast `x` for a soft computation.

    Returns `(family, x, softness, out_dtype)`: `x` and `softness` in the compute
    dtype, and the dtype the result must be cast back to.
    """
    compute, out = float_dtypes(x, *others)
    family = SIGMOIDS[check_mode(mode, SIGMOIDAL_MODES)]
    s = check_softness(softness, compute)
    return family, as_float(x, compute), s, out


def sigmoidal(
    x: Real[ArrayLike, "*shape"],
    softness: ArrayLike = 0.1,
    mode: SigmoidalMode = "smooth",
) -> SoftBool:
    r"""An S-curve from 0 to 1, the soft step every other relaxation is built on.

    $$\operatorname{sigmoidal}(x) = F(x / s)$$

    where $s$ is the softness and $F$ the family picked by `mode`:

    - `"smooth"`: the logistic sigmoid $F(z) = 1 / (1 + e^{-z})$ (C-infinity);
    - `"c0"`: $F(z) = t$, linear (continuous, kinks at the ends);
    - `"c1"`: $F(z) = 3t^2 - 2t^3$ (continuous first derivative);
    - `"c2"`: $F(z) = 6t^5 - 15t^4 + 10t^3$ (continuous second derivative);

    with $t = \operatorname{clip}((z + 5) / 10, 0, 1)$, so the piecewise families
    make their whole transition on $[-5s, 5s]$ and are exactly 0 or 1 outside.
    As $s \to 0$ it converges to the Heaviside step (1/2 at 0).

    **Arguments:**

    - `x`: input array, any shape.
    - `softness`: width of the transition, $s > 0$; a float or an array
      broadcastable against `x` (traced values are fine).
    - `mode`: the family, one of `"smooth"`, `"c0"`, `"c1"`, `"c2"`.

    **Returns:**

    A SoftBool of the shape of `x`, values in `[0, 1]`.

    !!! Example

        ```python
        softeqx.sigmoidal(jnp.array([-0.2, 0.0, 0.3]), softness=0.1)
        # Array([0.1192, 0.5, 0.9526])
        ```
    """
    family, x, s, out = soft_setup(x, softness, mode)
    return family.cdf(x / s).astype(out)


def softrelu(
    x: Real[ArrayLike, "*shape"],
    softness: ArrayLike = 0.1,
    mode: SigmoidalMode = "smooth",
    gated: bool = False,
) -> Float[Array, "*shape"]:
    r"""A family of smooth ReLUs, built on [`softeqx.sigmoidal`][].

    Not gated (default), the antiderivative of the S-curve:
    $$\operatorname{softrelu}(x) = \int_{-\infty}^{x} F(u / s)\,du = s\,G(x/s),$$
    which is softplus for `"smooth"` and a polynomial on $[-5s, 5s]$ (exactly 0
    left of it and exactly $x$ right of it) for `"c0"`, `"c1"`, `"c2"`; its
    continuity class is one higher than the family's. Gated, $x\,F(x/s)$ (the
    SiLU for `"smooth"`). Both converge to $\max(0, x)$ as $s \to 0$.

    **Arguments:**

    - `x`: input array.
    - `softness`: width of the transition ($s > 0$).
    - `mode`: `"smooth"`, `"c0"`, `"c1"` or `"c2"`.
    - `gated`: use $x\,F(x/s)$ instead of the antiderivative.

    **Returns:**

    An array of the shape of `x`.

    !!! Example

        ```python
        softeqx.softrelu(jnp.array([-0.2, 0.3, 1.0]), softness=0.1)
        # Array([0.0127, 0.3049, 1.0000])
        ```
    """
    family, x, s, out = soft_setup(x, softness, mode)
    return relu_core(family, x, s, gated).astype(out)


def relu_core(family: AbstractSigmoid, x: Array, s: Array, gated: bool) -> Array:
    """The soft ReLU of an already prepared input (see `soft_setup`)."""
    z = x / s
    if gated:
        return x * family.cdf(z)
    y = s * family.integral(z)
    if isinstance(family, Smoothstep):  # exactly x right of the transition
        y = jnp.where(z >= family.half_width, x, y)
    return y
