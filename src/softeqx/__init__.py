"""softeqx: soft, differentiable relaxations of discrete operations for JAX and Equinox.

Every op takes a `softness` (how wide the relaxation is) and a `mode`: `"hard"`
for the exact `jax.numpy` result, or a smoothness family (`"smooth"`, `"c0"`,
`"c1"`, `"c2"`). Names shadow Python builtins (`abs`, `round`, `all`, `any`):
use `import softeqx` and call `softeqx.abs(...)`.
"""

from . import methods as methods, nn as nn
from ._anneal import (
    HardnessTargetAnnealer as HardnessTargetAnnealer,
    PlateauAnnealer as PlateauAnnealer,
    PlateauState as PlateauState,
    ScheduledAnnealer as ScheduledAnnealer,
    anneal as anneal,
    calibrate_softness as calibrate_softness,
    freeze_softness as freeze_softness,
    hardness as hardness,
    scale_softness as scale_softness,
    set_softness as set_softness,
    softness_values as softness_values,
    unfreeze_softness as unfreeze_softness,
)
from ._custom_types import (
    Mode as Mode,
    SigmoidalMode as SigmoidalMode,
    SoftBool as SoftBool,
    SoftIndex as SoftIndex,
    Softness as Softness,
)
from ._ops.comparison import (
    equal as equal,
    greater as greater,
    greater_equal as greater_equal,
    isclose as isclose,
    less as less,
    less_equal as less_equal,
    not_equal as not_equal,
)
from ._ops.elementwise import (
    abs as abs,
    clip as clip,
    heaviside as heaviside,
    relu as relu,
    round as round,
    sign as sign,
)
from ._ops.logical import (
    all as all,
    any as any,
    logical_and as logical_and,
    logical_not as logical_not,
    logical_or as logical_or,
    logical_xor as logical_xor,
)
from ._ops.ordering import (
    argmax as argmax,
    argmin as argmin,
    argsort as argsort,
    max as max,
    min as min,
    rank as rank,
    sort as sort,
    top_k as top_k,
)
from ._ops.quantile import (
    argmedian as argmedian,
    argpercentile as argpercentile,
    argquantile as argquantile,
    median as median,
    percentile as percentile,
    quantile as quantile,
)
from ._ops.safe_math import (
    arccos as arccos,
    arcsin as arcsin,
    div as div,
    log as log,
    norm as norm,
    sqrt as sqrt,
)
from ._ops.selection import (
    choose as choose,
    dynamic_index_in_dim as dynamic_index_in_dim,
    dynamic_slice as dynamic_slice,
    dynamic_slice_in_dim as dynamic_slice_in_dim,
    take as take,
    take_along_axis as take_along_axis,
    where as where,
)
from ._ops.sigmoidal import sigmoidal as sigmoidal, softrelu as softrelu
from ._ops.straight_through import (
    abs_st as abs_st,
    argmax_st as argmax_st,
    argmedian_st as argmedian_st,
    argmin_st as argmin_st,
    argpercentile_st as argpercentile_st,
    argquantile_st as argquantile_st,
    argsort_st as argsort_st,
    clip_st as clip_st,
    equal_st as equal_st,
    grad_replace as grad_replace,
    greater_equal_st as greater_equal_st,
    greater_st as greater_st,
    heaviside_st as heaviside_st,
    isclose_st as isclose_st,
    less_equal_st as less_equal_st,
    less_st as less_st,
    max_st as max_st,
    median_st as median_st,
    min_st as min_st,
    not_equal_st as not_equal_st,
    percentile_st as percentile_st,
    quantile_st as quantile_st,
    rank_st as rank_st,
    relu_st as relu_st,
    round_st as round_st,
    sign_st as sign_st,
    sort_st as sort_st,
    st as st,
    top_k_st as top_k_st,
)


__version__ = "0.1.0"
