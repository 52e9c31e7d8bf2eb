"""Annealing: schedules, softness surgery, training-loop callbacks, calibration.

Every function here takes a model (any PyTree holding soft layers, or
[`softeqx.nn.SoftnessParameter`][]s directly, anywhere: lists, nested modules,
`eqx.nn.Sequential`) and returns a new model; nothing is mutated. All of them
work on concrete values and under `eqx.filter_jit` with traced steps, losses and
values, and none changes the structure of the model, so calling them inside a
jitted training step never recompiles it. The exceptions, which change a
layer's configuration and are meant for outside the training loop, are
[`softeqx.freeze_softness`][] and [`softeqx.unfreeze_softness`][].

**Hardness.** The soft layers relax discrete decisions: a step (is $x > 0$?)
for the elementwise layers and comparisons, a choice among $n$ positions (a
row of the soft permutation matrix) for the ordering and quantile layers.
[`softeqx.hardness`][] measures how decided those are on a batch:

$$h = 1 - \\frac{1}{R}\\sum_{r=1}^{R} \\frac{H(p_r)}{\\log m}$$

the mean over the $R$ decisions of one minus the normalised entropy of each
decision's distribution $p_r$ over its $m$ outcomes ($m = 2$ for a step,
$m = n$ for a position). $h = 1$: every decision is exact (the hard op); $h = 0$:
every decision is a coin flip (uniform). $h$ decreases as the softness grows.
"""

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from ._checks import is_traced
from ._ops import elementwise, ordering, quantile
from .nn import (
    _elementwise as nn_elementwise,
    _ordering as nn_ordering,
    _quantile as nn_quantile,
)
from .nn._base import (
    AbstractSoftLayer,
    Schedule,
    SoftnessParameter,
    check_softness_value,
    is_softness_parameter,
)


_Model = TypeVar("_Model")


def _parameters(model: Any) -> list[tuple[str, SoftnessParameter]]:
    """Every softness parameter of `model` with its path, in flattening order."""
    leaves = jtu.tree_leaves_with_path(model, is_leaf=is_softness_parameter)
    return [(jtu.keystr(path), p) for path, p in leaves if is_softness_parameter(p)]


def _replace(
    model: _Model,
    change: Callable[[str, SoftnessParameter], SoftnessParameter],
    paths: Iterable[str] | None = None,
) -> _Model:
    """Apply `change(path, parameter)` to every (selected) softness parameter."""
    found = _parameters(model)
    selected = None if paths is None else set(paths)
    if selected is not None:
        unknown = selected - {path for path, _ in found}
        if unknown:
            raise KeyError(
                f"No softness parameter at path(s) {sorted(unknown)}; the model has "
                f"{[path for path, _ in found]}."
            )
    # Flattening with the same `is_leaf` visits the parameters in `found`'s order.
    leaves, treedef = jtu.tree_flatten(model, is_leaf=is_softness_parameter)
    new = []
    changed = iter(found)
    for leaf in leaves:
        if is_softness_parameter(leaf):
            path, p = next(changed)
            leaf = change(path, p) if selected is None or path in selected else p
        new.append(leaf)
    return jtu.tree_unflatten(treedef, new)


def anneal(model: _Model, step: Real[ArrayLike, ""]) -> _Model:
    """Set every scheduled softness of `model` to its schedule's value at `step`.

    For each layer built with `schedule=...`, the base softness becomes
    `schedule(step)`; a learnt multiplier (`trainable=True`) stays on top of it.
    Layers without a schedule are unchanged.

    `step` may be a Python int or a traced array: inside an `eqx.filter_jit`
    training step, pass the step as an array (a Python int argument of a jitted
    function is static, and every new value would compile again).

    **Arguments:**

    - `model`: any PyTree containing soft layers.
    - `step`: the training step.

    **Returns:**

    The annealed model, of the same structure.

    !!! Example

        ```python
        model = [softeqx.nn.SoftSort(schedule=optax.exponential_decay(1.0, 100, 0.1))]

        @eqx.filter_jit
        def train_step(model, opt_state, step, x, y):
            model = softeqx.anneal(model, step)
            ...

        for step in range(1000):
            model, opt_state = train_step(model, opt_state, jnp.asarray(step), x, y)
        ```
    """
    return _replace(model, lambda _, p: p.at_step(step))


def softness_values(model: Any) -> dict[str, Float[Array, "*ensemble"]]:
    """The effective softness of every soft layer of `model`, by PyTree path.

    **Arguments:**

    - `model`: any PyTree containing soft layers.

    **Returns:**

    A dict from the path of each [`softeqx.nn.SoftnessParameter`][] (as
    `jax.tree_util.keystr` writes it, e.g. `"[0].softness_parameter"` or
    `".layers[1].softness_parameter"`) to its effective value, a scalar array.
    """
    return {path: p.value for path, p in _parameters(model)}


def _with_value(p: SoftnessParameter, value: ArrayLike) -> SoftnessParameter:
    zero = jnp.zeros_like(p.log_multiplier)
    return eqx.tree_at(lambda q: q.log_multiplier, p.with_base(value), zero)


def set_softness(model: _Model, value: ArrayLike | Mapping[str, ArrayLike]) -> _Model:
    """Set the effective softness of soft layers (their learnt multiplier is reset).

    **Arguments:**

    - `model`: any PyTree containing soft layers.
    - `value`: a positive scalar for every layer, or a mapping from paths (as
      returned by [`softeqx.softness_values`][]) to values for some of them. May
      be traced. Scheduled layers get their base back from the next
      [`softeqx.anneal`][].

    **Returns:**

    The model with those softness values.
    """
    if isinstance(value, Mapping):
        values = dict(value)
        return _replace(model, lambda path, p: _with_value(p, values[path]), values)
    return _replace(model, lambda _, p: _with_value(p, value))


def scale_softness(
    model: _Model, factor: ArrayLike, paths: Iterable[str] | None = None
) -> _Model:
    """Multiply the softness of soft layers by `factor` (a positive scalar).

    The base value is scaled; a learnt multiplier is kept.

    **Arguments:**

    - `model`: any PyTree containing soft layers.
    - `factor`: a positive scalar, may be traced.
    - `paths`: only the layers at these paths (default: all).

    **Returns:**

    The model with scaled softness values.
    """
    factor = check_softness_value(factor, "factor")

    def scale(_: str, p: SoftnessParameter) -> SoftnessParameter:
        log_base = p.log_base + jnp.log(factor).astype(p.log_base.dtype)
        return eqx.tree_at(lambda q: q.log_base, p, log_base)

    return _replace(model, scale, paths)


def freeze_softness(model: _Model, paths: Iterable[str] | None = None) -> _Model:
    """Stop training the softness of soft layers; their current value is kept.

    For layers without a schedule, the current effective value moves into the
    parameter's Python-float `reference` and its arrays become exactly 0, so no
    optimiser (weight decay included) can change it afterwards. Layers with a
    schedule keep their learnt multiplier (now with zero gradient) on top of the
    schedule. Changes the static configuration: call it outside `jit`, between
    training phases (it needs concrete values).

    **Arguments:**

    - `model`: any PyTree containing soft layers.
    - `paths`: only the layers at these paths (default: all).

    **Returns:**

    The model with frozen softness.
    """

    def freeze(path: str, p: SoftnessParameter) -> SoftnessParameter:
        p = eqx.tree_at(lambda q: q.trainable, p, False)
        if p.schedule is not None:
            return p
        if is_traced(p.log_base) or is_traced(p.log_multiplier):
            raise ValueError(
                "`freeze_softness` needs concrete softness values: call it outside "
                f"`jit`/`vmap` (the parameter at {path!r} is traced)."
            )
        zero = jnp.zeros_like(p.log_base)
        return eqx.tree_at(
            lambda q: (q.reference, q.log_base, q.log_multiplier),
            p,
            (float(p.value), zero, zero),
        )

    return _replace(model, freeze, paths)


def unfreeze_softness(model: _Model, paths: Iterable[str] | None = None) -> _Model:
    """Make the softness of soft layers trainable (a learnt multiplier on the base).

    The effective value is unchanged. Changes the static configuration: call it
    outside `jit`.

    **Arguments:**

    - `model`: any PyTree containing soft layers.
    - `paths`: only the layers at these paths (default: all).

    **Returns:**

    The model with trainable softness.
    """
    return _replace(
        model, lambda _, p: eqx.tree_at(lambda q: q.trainable, p, True), paths
    )


def _normalised_entropy(p: Array, categorical: bool) -> Array:
    """Entropy of each decision divided by its maximum, in `[0, 1]`."""
    p = jnp.asarray(p)
    if not jnp.issubdtype(p.dtype, jnp.floating):
        p = p.astype(jnp.result_type(float))
    p = jnp.clip(p, 0, 1)
    if categorical:
        n = p.shape[-1]
        if n == 1:
            return jnp.zeros(p.shape[:-1], p.dtype)
        total = jnp.sum(p, axis=-1, keepdims=True)
        q = p / jnp.where(total > 0, total, 1)
        entropy = -jnp.sum(jax.scipy.special.xlogy(q, q), axis=-1)
        return entropy / math.log(n)
    entropy = -(jax.scipy.special.xlogy(p, p) + jax.scipy.special.xlogy(1 - p, 1 - p))
    return entropy / math.log(2)


def hardness(layer: AbstractSoftLayer, x: Real[ArrayLike, "..."]) -> Float[Array, ""]:
    """How close a layer is to its hard op on the input `x`: a number in `[0, 1]`.

    One minus the mean normalised entropy of the decisions the layer relaxes
    (see the module documentation): 1 means every decision is exact, 0 that
    every decision is uniform. For the ordering and quantile layers the
    decisions are the rows of the soft permutation matrix (or the soft top-k /
    argmax indices); for the elementwise layers and comparisons they are the
    soft steps at the kinks or jumps (at each bound for `SoftClip`, at the
    nearest half-integer for `SoftRound`).

    Measured at the layer's softness in its soft `mode` (also for
    `straight_through` layers and in inference mode, whose forward pass is
    exact anyway); no gradient flows through it.

    **Arguments:**

    - `layer`: a soft layer.
    - `x`: an input batch of the shape the layer accepts.

    **Returns:**

    A scalar array in `[0, 1]`.
    """
    # `jax.lax.stop_gradient(layer)` would turn its Python flags into arrays.
    softness = jax.lax.stop_gradient(layer.softness)
    p, categorical = layer._decisions(jax.lax.stop_gradient(jnp.asarray(x)), softness)
    p = jax.lax.stop_gradient(p)
    # Clipped: rounding can take the normalised entropy a hair outside [0, 1].
    return jnp.clip(1 - jnp.mean(_normalised_entropy(p, categorical)), 0, 1)


class ScheduledAnnealer(eqx.Module):
    """Callback: set the softness of a model from a schedule at each step.

    With `schedule=None`, each layer follows its own schedule (this is
    [`softeqx.anneal`][]). With a schedule, every selected layer's base softness
    is set to `schedule(step)`, whether or not it was built with one; learnt
    multipliers stay on top.

    Call signature: `annealer(model, step) -> model`, with `step` a Python int
    or an array (traced inside `eqx.filter_jit`). Stateless.

    **Arguments:**

    - `schedule`: a `step -> softness` callable (any `optax` schedule), or None.
    - `paths`: only the layers at these paths (default: all).

    !!! Example

        ```python
        annealer = softeqx.ScheduledAnnealer(optax.cosine_decay_schedule(1.0, 500))
        model = annealer(model, step)
        ```
    """

    schedule: Schedule | None = eqx.field(static=True, default=None)
    paths: tuple[str, ...] | None = eqx.field(static=True, default=None)

    def __call__(self, model: _Model, step: Real[ArrayLike, ""]) -> _Model:
        schedule = self.schedule
        if schedule is None:
            return _replace(model, lambda _, p: p.at_step(step), self.paths)
        value = schedule(step)
        return _replace(
            model, lambda _, p: p.with_base(value, "schedule(step)"), self.paths
        )


class PlateauState(eqx.Module):
    """The state of a [`softeqx.PlateauAnnealer`][]: best loss and steps waited."""

    best: Float[Array, ""]
    wait: Array
    reductions: Array


class PlateauAnnealer(eqx.Module):
    """Callback: lower the softness when the loss stops improving.

    The loss improves when it is below `best - rtol * |best|`. After `patience`
    calls without improvement, the softness of every selected layer is
    multiplied by `factor` (never below `min_softness`) and the count restarts.

    Call signature: `model, state = annealer(model, state, loss)`, with
    `state = annealer.init()` before the first call. `loss` may be traced; the
    state is a PyTree of arrays, so the call works inside and outside
    `eqx.filter_jit`.

    It scales the base softness, so combine it with layers without a schedule
    (the next [`softeqx.anneal`][] would overwrite a scheduled base).

    **Arguments:**

    - `factor`: the multiplier applied at a plateau, in `(0, 1)`.
    - `patience`: how many calls without improvement make a plateau.
    - `rtol`: relative improvement that counts.
    - `min_softness`: lower bound of the effective softness after a reduction.
    - `paths`: only the layers at these paths (default: all).
    """

    factor: float = eqx.field(static=True, default=0.5)
    patience: int = eqx.field(static=True, default=10)
    rtol: float = eqx.field(static=True, default=1e-3)
    min_softness: float = eqx.field(static=True, default=1e-6)
    paths: tuple[str, ...] | None = eqx.field(static=True, default=None)

    def __check_init__(self) -> None:
        if not 0 < self.factor < 1:
            raise ValueError(f"`factor` must lie in (0, 1), got {self.factor!r}.")
        if isinstance(self.patience, bool) or not isinstance(self.patience, int):
            raise TypeError(f"`patience` must be an int, got {self.patience!r}.")
        if self.patience < 1:
            raise ValueError(f"`patience` must be >= 1, got {self.patience!r}.")
        if not self.rtol >= 0:
            raise ValueError(f"`rtol` must be >= 0, got {self.rtol!r}.")
        if not self.min_softness >= 0:
            raise ValueError(f"`min_softness` must be >= 0, got {self.min_softness!r}.")

    def init(self) -> PlateauState:
        """The initial state: no best loss yet."""
        dtype = jnp.result_type(float)
        return PlateauState(
            best=jnp.array(jnp.inf, dtype),
            wait=jnp.array(0, jnp.int32),
            reductions=jnp.array(0, jnp.int32),
        )

    def __call__(
        self, model: _Model, state: PlateauState, loss: Real[ArrayLike, ""]
    ) -> tuple[_Model, PlateauState]:
        loss = jnp.asarray(loss).astype(state.best.dtype)
        threshold = jnp.where(
            jnp.isfinite(state.best),
            state.best - self.rtol * jnp.abs(state.best),
            jnp.inf,
        )
        improved = loss < threshold
        wait = jnp.where(improved, 0, state.wait + 1)
        reduce = wait >= self.patience
        wait = jnp.where(reduce, 0, wait)
        best = jnp.where(improved, loss, state.best)
        log_factor = jnp.where(reduce, math.log(self.factor), 0.0)
        floor = math.log(self.min_softness) if self.min_softness > 0 else -jnp.inf

        def lower(_: str, p: SoftnessParameter) -> SoftnessParameter:
            log_base = p.log_base + log_factor.astype(p.log_base.dtype)
            # Keep log(reference) + log_base + log_multiplier >= log(min_softness).
            lowest = (
                floor - math.log(p.reference) - jax.lax.stop_gradient(p.log_multiplier)
            )
            bounded = jnp.maximum(log_base, lowest.astype(log_base.dtype))
            log_base = jnp.where(reduce, jnp.minimum(bounded, p.log_base), p.log_base)
            return eqx.tree_at(lambda q: q.log_base, p, log_base)

        model = _replace(model, lower, self.paths)
        reductions = state.reductions + reduce.astype(state.reductions.dtype)
        return model, PlateauState(best=best, wait=wait, reductions=reductions)


class HardnessTargetAnnealer(eqx.Module):
    r"""Callback: steer one layer's softness so its hardness follows a target.

    At each call it measures $h$ = [`softeqx.hardness`][]`(layer, x)` of the
    selected layer on the batch `x` (the layer's input) and multiplies its
    softness by $\exp(\gamma\,(h - h^*(t)))$: a layer harder than the target
    $h^*(t)$ gets softer, a softer one harder. It is a multiplicative
    (log-space) proportional controller; with a constant target it settles
    where $h = h^*$.

    Call signature: `model, h = annealer(model, step, x)`, returning the model
    and the hardness measured before the update. `step` and `x` may be traced,
    so it works inside and outside `eqx.filter_jit`. Stateless.

    **Arguments:**

    - `where`: a function `model -> layer` selecting the soft layer (as for
      `eqx.tree_at`).
    - `target`: the target hardness in `[0, 1]`, a number or a `step -> value`
      schedule (e.g. `optax.linear_schedule(0.5, 0.99, 1000)`).
    - `gain`: $\gamma$, the step size in log-softness per unit of hardness error.
    - `min_softness`, `max_softness`: bounds of the softness.
    """

    where: Callable[[Any], AbstractSoftLayer] = eqx.field(static=True)
    target: float | Schedule = eqx.field(static=True)
    gain: float = eqx.field(static=True, default=2.0)
    min_softness: float = eqx.field(static=True, default=1e-6)
    max_softness: float = eqx.field(static=True, default=1e6)

    def __check_init__(self) -> None:
        if not callable(self.where):
            raise TypeError(f"`where` must be a callable, got {self.where!r}.")
        if not self.gain > 0:
            raise ValueError(f"`gain` must be positive, got {self.gain!r}.")
        if not 0 < self.min_softness < self.max_softness:
            raise ValueError(
                "Need 0 < `min_softness` < `max_softness`, got "
                f"{self.min_softness!r} and {self.max_softness!r}."
            )

    def __call__(
        self, model: _Model, step: Real[ArrayLike, ""], x: Real[ArrayLike, "..."]
    ) -> tuple[_Model, Float[Array, ""]]:
        layer = self.where(model)
        if not isinstance(layer, AbstractSoftLayer):
            raise TypeError(f"`where` must select a soft layer, got {type(layer)}.")
        h = hardness(layer, x)
        target = self.target(step) if callable(self.target) else self.target
        error = h - jnp.asarray(target).astype(h.dtype)
        p = layer.softness_parameter
        log_value = jnp.log(jax.lax.stop_gradient(p.value)) + self.gain * error
        log_value = jnp.clip(
            log_value, math.log(self.min_softness), math.log(self.max_softness)
        )
        new_parameter = _with_value_keeping_multiplier(p, jnp.exp(log_value))
        model = eqx.tree_at(
            lambda m: self.where(m).softness_parameter, model, new_parameter
        )
        return model, h


def _with_value_keeping_multiplier(
    p: SoftnessParameter, value: Array
) -> SoftnessParameter:
    """Set the effective value by moving the base; the multiplier is kept."""
    multiplier = jax.lax.stop_gradient(p.multiplier)
    return p.with_base(value / multiplier.astype(value.dtype))


# Functional op -> layer, for `calibrate_softness(op, ...)`.
LAYER_OF_OP: dict[Callable[..., Any], type[AbstractSoftLayer]] = {
    elementwise.relu: nn_elementwise.SoftReLU,
    elementwise.clip: nn_elementwise.SoftClip,
    elementwise.round: nn_elementwise.SoftRound,
    elementwise.sign: nn_elementwise.SoftSign,
    elementwise.abs: nn_elementwise.SoftAbs,
    elementwise.heaviside: nn_elementwise.SoftHeaviside,
    ordering.sort: nn_ordering.SoftSort,
    ordering.argsort: nn_ordering.SoftArgSort,
    ordering.rank: nn_ordering.SoftRank,
    ordering.top_k: nn_ordering.SoftTopK,
    ordering.max: nn_ordering.SoftMax,
    ordering.min: nn_ordering.SoftMin,
    ordering.argmax: nn_ordering.SoftArgMax,
    ordering.argmin: nn_ordering.SoftArgMin,
    quantile.quantile: nn_quantile.SoftQuantile,
    quantile.median: nn_quantile.SoftMedian,
    quantile.percentile: nn_quantile.SoftPercentile,
}


def calibrate_softness(
    layer_or_op: AbstractSoftLayer | Callable[..., Any],
    x: Real[ArrayLike, "..."],
    target_hardness: Real[ArrayLike, ""],
    *,
    lower: float = 1e-5,
    upper: float = 1e3,
    iterations: int = 40,
    **kwargs: Any,
) -> Float[Array, ""]:
    r"""Find the softness at which a layer or op has a given hardness on `x`.

    Answers "which softness for my $n$ and my data?": bisection in
    $\log s$ on $[\log(\text{lower}), \log(\text{upper})]$ for
    [`softeqx.hardness`][] at $s$ equal to `target_hardness` (hardness decreases as the
    softness grows). Each iteration halves the bracket, so 40 iterations pin
    $\log s$ to $\log(\text{upper}/\text{lower}) / 2^{40}$. If the target is
    out of reach within the bracket, the nearest end is returned. Works under
    `jit` (`x` and `target_hardness` may be traced).

    **Arguments:**

    - `layer_or_op`: a soft layer, or a functional op (`softeqx.sort`,
      `softeqx.argmax`, `softeqx.relu`, ...) whose layer is built with `kwargs`.
    - `x`: sample inputs, of the shape the op takes (e.g. a batch of rows with
      `axis=-1`).
    - `target_hardness`: the requested hardness, in `[0, 1]`.
    - `lower`, `upper`: the softness bracket.
    - `iterations`: bisection steps.
    - `kwargs`: arguments of the op (`method`, `mode`, `axis`, `k`, ...), only
      with an op.

    **Returns:**

    The softness, a positive scalar array.

    !!! Example

        ```python
        x = jax.random.normal(key, (64, 100))
        s = softeqx.calibrate_softness(softeqx.sort, x, 0.9, axis=-1)
        layer = softeqx.nn.SoftSort(axis=-1, softness=s)
        ```
    """
    if isinstance(layer_or_op, AbstractSoftLayer):
        if kwargs:
            raise TypeError(
                "Extra arguments configure the layer of an op; a layer is already "
                f"configured, got {sorted(kwargs)}."
            )
        layer = layer_or_op
    elif layer_or_op in LAYER_OF_OP:
        layer = LAYER_OF_OP[layer_or_op](**kwargs)
    else:
        names = sorted(f"softeqx.{op.__name__}" for op in LAYER_OF_OP)
        raise TypeError(
            f"`layer_or_op` must be a soft layer or one of {names}, got "
            f"{layer_or_op!r}."
        )
    if not 0 < lower < upper:
        raise ValueError(f"Need 0 < `lower` < `upper`, got {lower!r} and {upper!r}.")
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise TypeError(f"`iterations` must be an int, got {iterations!r}.")
    target = jnp.asarray(target_hardness)
    if not is_traced(target_hardness):
        value = float(np.asarray(target_hardness))
        if not 0 <= value <= 1:
            raise ValueError(
                f"`target_hardness` must lie in [0, 1], got {target_hardness!r}."
            )
    dtype = jnp.result_type(float)
    bracket = (jnp.array(math.log(lower), dtype), jnp.array(math.log(upper), dtype))
    return _bisect(layer, jnp.asarray(x), target.astype(dtype), bracket, iterations)


@eqx.filter_jit
def _bisect(
    layer: AbstractSoftLayer,
    x: Array,
    target: Array,
    bracket: tuple[Array, Array],
    iterations: int,
) -> Array:
    """Bisection of `hardness(layer at exp(log s), x) = target` on `bracket`."""

    def measure(log_s: Array) -> Array:
        return hardness(set_softness(layer, jnp.exp(log_s)), x)

    def step(_: Any, bracket: tuple[Array, Array]) -> tuple[Array, Array]:
        lo, hi = bracket
        mid = (lo + hi) / 2
        # Too hard: the softness must grow.
        too_hard = measure(mid) > target
        return jnp.where(too_hard, mid, lo), jnp.where(too_hard, hi, mid)

    lo, hi = jax.lax.fori_loop(0, iterations, step, bracket)
    return jnp.exp((lo + hi) / 2)
