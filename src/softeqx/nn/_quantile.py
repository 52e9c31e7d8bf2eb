"""Layers for the quantile ops: quantile, median, percentile."""

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._custom_types import Mode
from .._ops import ordering, quantile
from .._ops.quantile import QUANTILE_METHODS, QuantileMethod
from ._base import (
    LAYER_ARGUMENTS,
    AbstractSoftLayer,
    Schedule,
    SoftnessParameter,
    check_flag,
    checked_layer_mode,
    softness_parameter,
)
from ._ordering import check_axis_argument, checked_method


Fractions = float | tuple[float, ...]


def static_fractions(q: Any, name: str, scale: float) -> Fractions:
    """`q` as a hashable float or tuple of floats, checked in `[0, scale]`."""
    array = np.asarray(q, dtype=float)
    if array.ndim > 1:
        raise ValueError(f"`{name}` must be a scalar or 1-D, got shape {array.shape}.")
    if not bool(np.all((array >= 0) & (array <= scale))):
        raise ValueError(f"`{name}` must lie in [0, {scale:g}], got {q!r}.")
    if array.ndim == 0:
        return float(array)
    return tuple(float(v) for v in array)


def as_argument(q: Fractions) -> float | Array:
    return jnp.asarray(q) if isinstance(q, tuple) else q


def _argsort_decisions(layer: Any, x: Any, softness: Array) -> tuple[Array, bool]:
    """The rows of the soft permutation matrix the quantile is read from."""
    p = ordering.argsort(
        x,
        layer.axis,
        False,
        softness,
        layer.mode,
        layer.method,
        layer.standardize,
    )
    return p, True


class SoftQuantile(AbstractSoftLayer):
    """Layer form of [`softeqx.quantile`][].

    **Arguments:**

    - `q`: the quantile(s) in `[0, 1]`, a number or a 1-D sequence (fixed
      configuration, not a parameter).
    - `quantile_method`: `"linear"`, `"lower"`, `"higher"`, `"nearest"` or
      `"midpoint"`, as in `jnp.quantile`.
    - the other arguments as for the functional op.
    """

    softness_parameter: SoftnessParameter
    q: Fractions = eqx.field(static=True)
    mode: Mode = eqx.field(static=True)
    axis: int | None = eqx.field(static=True)
    keepdims: bool = eqx.field(static=True)
    method: object = eqx.field(static=True)
    quantile_method: str = eqx.field(static=True)
    standardize: bool = eqx.field(static=True)
    gated_grad: bool = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        q: Any,
        axis: int | None = None,
        keepdims: bool = False,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        method: object = "neuralsort",
        quantile_method: QuantileMethod = "linear",
        standardize: bool = True,
        gated_grad: bool = True,
        *,
        trainable: bool = False,
        schedule: Schedule | None = None,
        straight_through: bool = False,
        inference: bool = False,
    ):
        if quantile_method not in QUANTILE_METHODS:
            raise ValueError(
                f"`quantile_method` must be one of {QUANTILE_METHODS}, got "
                f"{quantile_method!r}."
            )
        self.softness_parameter = softness_parameter(softness, trainable, schedule)
        self.q = static_fractions(q, "q", 1.0)
        self.mode = checked_layer_mode(mode)
        self.axis = check_axis_argument(axis)
        self.keepdims = check_flag(keepdims, "keepdims")
        self.method = checked_method(method, self.mode)
        self.quantile_method = quantile_method
        self.standardize = check_flag(standardize, "standardize")
        self.gated_grad = check_flag(gated_grad, "gated_grad")
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return quantile.quantile(
            x,
            as_argument(self.q),
            self.axis,
            self.keepdims,
            softness,
            mode,
            self.method,
            self.quantile_method,  # type: ignore[arg-type]
            self.standardize,
            self.gated_grad,
        )

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        return _argsort_decisions(self, x, softness)


class SoftMedian(AbstractSoftLayer):
    """Layer form of [`softeqx.median`][] (the mean of the two middle values for
    even `n`, as `jnp.median`)."""

    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    axis: int | None = eqx.field(static=True)
    keepdims: bool = eqx.field(static=True)
    method: object = eqx.field(static=True)
    standardize: bool = eqx.field(static=True)
    gated_grad: bool = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        axis: int | None = None,
        keepdims: bool = False,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        method: object = "neuralsort",
        standardize: bool = True,
        gated_grad: bool = True,
        *,
        trainable: bool = False,
        schedule: Schedule | None = None,
        straight_through: bool = False,
        inference: bool = False,
    ):
        self.softness_parameter = softness_parameter(softness, trainable, schedule)
        self.mode = checked_layer_mode(mode)
        self.axis = check_axis_argument(axis)
        self.keepdims = check_flag(keepdims, "keepdims")
        self.method = checked_method(method, self.mode)
        self.standardize = check_flag(standardize, "standardize")
        self.gated_grad = check_flag(gated_grad, "gated_grad")
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return quantile.median(
            x,
            self.axis,
            self.keepdims,
            softness,
            mode,
            self.method,
            self.standardize,
            self.gated_grad,
        )

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        return _argsort_decisions(self, x, softness)


class SoftPercentile(AbstractSoftLayer):
    """Layer form of [`softeqx.percentile`][].

    **Arguments:**

    - `p`: the percentile(s) in `[0, 100]`, a number or a 1-D sequence (fixed
      configuration, not a parameter).
    - the other arguments as for the functional op.
    """

    softness_parameter: SoftnessParameter
    p: Fractions = eqx.field(static=True)
    mode: Mode = eqx.field(static=True)
    axis: int | None = eqx.field(static=True)
    keepdims: bool = eqx.field(static=True)
    method: object = eqx.field(static=True)
    standardize: bool = eqx.field(static=True)
    gated_grad: bool = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        p: Any,
        axis: int | None = None,
        keepdims: bool = False,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        method: object = "neuralsort",
        standardize: bool = True,
        gated_grad: bool = True,
        *,
        trainable: bool = False,
        schedule: Schedule | None = None,
        straight_through: bool = False,
        inference: bool = False,
    ):
        self.softness_parameter = softness_parameter(softness, trainable, schedule)
        self.p = static_fractions(p, "p", 100.0)
        self.mode = checked_layer_mode(mode)
        self.axis = check_axis_argument(axis)
        self.keepdims = check_flag(keepdims, "keepdims")
        self.method = checked_method(method, self.mode)
        self.standardize = check_flag(standardize, "standardize")
        self.gated_grad = check_flag(gated_grad, "gated_grad")
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return quantile.percentile(
            x,
            as_argument(self.p),
            self.axis,
            self.keepdims,
            softness,
            mode,
            self.method,
            self.standardize,
            self.gated_grad,
        )

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        return _argsort_decisions(self, x, softness)


for _layer in (SoftQuantile, SoftMedian, SoftPercentile):
    _layer.__doc__ = f"{_layer.__doc__}\n{LAYER_ARGUMENTS}"
