"""Layers for the elementwise relaxations and the comparisons."""

from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Real

from .._checks import check_positive_int
from .._custom_types import Mode
from .._ops import comparison, elementwise
from ._base import (
    LAYER_ARGUMENTS,
    AbstractSoftLayer,
    Schedule,
    SoftnessParameter,
    check_flag,
    checked_layer_mode,
    softness_parameter,
)


def _step(x: Any, softness: Array, mode: Mode) -> Array:
    """The soft decision "x > 0" every elementwise relaxation is built on."""
    return elementwise.heaviside(x, softness, mode)


class SoftReLU(AbstractSoftLayer):
    """Layer form of [`softeqx.relu`][].

    **Arguments:**

    - `gated`: use the gated form (as in the op).
    """

    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    gated: bool = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        gated: bool = False,
        *,
        trainable: bool = False,
        schedule: Schedule | None = None,
        straight_through: bool = False,
        inference: bool = False,
    ):
        self.softness_parameter = softness_parameter(softness, trainable, schedule)
        self.mode = checked_layer_mode(mode)
        self.gated = check_flag(gated, "gated")
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return elementwise.relu(x, softness, mode, self.gated)

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        return _step(x, softness, self.mode), False


class SoftClip(AbstractSoftLayer):
    """Layer form of [`softeqx.clip`][]: soft clipping to `[a, b]`.

    Bounds given as Python numbers are fixed configuration; bounds given as
    arrays are ordinary parameters that an optimiser trains.

    **Arguments:**

    - `a`, `b`: the lower and upper bounds.
    - `gated`: use the gated soft ReLU (as in the op).
    """

    a: float | Array
    b: float | Array
    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    gated: bool = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        a: float | Array,
        b: float | Array,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        gated: bool = False,
        *,
        trainable: bool = False,
        schedule: Schedule | None = None,
        straight_through: bool = False,
        inference: bool = False,
    ):
        self.a = a if isinstance(a, (int, float)) else jnp.asarray(a)
        self.b = b if isinstance(b, (int, float)) else jnp.asarray(b)
        self.softness_parameter = softness_parameter(softness, trainable, schedule)
        self.mode = checked_layer_mode(mode)
        self.gated = check_flag(gated, "gated")
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return elementwise.clip(x, self.a, self.b, softness, mode, self.gated)

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        x = jnp.asarray(x)
        a = jnp.asarray(self.a).astype(x.dtype)
        b = jnp.asarray(self.b).astype(x.dtype)
        below = _step(x - a, softness, self.mode)
        above = _step(x - b, softness, self.mode)
        return jnp.stack(jnp.broadcast_arrays(below, above)), False


class SoftRound(AbstractSoftLayer):
    """Layer form of [`softeqx.round`][].

    **Arguments:**

    - `neighbor_radius`: as in the op.
    """

    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    neighbor_radius: int = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        neighbor_radius: int = 5,
        *,
        trainable: bool = False,
        schedule: Schedule | None = None,
        straight_through: bool = False,
        inference: bool = False,
    ):
        self.softness_parameter = softness_parameter(softness, trainable, schedule)
        self.mode = checked_layer_mode(mode)
        self.neighbor_radius = check_positive_int(neighbor_radius, "neighbor_radius")
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return elementwise.round(x, softness, mode, self.neighbor_radius)

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.result_type(float))
        # Round up or down: the step at the nearest half-integer.
        return _step(x - jnp.floor(x) - 0.5, softness, self.mode), False


class SoftSign(AbstractSoftLayer):
    """Layer form of [`softeqx.sign`][]."""

    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        *,
        trainable: bool = False,
        schedule: Schedule | None = None,
        straight_through: bool = False,
        inference: bool = False,
    ):
        self.softness_parameter = softness_parameter(softness, trainable, schedule)
        self.mode = checked_layer_mode(mode)
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return elementwise.sign(x, softness, mode)

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        return _step(x, softness, self.mode), False


class SoftAbs(AbstractSoftLayer):
    """Layer form of [`softeqx.abs`][]."""

    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        *,
        trainable: bool = False,
        schedule: Schedule | None = None,
        straight_through: bool = False,
        inference: bool = False,
    ):
        self.softness_parameter = softness_parameter(softness, trainable, schedule)
        self.mode = checked_layer_mode(mode)
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return elementwise.abs(x, softness, mode)

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        return _step(x, softness, self.mode), False


class SoftHeaviside(AbstractSoftLayer):
    """Layer form of [`softeqx.heaviside`][]."""

    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        *,
        trainable: bool = False,
        schedule: Schedule | None = None,
        straight_through: bool = False,
        inference: bool = False,
    ):
        self.softness_parameter = softness_parameter(softness, trainable, schedule)
        self.mode = checked_layer_mode(mode)
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return elementwise.heaviside(x, softness, mode)

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        return _step(x, softness, self.mode), False


Comparison = Literal[
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "isclose"
]
COMPARISONS: dict[str, Callable[..., Any]] = {
    "greater": comparison.greater,
    "greater_equal": comparison.greater_equal,
    "less": comparison.less,
    "less_equal": comparison.less_equal,
    "equal": comparison.equal,
    "not_equal": comparison.not_equal,
    "isclose": comparison.isclose,
}


class SoftThreshold(AbstractSoftLayer):
    r"""A learnable soft comparison of the input with a threshold.

    Returns the SoftBool `comparison(x, threshold)`, e.g.
    [`softeqx.greater`][]`(x, threshold, softness, mode)`. The threshold is an
    ordinary parameter (an array, trained by the optimiser), of any shape that
    broadcasts against the input (a scalar, or one per feature).

    **Arguments:**

    - `threshold`: the initial threshold (default 0).
    - `comparison`: `"greater"` (default), `"greater_equal"`, `"less"`,
      `"less_equal"`, `"equal"`, `"not_equal"` or `"isclose"`.
    - `epsilon`: as in the comparison ops.
    - `rtol`, `atol`: the tolerances of `"isclose"` (ignored otherwise).

    !!! Example

        ```python
        gate = softeqx.nn.SoftThreshold(jnp.zeros(3), softness=0.5, trainable=True)
        gate(jnp.array([-1.0, 0.0, 2.0]))  # Array([0.12, 0.5, 0.98])
        ```
    """

    threshold: Array
    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    comparison: str = eqx.field(static=True)
    epsilon: float = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        threshold: Real[ArrayLike, "..."] = 0.0,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        comparison: Comparison = "greater",
        epsilon: float = 1e-10,
        rtol: float = 1e-05,
        atol: float = 1e-08,
        *,
        trainable: bool = False,
        schedule: Schedule | None = None,
        straight_through: bool = False,
        inference: bool = False,
    ):
        if comparison not in COMPARISONS:
            raise ValueError(
                f"`comparison` must be one of {tuple(COMPARISONS)}, got {comparison!r}."
            )
        threshold = jnp.asarray(threshold)
        if not jnp.issubdtype(threshold.dtype, jnp.floating):
            threshold = threshold.astype(jnp.result_type(float))
        self.threshold = threshold
        self.softness_parameter = softness_parameter(softness, trainable, schedule)
        self.mode = checked_layer_mode(mode)
        self.comparison = comparison
        self.epsilon = float(epsilon)
        self.rtol = float(rtol)
        self.atol = float(atol)
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        op = COMPARISONS[self.comparison]
        dtype = jnp.asarray(x).dtype
        threshold = self.threshold
        if jnp.issubdtype(dtype, jnp.floating):
            threshold = threshold.astype(dtype)
        if self.comparison == "isclose":
            return op(
                x,
                threshold,
                softness,
                rtol=self.rtol,
                atol=self.atol,
                mode=mode,
                epsilon=self.epsilon,
            )
        return op(x, threshold, softness, mode, self.epsilon)

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        return self._evaluate(x, softness, self.mode), False


for _layer in (SoftReLU, SoftClip, SoftRound, SoftSign, SoftAbs, SoftHeaviside):
    _layer.__doc__ = f"{_layer.__doc__}\n{LAYER_ARGUMENTS}"
SoftThreshold.__doc__ = f"{SoftThreshold.__doc__}\n{LAYER_ARGUMENTS}"
