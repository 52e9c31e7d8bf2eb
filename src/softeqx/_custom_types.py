"""Type aliases shared by the public API."""

from typing import Literal, TypeAlias

from jaxtyping import Array, ArrayLike, Float


SoftBool: TypeAlias = Float[Array, "..."]
"""A soft boolean: an array of probabilities in `[0, 1]`, one per element.

`1` means "true", `0` means "false". Returned by comparisons and consumed by the
logical ops and [`softeqx.where`][]."""

SoftIndex: TypeAlias = Float[Array, "... n"]
"""A soft index: probabilities over `n` positions, summing to 1 along the last axis.

The last axis (written `[n]` in shapes) replaces an integer index; every other
axis has the shape the matching integer index array would have."""

Mode: TypeAlias = Literal["hard", "smooth", "c0", "c1", "c2"]
"""How an op is relaxed: `"hard"` is the exact op; the others pick a smoothness
family (`"smooth"`: C-infinity, `"c0"`, `"c1"`, `"c2"`: that continuity class)."""

SigmoidalMode: TypeAlias = Literal["smooth", "c0", "c1", "c2"]
"""A smoothness family, without `"hard"`."""

Softness: TypeAlias = ArrayLike
"""A positive number, or an array of them broadcastable against the input, that
sets the width of the relaxation. May be traced: changing it never recompiles."""
