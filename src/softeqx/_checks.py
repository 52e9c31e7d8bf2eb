"""Argument validation and dtype handling shared by every op.

Structural problems (an unknown mode, an axis out of range, a wrong shape) raise
`ValueError`/`TypeError` at trace time. Value problems that can only be seen at
run time (a traced `softness <= 0`) are checked with `eqx.error_if`, so they
fail loudly under `jit` too instead of turning into NaNs.
"""

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike


MODES: tuple[str, ...] = ("hard", "smooth", "c0", "c1", "c2")
SIGMOIDAL_MODES: tuple[str, ...] = ("smooth", "c0", "c1", "c2")


def check_mode(mode: Any, allowed: Sequence[str] = MODES) -> str:
    """Return `mode` if it is one of `allowed`, else raise a `ValueError`."""
    if not isinstance(mode, str) or mode not in allowed:
        raise ValueError(f"`mode` must be one of {tuple(allowed)}, got {mode!r}.")
    return mode


def is_traced(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def float_dtypes(*xs: Any) -> tuple[Any, Any]:
    """The dtypes to compute in and to return for soft ops on `xs`.

    Python scalars adopt the dtype of the arrays. Integer and boolean inputs give
    the default float dtype. Half-precision inputs are computed in float32 and
    the result is cast back, so that exponentials and divisions stay stable.
    """
    dtypes = [
        jnp.result_type(x)
        for x in xs
        if not isinstance(x, (bool, int, float)) and x is not None
    ]
    dtype = jnp.result_type(*dtypes) if dtypes else jnp.result_type(float)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    compute = jnp.float32 if jnp.finfo(dtype).bits < 32 else dtype
    return jnp.dtype(compute), jnp.dtype(dtype)


def as_float(x: ArrayLike, dtype: Any) -> Array:
    return jnp.asarray(x).astype(dtype)


def check_softness(softness: Any, dtype: Any) -> Array:
    """Validate a softness and return it as an array of `dtype`.

    Concrete values are checked at once (`ValueError`); traced values get an
    `eqx.error_if` check that raises at run time, under `jit` as well.
    """
    name = "`softness` must be positive (> 0)"
    if is_traced(softness):
        s = jnp.asarray(softness).astype(dtype)
        return eqx.error_if(s, jnp.logical_not(s > 0), f"{name}.")
    value = np.asarray(softness)
    if value.dtype.kind not in "biuf":
        raise TypeError(f"{name}, got a value of dtype {value.dtype}.")
    if value.size == 0 or not bool(np.all(value > 0)):
        raise ValueError(f"{name}, got {softness!r}.")
    return jnp.asarray(softness).astype(dtype)


def check_axis(axis: Any, ndim: int, name: str = "axis") -> int:
    """Return `axis` normalised to `[0, ndim)`, or raise naming the argument."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {axis!r}.")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"`{name}`={axis} is out of range for an array with {ndim} "
            f"dimension(s); allowed: {-ndim} <= {name} < {ndim}."
        )
    return int(axis) % ndim


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}, got {value}.")
    return int(value)


def check_soft_index(soft_index: ArrayLike, n: int, name: str) -> Array:
    """Check that the last (probability) axis of a SoftIndex has size `n`."""
    p = jnp.asarray(soft_index)
    if p.ndim == 0 or p.shape[-1] != n:
        raise ValueError(
            f"`{name}` must be a SoftIndex whose last axis has size {n} (the length "
            f"of the indexed axis), got shape {p.shape}."
        )
    return p
