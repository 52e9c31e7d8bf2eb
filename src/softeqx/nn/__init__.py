"""Equinox layers: one module per relaxation, with a trainable, frozen or annealed
softness.

Each layer holds its configuration (the functional op's arguments) and a
[`softeqx.nn.SoftnessParameter`][], and calls the functional op:
`softeqx.nn.SoftSort(method="neuralsort")(x)` is
`softeqx.sort(x, softness=layer.softness, method="neuralsort")`.
"""

from ._base import (
    AbstractSoftLayer as AbstractSoftLayer,
    SoftnessParameter as SoftnessParameter,
)
from ._elementwise import (
    SoftAbs as SoftAbs,
    SoftClip as SoftClip,
    SoftHeaviside as SoftHeaviside,
    SoftReLU as SoftReLU,
    SoftRound as SoftRound,
    SoftSign as SoftSign,
    SoftThreshold as SoftThreshold,
)
from ._ordering import (
    SoftArgMax as SoftArgMax,
    SoftArgMin as SoftArgMin,
    SoftArgSort as SoftArgSort,
    SoftMax as SoftMax,
    SoftMin as SoftMin,
    SoftRank as SoftRank,
    SoftSort as SoftSort,
    SoftTopK as SoftTopK,
)
from ._quantile import (
    SoftMedian as SoftMedian,
    SoftPercentile as SoftPercentile,
    SoftQuantile as SoftQuantile,
)
