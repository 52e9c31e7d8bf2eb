"""Method names of the spec, resolved once at the entrance of every ordering op."""

from typing import Any

from .base import AbstractOrderingMethod
from .fast_soft_sort import FastSoftSort
from .neuralsort import NeuralSort
from .smooth_sort import SmoothSort
from .softsort import SoftSort
from .sorting_network import SortingNetwork


METHODS: dict[str, type[AbstractOrderingMethod]] = {
    "softsort": SoftSort,
    "neuralsort": NeuralSort,
    "sorting_network": SortingNetwork,
    "fast_soft_sort": FastSoftSort,
    "smooth_sort": SmoothSort,
}


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
        raise ValueError(
            "`ot_kwargs` configures the optimal-transport method and cannot be "
            f"used with method {method!r}."
        )
    return instance
