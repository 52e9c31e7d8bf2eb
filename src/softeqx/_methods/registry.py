"""Method names of the spec, resolved once at the entrance of every ordering op."""

import dataclasses
from typing import Any

from .base import AbstractOrderingMethod
from .fast_soft_sort import FastSoftSort
from .neuralsort import NeuralSort
from .optimal_transport import OptimalTransport
from .smooth_sort import SmoothSort
from .softsort import SoftSort
from .sorting_network import SortingNetwork


METHODS: dict[str, type[AbstractOrderingMethod]] = {
    "softsort": SoftSort,
    "neuralsort": NeuralSort,
    "sorting_network": SortingNetwork,
    "ot": OptimalTransport,
    "fast_soft_sort": FastSoftSort,
    "smooth_sort": SmoothSort,
}

# Keys of the spec's `ot_kwargs` that are not field names of `OptimalTransport`:
# the names of ott-jax's Sinkhorn solver, which the reference passes them to.
OT_KWARG_ALIASES = {"max_iterations": "max_iter", "threshold": "tol"}


def resolve_method(
    method: Any, ot_kwargs: dict | None = None
) -> AbstractOrderingMethod:
    """Turn a method name or object into a method object.

    `ot_kwargs` configures the optimal-transport method only; it is an error to
    pass it with any other method rather than ignore it silently.
    """
    if isinstance(method, AbstractOrderingMethod):
        instance = method
    elif isinstance(method, str) and method in METHODS:
        instance = METHODS[method]()
    else:
        raise ValueError(
            f"`method` must be one of {tuple(METHODS)} or an AbstractOrderingMethod "
            f"instance, got {method!r}."
        )
    if ot_kwargs:
        if not isinstance(instance, OptimalTransport):
            raise ValueError(
                "`ot_kwargs` configures the optimal-transport method and cannot be "
                f"used with method {method!r}."
            )
        instance = _configure_ot(instance, ot_kwargs)
    return instance


def _configure_ot(instance: OptimalTransport, ot_kwargs: dict) -> OptimalTransport:
    """`instance` with the settings of `ot_kwargs` (field names or ott-jax names)."""
    fields = {f.name for f in dataclasses.fields(OptimalTransport)}
    settings = {}
    for key, value in ot_kwargs.items():
        name = OT_KWARG_ALIASES.get(key, key)
        if name not in fields:
            allowed = sorted(fields | set(OT_KWARG_ALIASES))
            raise ValueError(
                f"Unknown key {key!r} in `ot_kwargs`; allowed keys are {allowed}."
            )
        if name in settings:
            raise ValueError(f"`ot_kwargs` sets {name!r} twice (as {key!r}).")
        settings[name] = value
    current = {name: getattr(instance, name) for name in fields}
    return OptimalTransport(**{**current, **settings})
