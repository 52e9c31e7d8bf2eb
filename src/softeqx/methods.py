"""Ordering methods as configurable objects, for `method=` of every ordering op.

`softeqx.sort(x, method="neuralsort")` and
`softeqx.sort(x, method=softeqx.methods.NeuralSort())` are the same. Subclass
[`softeqx.methods.AbstractOrderingMethod`][] to add a method.
"""

from ._methods.base import AbstractOrderingMethod as AbstractOrderingMethod
from ._methods.fast_soft_sort import FastSoftSort as FastSoftSort
from ._methods.neuralsort import NeuralSort as NeuralSort
from ._methods.optimal_transport import OptimalTransport as OptimalTransport
from ._methods.smooth_sort import SmoothSort as SmoothSort
from ._methods.softsort import SoftSort as SoftSort
from ._methods.sorting_network import SortingNetwork as SortingNetwork
