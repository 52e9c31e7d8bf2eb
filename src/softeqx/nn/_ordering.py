"""Layers for the ordering ops: sort, argsort, rank, top-k, max/min and their args."""

from typing import Any

import equinox as eqx
from jaxtyping import Array, ArrayLike

from .._checks import check_positive_int
from .._custom_types import Mode
from .._methods.registry import resolve_method
from .._ops import ordering
from ._base import (
    LAYER_ARGUMENTS,
    AbstractSoftLayer,
    Schedule,
    SoftnessParameter,
    check_flag,
    checked_layer_mode,
    softness_parameter,
)


OtKwargs = tuple[tuple[str, Any], ...] | None


def checked_method(method: object, mode: str, ot_kwargs: dict | None = None) -> object:
    """Resolve `method` once at construction so that bad settings fail early."""
    resolved = resolve_method(method, ot_kwargs)
    if mode != "hard":
        resolved.check_mode(mode)
    return method


def frozen_kwargs(ot_kwargs: dict | None) -> OtKwargs:
    """`ot_kwargs` as a hashable tuple of items (static configuration)."""
    if ot_kwargs is None:
        return None
    return tuple(sorted(ot_kwargs.items()))


def thawed_kwargs(ot_kwargs: OtKwargs) -> dict | None:
    return None if ot_kwargs is None else dict(ot_kwargs)


def check_axis_argument(axis: Any, allow_none: bool = True) -> int | None:
    if axis is None and allow_none:
        return None
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"`axis` must be an int or None, got {axis!r}.")
    return axis


_ORDERING_ARGUMENTS = """
    Arguments as for the functional op (`axis`, `descending`, `method`,
    `standardize`, `ot_kwargs`, ...), which the layer calls.
"""


class SoftSort(AbstractSoftLayer):
    """Layer form of [`softeqx.sort`][].

    !!! Example

        ```python
        layer = softeqx.nn.SoftSort(softness=0.1, trainable=True)
        layer(jnp.array([0.3, -1.0, 1.0]))
        ```
    """

    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    axis: int | None = eqx.field(static=True)
    descending: bool = eqx.field(static=True)
    method: object = eqx.field(static=True)
    standardize: bool = eqx.field(static=True)
    ot_kwargs: OtKwargs = eqx.field(static=True)
    gated_grad: bool = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        axis: int | None = None,
        descending: bool = False,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        method: object = "neuralsort",
        standardize: bool = True,
        ot_kwargs: dict | None = None,
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
        self.descending = check_flag(descending, "descending")
        self.method = checked_method(method, self.mode, ot_kwargs)
        self.standardize = check_flag(standardize, "standardize")
        self.ot_kwargs = frozen_kwargs(ot_kwargs)
        self.gated_grad = check_flag(gated_grad, "gated_grad")
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return ordering.sort(
            x,
            self.axis,
            self.descending,
            softness,
            mode,
            self.method,
            self.standardize,
            thawed_kwargs(self.ot_kwargs),
            self.gated_grad,
        )

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        p = ordering.argsort(
            x,
            self.axis,
            self.descending,
            softness,
            self.mode,
            self.method,
            self.standardize,
            thawed_kwargs(self.ot_kwargs),
        )
        return p, True


class SoftArgSort(AbstractSoftLayer):
    """Layer form of [`softeqx.argsort`][]: returns the soft permutation matrix."""

    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    axis: int | None = eqx.field(static=True)
    descending: bool = eqx.field(static=True)
    method: object = eqx.field(static=True)
    standardize: bool = eqx.field(static=True)
    ot_kwargs: OtKwargs = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        axis: int | None = None,
        descending: bool = False,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        method: object = "neuralsort",
        standardize: bool = True,
        ot_kwargs: dict | None = None,
        *,
        trainable: bool = False,
        schedule: Schedule | None = None,
        straight_through: bool = False,
        inference: bool = False,
    ):
        self.softness_parameter = softness_parameter(softness, trainable, schedule)
        self.mode = checked_layer_mode(mode)
        self.axis = check_axis_argument(axis)
        self.descending = check_flag(descending, "descending")
        self.method = checked_method(method, self.mode, ot_kwargs)
        self.standardize = check_flag(standardize, "standardize")
        self.ot_kwargs = frozen_kwargs(ot_kwargs)
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return ordering.argsort(
            x,
            self.axis,
            self.descending,
            softness,
            mode,
            self.method,
            self.standardize,
            thawed_kwargs(self.ot_kwargs),
        )

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        return self._evaluate(x, softness, self.mode), True


class SoftRank(AbstractSoftLayer):
    """Layer form of [`softeqx.rank`][]: soft 1-based ranks."""

    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    axis: int | None = eqx.field(static=True)
    descending: bool = eqx.field(static=True)
    method: object = eqx.field(static=True)
    standardize: bool = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        axis: int | None = None,
        descending: bool = False,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        method: object = "softsort",
        standardize: bool = True,
        *,
        trainable: bool = False,
        schedule: Schedule | None = None,
        straight_through: bool = False,
        inference: bool = False,
    ):
        self.softness_parameter = softness_parameter(softness, trainable, schedule)
        self.mode = checked_layer_mode(mode)
        self.axis = check_axis_argument(axis)
        self.descending = check_flag(descending, "descending")
        self.method = checked_method(method, self.mode)
        self.standardize = check_flag(standardize, "standardize")
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return ordering.rank(
            x,
            self.axis,
            self.descending,
            softness,
            mode,
            self.method,
            self.standardize,
        )

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        p = ordering.argsort(
            x,
            self.axis,
            self.descending,
            softness,
            self.mode,
            self.method,
            self.standardize,
        )
        return p, True


class SoftTopK(AbstractSoftLayer):
    """Layer form of [`softeqx.top_k`][]: returns `(values, soft_indices)`.

    **Arguments:**

    - `k`: how many of the largest elements.
    """

    softness_parameter: SoftnessParameter
    k: int = eqx.field(static=True)
    mode: Mode = eqx.field(static=True)
    axis: int = eqx.field(static=True)
    method: object = eqx.field(static=True)
    standardize: bool = eqx.field(static=True)
    ot_kwargs: OtKwargs = eqx.field(static=True)
    gated_grad: bool = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        k: int,
        axis: int = -1,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        method: object = "neuralsort",
        standardize: bool = True,
        ot_kwargs: dict | None = None,
        gated_grad: bool = True,
        *,
        trainable: bool = False,
        schedule: Schedule | None = None,
        straight_through: bool = False,
        inference: bool = False,
    ):
        self.softness_parameter = softness_parameter(softness, trainable, schedule)
        self.k = check_positive_int(k, "k")
        self.mode = checked_layer_mode(mode)
        checked_axis = check_axis_argument(axis, allow_none=False)
        assert checked_axis is not None
        self.axis = checked_axis
        self.method = checked_method(method, self.mode, ot_kwargs)
        self.standardize = check_flag(standardize, "standardize")
        self.ot_kwargs = frozen_kwargs(ot_kwargs)
        self.gated_grad = check_flag(gated_grad, "gated_grad")
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return ordering.top_k(
            x,
            self.k,
            self.axis,
            softness,
            mode,
            self.method,
            self.standardize,
            thawed_kwargs(self.ot_kwargs),
            self.gated_grad,
        )

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        return self._evaluate(x, softness, self.mode)[1], True


class SoftMax(AbstractSoftLayer):
    """Layer form of [`softeqx.max`][]: the soft maximum along `axis`.

    Not to be confused with the softmax function: this is a soft version of
    `jnp.max`.
    """

    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    axis: int | None = eqx.field(static=True)
    keepdims: bool = eqx.field(static=True)
    method: object = eqx.field(static=True)
    standardize: bool = eqx.field(static=True)
    ot_kwargs: OtKwargs = eqx.field(static=True)
    gated_grad: bool = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        axis: int | None = None,
        keepdims: bool = False,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        method: object = "softsort",
        standardize: bool = True,
        ot_kwargs: dict | None = None,
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
        self.method = checked_method(method, self.mode, ot_kwargs)
        self.standardize = check_flag(standardize, "standardize")
        self.ot_kwargs = frozen_kwargs(ot_kwargs)
        self.gated_grad = check_flag(gated_grad, "gated_grad")
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return ordering.max(
            x,
            self.axis,
            self.keepdims,
            softness,
            mode,
            self.method,
            self.standardize,
            thawed_kwargs(self.ot_kwargs),
            self.gated_grad,
        )

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        p = ordering.argmax(
            x,
            self.axis,
            self.keepdims,
            softness,
            self.mode,
            self.method,
            self.standardize,
            thawed_kwargs(self.ot_kwargs),
        )
        return p, True


class SoftMin(AbstractSoftLayer):
    """Layer form of [`softeqx.min`][]: the soft minimum along `axis`."""

    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    axis: int | None = eqx.field(static=True)
    keepdims: bool = eqx.field(static=True)
    method: object = eqx.field(static=True)
    standardize: bool = eqx.field(static=True)
    ot_kwargs: OtKwargs = eqx.field(static=True)
    gated_grad: bool = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        axis: int | None = None,
        keepdims: bool = False,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        method: object = "softsort",
        standardize: bool = True,
        ot_kwargs: dict | None = None,
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
        self.method = checked_method(method, self.mode, ot_kwargs)
        self.standardize = check_flag(standardize, "standardize")
        self.ot_kwargs = frozen_kwargs(ot_kwargs)
        self.gated_grad = check_flag(gated_grad, "gated_grad")
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return ordering.min(
            x,
            self.axis,
            self.keepdims,
            softness,
            mode,
            self.method,
            self.standardize,
            thawed_kwargs(self.ot_kwargs),
            self.gated_grad,
        )

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        p = ordering.argmin(
            x,
            self.axis,
            self.keepdims,
            softness,
            self.mode,
            self.method,
            self.standardize,
            thawed_kwargs(self.ot_kwargs),
        )
        return p, True


class SoftArgMax(AbstractSoftLayer):
    """Layer form of [`softeqx.argmax`][]: a SoftIndex of the largest element."""

    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    axis: int | None = eqx.field(static=True)
    keepdims: bool = eqx.field(static=True)
    method: object = eqx.field(static=True)
    standardize: bool = eqx.field(static=True)
    ot_kwargs: OtKwargs = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        axis: int | None = None,
        keepdims: bool = False,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        method: object = "softsort",
        standardize: bool = True,
        ot_kwargs: dict | None = None,
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
        self.method = checked_method(method, self.mode, ot_kwargs)
        self.standardize = check_flag(standardize, "standardize")
        self.ot_kwargs = frozen_kwargs(ot_kwargs)
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return ordering.argmax(
            x,
            self.axis,
            self.keepdims,
            softness,
            mode,
            self.method,
            self.standardize,
            thawed_kwargs(self.ot_kwargs),
        )

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        return self._evaluate(x, softness, self.mode), True


class SoftArgMin(AbstractSoftLayer):
    """Layer form of [`softeqx.argmin`][]: a SoftIndex of the smallest element."""

    softness_parameter: SoftnessParameter
    mode: Mode = eqx.field(static=True)
    axis: int | None = eqx.field(static=True)
    keepdims: bool = eqx.field(static=True)
    method: object = eqx.field(static=True)
    standardize: bool = eqx.field(static=True)
    ot_kwargs: OtKwargs = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        axis: int | None = None,
        keepdims: bool = False,
        softness: ArrayLike | None = None,
        mode: Mode = "smooth",
        method: object = "softsort",
        standardize: bool = True,
        ot_kwargs: dict | None = None,
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
        self.method = checked_method(method, self.mode, ot_kwargs)
        self.standardize = check_flag(standardize, "standardize")
        self.ot_kwargs = frozen_kwargs(ot_kwargs)
        self.straight_through = check_flag(straight_through, "straight_through")
        self.inference = check_flag(inference, "inference")

    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        return ordering.argmin(
            x,
            self.axis,
            self.keepdims,
            softness,
            mode,
            self.method,
            self.standardize,
            thawed_kwargs(self.ot_kwargs),
        )

    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        return self._evaluate(x, softness, self.mode), True


for _layer in (
    SoftSort,
    SoftArgSort,
    SoftRank,
    SoftTopK,
    SoftMax,
    SoftMin,
    SoftArgMax,
    SoftArgMin,
):
    _layer.__doc__ = f"{_layer.__doc__}\n{_ORDERING_ARGUMENTS}\n{LAYER_ARGUMENTS}"
