"""softeqx: soft, differentiable relaxations of discrete operations for JAX and Equinox.

Every op takes a `softness` (how wide the relaxation is) and a `mode`: `"hard"`
for the exact `jax.numpy` result, or a smoothness family (`"smooth"`, `"c0"`,
`"c1"`, `"c2"`). Names shadow Python builtins (`abs`, `round`, `all`, `any`):
use `import softeqx` and call `softeqx.abs(...)`.
"""

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
    clip_st as clip_st,
    equal_st as equal_st,
    grad_replace as grad_replace,
    greater_equal_st as greater_equal_st,
    greater_st as greater_st,
    heaviside_st as heaviside_st,
    isclose_st as isclose_st,
    less_equal_st as less_equal_st,
    less_st as less_st,
    not_equal_st as not_equal_st,
    relu_st as relu_st,
    round_st as round_st,
    sign_st as sign_st,
    st as st,
)


__version__ = "0.1.0"
