r"""The softness of a layer, and the base class every soft layer implements.

A softness is stored as

$$s = r \cdot \exp(\ell_b) \cdot \exp(\ell_m)$$

- $r$, `reference`: a Python float, the value the layer was built (or last
  frozen) with;
- $\ell_b$, `log_base`: an array, set by [`softeqx.anneal`][] from the layer's
  schedule and by the surgery helpers and callbacks; never trained;
- $\ell_m$, `log_multiplier`: an array, the learnt multiplier when
  `trainable=True`.

Why not a single array? Because an optimiser updates every float array it is
given. Decoupled weight decay (`optax.adamw`) moves a parameter even when its
gradient is exactly zero (`p <- p - lr * wd * p`), so a frozen softness held
as a plain float array would drift towards 0 in the canonical Equinox loop
`optim.init(eqx.filter(model, eqx.is_array))`. Integer (bit-cast) storage would
hide it from gradients, but `optax.adam` fails on integer parameters whose
gradient is `None`. Here a frozen softness keeps both arrays at exactly 0, a
fixed point of every optimiser (weight decay of 0 is 0, coupled L2 adds a zero
gradient), and its value lives in `reference`, a Python float: serialised by
`eqx.tree_serialise_leaves`, static under `eqx.filter_jit`, invisible to optax.
Annealing writes `log_base` every step, so decay in between steps never reaches
the forward pass.
"""

import abc
import math
from collections.abc import Callable
from typing import Any, cast

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree, Real

from .._checks import MODES, check_mode, is_traced
from .._custom_types import Mode
from .._ops.straight_through import st


Schedule = Callable[[Any], ArrayLike]
"""A softness schedule: `step -> value`, e.g. any `optax.schedules` function."""

DEFAULT_SOFTNESS = 0.1

LAYER_ARGUMENTS = """
    Common arguments of every soft layer:

    - `softness`: the initial softness, a positive scalar (default 0.1); not
      with `schedule`.
    - `mode`: `"hard"`, `"smooth"`, `"c0"`, `"c1"` or `"c2"`.
    - `trainable`: learn a multiplier on the softness.
    - `schedule`: a `step -> softness` callable for [`softeqx.anneal`][].
    - `straight_through`: hard forward pass, soft gradient.
    - `inference`: compute the exact hard op (set by `eqx.nn.inference_mode`).
"""


def check_softness_value(value: Any, name: str = "softness") -> Array:
    """A positive finite scalar as a float array, or a clear error.

    Concrete values raise `ValueError`/`TypeError` at once; traced values (under
    `jit` or `vmap`) must be scalars (checked at trace time) and are checked for
    positivity at run time with `eqx.error_if`.
    """
    message = f"`{name}` must be a positive, finite scalar"
    if isinstance(value, bool):
        raise TypeError(f"{message}, got the bool {value!r}.")
    if is_traced(value):
        s = jnp.asarray(value)
        if s.ndim != 0:
            raise ValueError(f"{message}, got an array of shape {s.shape}.")
        if not jnp.issubdtype(s.dtype, jnp.floating):
            s = s.astype(jnp.result_type(float))
        bad = jnp.logical_not((s > 0) & jnp.isfinite(s))
        return eqx.error_if(s, bad, f"{message}.")
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{message}, got a value of dtype {array.dtype}.")
    if array.ndim != 0:
        raise ValueError(f"{message}, got an array of shape {array.shape}.")
    if not (np.isfinite(array) and array > 0):
        raise ValueError(f"{message}, got {value!r}.")
    dtype = jnp.asarray(value).dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    return jnp.asarray(value, dtype=dtype)


def _float_zero() -> Array:
    return jnp.zeros((), dtype=jnp.result_type(float))


class SoftnessParameter(eqx.Module):
    r"""The softness of a soft layer: a positive scalar, trainable, frozen or annealed.

    The effective value is $s = r\,e^{\ell_b}\,e^{\ell_m}$: a reference value $r$
    (Python float), a base factor $e^{\ell_b}$ set by the schedule or by the
    helpers of `softeqx` (never trained), and a learnt multiplier $e^{\ell_m}$
    (trained only when `trainable=True`). The base $r\,e^{\ell_b}$ is what a
    schedule sets; training learns the multiplier on top of it. Positive by
    construction.

    A frozen parameter (`trainable=False`) has zero gradient, and as long as its
    value is held in `reference` (as after construction or
    [`softeqx.freeze_softness`][]) its arrays are exactly 0, which no optimiser,
    with or without weight decay, changes.

    Build it through a layer's constructor; use it directly to give your own
    modules an annealable softness.

    **Arguments:**

    - `softness`: the initial value, a positive scalar (may be traced, e.g. under
      `eqx.filter_vmap` to build an ensemble). Ignored when `schedule` is given:
      the initial value is then `schedule(0)`.
    - `trainable`: learn a multiplier on the base value.
    - `schedule`: a `step -> value` callable (any `optax` schedule) that
      [`softeqx.anneal`][] uses to set the base value.
    """

    reference: float
    log_base: Float[Array, "*ensemble"]
    log_multiplier: Float[Array, "*ensemble"]
    trainable: bool
    schedule: Schedule | None = eqx.field(static=True)

    def __init__(
        self,
        softness: ArrayLike = DEFAULT_SOFTNESS,
        trainable: bool = False,
        schedule: Schedule | None = None,
    ):
        if not isinstance(trainable, bool):
            raise TypeError(f"`trainable` must be a bool, got {trainable!r}.")
        if schedule is not None and not callable(schedule):
            raise TypeError(
                f"`schedule` must be a callable `step -> softness`, got {schedule!r}."
            )
        if schedule is not None:
            softness = check_softness_value(schedule(0), "schedule(0)")
        value = check_softness_value(softness)
        zero = _float_zero()
        if is_traced(value) or schedule is not None:
            self.reference = 1.0
            self.log_base = jnp.log(value.astype(zero.dtype))
        else:
            self.reference = float(value)
            self.log_base = zero
        self.log_multiplier = zero
        self.trainable = trainable
        self.schedule = schedule

    @property
    def base(self) -> Float[Array, "*ensemble"]:
        """The base value $r\\,e^{\\ell_b}$ (no gradient flows through it)."""
        return self.reference * jnp.exp(jax.lax.stop_gradient(self.log_base))

    @property
    def multiplier(self) -> Float[Array, "*ensemble"]:
        """The learnt multiplier $e^{\\ell_m}$ (gradient only if trainable)."""
        log_multiplier = self.log_multiplier
        if not self.trainable:
            log_multiplier = jax.lax.stop_gradient(log_multiplier)
        return jnp.exp(log_multiplier)

    @property
    def value(self) -> Float[Array, "*ensemble"]:
        """The effective softness, `base * multiplier`, a positive scalar."""
        return self.base * self.multiplier

    def with_base(self, base: ArrayLike, name: str = "softness") -> "SoftnessParameter":
        """A copy whose base value is `base` (the learnt multiplier is kept)."""
        value = check_softness_value(base, name)
        log_base = jnp.log(value.astype(self.log_base.dtype)) - math.log(self.reference)
        return eqx.tree_at(lambda p: p.log_base, self, log_base)

    def at_step(self, step: ArrayLike) -> "SoftnessParameter":
        """A copy with the base value `schedule(step)` (unchanged if unscheduled)."""
        if self.schedule is None:
            return self
        return self.with_base(self.schedule(step), "schedule(step)")


def is_softness_parameter(node: Any) -> bool:
    return isinstance(node, SoftnessParameter)


class AbstractSoftLayer(eqx.Module):
    """Base class of the soft layers: a relaxation with a softness.

    A concrete layer holds its configuration (static fields that mirror the
    functional op's arguments), a [`softeqx.nn.SoftnessParameter`][] and an
    `inference` flag, and implements `_evaluate(x, softness, mode)` by calling
    its functional op, and `_decisions(x, softness)`, the probabilities that op
    relaxes (used by [`softeqx.hardness`][]).

    Calling a layer, `layer(x, *, key=None)`:

    - in inference mode (`eqx.nn.inference_mode(model)`, or `inference=True`)
      computes the exact hard op;
    - with `straight_through=True` returns the hard op's value with the soft
      op's derivatives;
    - otherwise computes the op in the layer's `mode` at softness
      `layer.softness`.
    """

    softness_parameter: eqx.AbstractVar[SoftnessParameter]
    mode: eqx.AbstractVar[Mode]
    straight_through: eqx.AbstractVar[bool]
    inference: eqx.AbstractVar[bool]

    @abc.abstractmethod
    def _evaluate(self, x: Any, softness: Array, mode: Mode) -> Any:
        """The functional op on `x` at this softness and mode."""

    @abc.abstractmethod
    def _decisions(self, x: Any, softness: Array) -> tuple[Array, bool]:
        """The soft decisions of the op on `x` and whether they are categorical.

        Returns `(p, categorical)`: a SoftIndex (probabilities over the last
        axis) if `categorical`, else a SoftBool (probabilities of "true").
        """

    @property
    def softness(self) -> Float[Array, "*ensemble"]:
        """The effective softness: a positive scalar array.

        (One per member for an ensemble of layers stacked by `eqx.filter_vmap`.)
        """
        return self.softness_parameter.value

    @property
    def trainable(self) -> bool:
        """Whether the softness multiplier is learnt."""
        return self.softness_parameter.trainable

    def __call__(
        self, x: Real[ArrayLike, "..."], *, key: PRNGKeyArray | None = None
    ) -> PyTree[Array]:
        """Apply the relaxation to `x`.

        **Arguments:**

        - `x`: the input, of the shape the functional op accepts.
        - `key`: ignored; accepted for compatibility with `eqx.nn.Sequential`.

        **Returns:**

        What the functional op returns.
        """
        del key
        softness = self.softness
        if self.inference:
            return self._evaluate(x, softness, "hard")
        if self.straight_through:

            def op(x: Any, softness: Array, mode: Mode) -> Any:
                return self._evaluate(x, softness, mode)

            return st(op)(x, softness, self.mode)
        return self._evaluate(x, softness, self.mode)


def softness_parameter(
    softness: ArrayLike | None, trainable: bool, schedule: Schedule | None
) -> SoftnessParameter:
    """Build a layer's parameter; `softness` and `schedule` exclude each other."""
    if softness is not None and schedule is not None:
        raise ValueError(
            "Pass either `softness` or `schedule`, not both: with a schedule the "
            "initial softness is `schedule(0)`."
        )
    if softness is None:
        softness = DEFAULT_SOFTNESS
    return SoftnessParameter(softness, trainable, schedule)


def checked_layer_mode(mode: Any) -> Mode:
    return cast(Mode, check_mode(mode, MODES))


def check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool, got {value!r}.")
    return value
