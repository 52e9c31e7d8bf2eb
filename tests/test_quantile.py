"""Tests of the quantile ops: argquantile, quantile, argmedian, median,
argpercentile, percentile.

The method/mode contract (distributions, ranges, convergence, derivatives) runs
these ops too, in `test_methods.py`. Here: printed examples, exact parity of
`mode="hard"` with `jnp.quantile`/`jnp.median`/`jnp.percentile` for every
interpolation rule, shapes (`q`'s axis first), the interpolation rules in soft
mode, errors and the straight-through variants.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import softeqx
from helpers import assert_allclose, assert_golden


X = jnp.array([-0.2, -1.0, 0.3, 1.0])
# Small inputs: compile quickly rather than well.
fast_jit = functools.partial(
    jax.jit,
    compiler_options={
        "xla_backend_optimization_level": 0,
        "xla_llvm_disable_expensive_passes": True,
    },
)
QUANTILE_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")
SHAPES = [(6,), (3, 5), (2, 4, 3)]
AXES = [
    (shape, axis)
    for shape in SHAPES
    for axis in [*range(len(shape)), *range(-len(shape), 0), None]
]
# Every axis of every shape, each with one interpolation rule (in turn) and
# keepdims on every other case: jnp.quantile compiles for each combination, so
# the full product would be slow without testing anything more. Negative axes
# (the same code path once normalised) run with the slow tests, but for one.
CASES = [
    pytest.param(
        shape,
        axis,
        QUANTILE_METHODS[i % len(QUANTILE_METHODS)],
        i % 2 == 1,
        id=f"{shape}-{axis}-{QUANTILE_METHODS[i % len(QUANTILE_METHODS)]}-{i % 2}",
        marks=pytest.mark.slow
        if axis is not None and axis < 0 and (shape, axis) != ((2, 4, 3), -1)
        else (),
    )
    for i, (shape, axis) in enumerate(AXES)
]
QS = [0.2, (0.0, 0.35, 0.5, 0.75, 1.0)]


def tied_input(seed, shape) -> jnp.ndarray:
    """Integer-valued floats in [-3, 3]: plenty of ties."""
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.integers(-3, 4, size=shape).astype(np.float32))


def select(soft_index, x, axis):
    """The expected value of `x` under a SoftIndex with `q`'s axes first."""
    if axis is None:
        return soft_index @ jnp.ravel(x)
    moved = jnp.moveaxis(x, axis, -1)
    return jnp.sum(soft_index * moved, axis=-1)


# ---------------------------------------------------------------- golden values


def test_hard_goldens():
    assert_golden(softeqx.argquantile(X, 0.2, mode="hard"), [0.6, 0.4, 0.0, 0.0])
    np.testing.assert_array_equal(
        softeqx.argmedian(X, mode="hard"), [0.5, 0.0, 0.5, 0.0]
    )
    assert_golden(softeqx.quantile(X, 0.2, mode="hard"), -0.52)
    np.testing.assert_array_equal(
        softeqx.quantile(X, 0.2, mode="hard"), jnp.quantile(X, 0.2)
    )
    np.testing.assert_array_equal(softeqx.median(X, mode="hard"), jnp.median(X))
    assert_golden(softeqx.median(X, mode="hard"), 0.05)
    np.testing.assert_array_equal(
        softeqx.percentile(X, 20.0, mode="hard"), jnp.percentile(X, 20.0)
    )


def test_soft_quantile_goldens():
    # 003's printed soft quantile and argquantile at q = 0.2 (neuralsort, linear).
    assert_golden(softeqx.quantile(X, 0.2), -0.4501)
    assert_golden(softeqx.argquantile(X, 0.2), [0.5403, 0.3693, 0.0902, 0.0001])


def test_soft_quantiles_of_the_example():
    # Between the neighbouring hard values, and ordered in q.
    q = softeqx.quantile(X, jnp.array([0.0, 0.2, 0.5, 0.8, 1.0]))
    assert np.all(np.diff(np.asarray(q)) > 0)
    assert float(q[0]) >= -1.0 and float(q[-1]) <= 1.0
    p = softeqx.argquantile(X, 0.2)
    assert int(np.argmax(p)) == 0 and float(p[1]) > float(p[2]) > float(p[3])
    assert_allclose(p.sum(), 1.0)


# ---------------------------------------------------------------- hard parity


@pytest.mark.parametrize(("shape", "axis", "quantile_method", "keepdims"), CASES)
def test_hard_quantile_is_jnp_quantile(shape, axis, quantile_method, keepdims):
    x = tied_input(1, shape)
    for q in QS:
        q = jnp.asarray(q, jnp.float32)
        out = softeqx.quantile(
            x,
            q,
            axis=axis,
            keepdims=keepdims,
            mode="hard",
            quantile_method=quantile_method,
        )
        expected = jnp.quantile(
            x, q, axis=axis, keepdims=keepdims, method=quantile_method
        )
        assert out.shape == expected.shape
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(("shape", "axis", "quantile_method", "keepdims"), CASES)
def test_hard_median_and_percentile_are_jnp(shape, axis, quantile_method, keepdims):
    del quantile_method  # median and percentile interpolate linearly
    x = tied_input(2, shape)
    kw = dict(axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(
        softeqx.median(x, mode="hard", **kw), jnp.median(x, **kw)
    )
    for p in (35.0, jnp.array([0.0, 10.0, 50.0, 100.0])):
        np.testing.assert_array_equal(
            softeqx.percentile(x, p, mode="hard", **kw), jnp.percentile(x, p, **kw)
        )


@pytest.mark.parametrize(("shape", "axis", "quantile_method", "keepdims"), CASES)
def test_hard_argquantile_selects_the_quantile(shape, axis, quantile_method, keepdims):
    x = tied_input(3, shape)
    n = x.size if axis is None else x.shape[axis]
    for q in QS:
        q = jnp.asarray(q, jnp.float32)
        kw = dict(axis=axis, mode="hard", quantile_method=quantile_method)
        shape = jnp.quantile(x, q, axis=axis, keepdims=keepdims).shape
        assert softeqx.argquantile(x, q, keepdims=keepdims, **kw).shape == (*shape, n)
        p = softeqx.argquantile(x, q, **kw)
        expected = jnp.quantile(x, q, axis=axis, method=quantile_method)
        assert p.shape == (*expected.shape, n)
        assert np.all(np.asarray(p) >= 0) and np.all(np.sum(p > 0, axis=-1) <= 2)
        assert_allclose(p.sum(-1), 1.0)
        assert_allclose(select(p, x, axis), expected, atol=1e-6)


@pytest.mark.parametrize("quantile_method", QUANTILE_METHODS)
def test_hard_quantile_every_rule_on_ties(quantile_method):
    x = tied_input(5, (4, 7))
    q = jnp.array([0.0, 0.15, 0.5, 0.62, 1.0])
    for axis in (1, None):
        expected = jnp.quantile(x, q, axis=axis, method=quantile_method)
        out = softeqx.quantile(
            x, q, axis=axis, mode="hard", quantile_method=quantile_method
        )
        np.testing.assert_array_equal(out, expected)
        p = softeqx.argquantile(
            x, q, axis=axis, mode="hard", quantile_method=quantile_method
        )
        assert_allclose(select(p, x, axis), expected, atol=1e-6)


def test_hard_argquantile_mixes_the_two_neighbours():
    # No ties: the two sorted neighbours of h = q (n - 1), weighted as jnp does.
    x = jnp.array([0.5, -2.0, 3.0, 1.0, -1.0])  # sorted: indices 1, 4, 0, 3, 2
    q = 0.3  # h = 1.2: positions 1 and 2 -> elements 4 and 0
    expected = {
        "linear": {4: 0.8, 0: 0.2},
        "lower": {4: 1.0},
        "higher": {0: 1.0},
        "nearest": {4: 1.0},
        "midpoint": {4: 0.5, 0: 0.5},
    }
    for quantile_method, weights in expected.items():
        dense = np.zeros(5, np.float32)
        for index, weight in weights.items():
            dense[index] = weight
        p = softeqx.argquantile(x, q, mode="hard", quantile_method=quantile_method)
        assert_allclose(p, dense, atol=1e-6)


@pytest.mark.parametrize(("shape", "axis", "quantile_method", "keepdims"), CASES)
def test_hard_argmedian_and_argpercentile_select_their_values(
    shape, axis, quantile_method, keepdims
):
    del quantile_method  # median and percentile interpolate linearly
    x = tied_input(4, shape)
    n = x.size if axis is None else x.shape[axis]
    kw = dict(axis=axis, keepdims=keepdims)
    p = softeqx.argmedian(x, mode="hard", **kw)
    assert p.shape == (*jnp.median(x, **kw).shape, n)
    p = softeqx.argmedian(x, mode="hard", axis=axis)
    assert_allclose(select(p, x, axis), jnp.median(x, axis=axis), atol=1e-6)
    percents = jnp.array([10.0, 65.0])
    p = softeqx.argpercentile(x, percents, mode="hard", **kw)
    assert p.shape == (*jnp.percentile(x, percents, **kw).shape, n)
    p = softeqx.argpercentile(x, percents, mode="hard", axis=axis)
    expected = jnp.percentile(x, percents, axis=axis)
    assert_allclose(select(p, x, axis), expected, atol=1e-6)


# ---------------------------------------------------------------- shapes


# Shapes are decided by the op, not the family: the hard path and one soft one.
SHAPE_MODES = ("hard", "c1")


def shape_of(op, x, mode, *args, **kw):
    if mode == "hard":
        return op(x, *args, mode=mode, **kw).shape
    return jax.eval_shape(lambda x: op(x, *args, mode=mode, **kw), x).shape


@pytest.mark.parametrize("mode", SHAPE_MODES)
def test_argmedian_shapes(mode):
    x = jnp.arange(12.0).reshape(3, 4)
    assert shape_of(softeqx.argmedian, x, mode, axis=1) == (3, 4)
    assert shape_of(softeqx.argmedian, x, mode, axis=0) == (4, 3)
    assert shape_of(softeqx.argmedian, x, mode, axis=1, keepdims=True) == (3, 1, 4)
    assert shape_of(softeqx.argmedian, x, mode, axis=0, keepdims=True) == (1, 4, 3)
    assert shape_of(softeqx.argmedian, x, mode) == (12,)
    assert shape_of(softeqx.argmedian, x, mode, keepdims=True) == (1, 1, 12)


@pytest.mark.parametrize("mode", SHAPE_MODES)
@pytest.mark.parametrize("axis", [0, -1, None])
@pytest.mark.parametrize("keepdims", [False, True])
def test_quantile_shapes_put_q_first(mode, axis, keepdims):
    x = jnp.arange(12.0).reshape(3, 4)
    q = jnp.array([0.1, 0.5, 0.9])
    kw = dict(axis=axis, keepdims=keepdims)
    for qq in (q, 0.5):
        expected = jnp.quantile(x, qq, **kw).shape
        assert shape_of(softeqx.quantile, x, mode, qq, **kw) == expected
        n = 12 if axis is None else x.shape[axis]
        assert shape_of(softeqx.argquantile, x, mode, qq, **kw) == (*expected, n)
    expected = jnp.percentile(x, 100 * q, **kw).shape
    assert shape_of(softeqx.percentile, x, mode, 100 * q, **kw) == expected
    assert shape_of(softeqx.median, x, mode, **kw) == jnp.median(x, **kw).shape


# ---------------------------------------------------------------- soft semantics

# Soft evaluations run eagerly in "smooth" mode; a few shared shapes keep the
# number of compiled primitives small.
XM = jnp.array(
    [[0.3, -1.2, 2.5, 0.9], [1.0, 0.0, -0.5, 0.2], [-2.0, 1.5, 0.7, -0.3]]
)  # (3, 4): an even count along axis 1, an odd one along axis 0


# Soft checks are jitted (one quick compile each) with q passed as an argument.


def test_soft_quantile_at_grid_points_is_the_soft_sort():
    # q = i / (n - 1) reads exactly position i of the sorted order.
    quantile, sort, argquantile, argsort = fast_jit(
        lambda x, q: (
            softeqx.quantile(x, q, axis=1),
            softeqx.sort(x, axis=1),
            softeqx.argquantile(x, q, axis=1),
            softeqx.argsort(x, axis=1),
        )
    )(XM, jnp.arange(4.0) / 3)
    assert_allclose(quantile, sort.T, atol=1e-6)
    assert_allclose(argquantile, jnp.moveaxis(argsort, 1, 0), atol=1e-6)


@functools.cache
def quantiles_by_rule():
    """The soft sort of `x` and its soft q-quantile for every rule."""
    return fast_jit(
        lambda x, q: (
            softeqx.sort(x),
            {
                rule: softeqx.quantile(x, q, quantile_method=rule)
                for rule in QUANTILE_METHODS
            },
        )
    )


def test_soft_interpolation_rules_follow_jnp():
    s, out = quantiles_by_rule()(X, 0.4)  # h = 1.2 between positions 1 and 2
    expected = {
        "linear": 0.8 * s[1] + 0.2 * s[2],
        "lower": s[1],
        "higher": s[2],
        "nearest": s[1],
        "midpoint": 0.5 * (s[1] + s[2]),
    }
    for rule, value in expected.items():
        assert_allclose(out[rule], value, atol=1e-6, err_msg=rule)
    # nearest rounds h = 1.8 up.
    s, out = quantiles_by_rule()(X, 0.6)
    assert_allclose(out["nearest"], s[2], atol=1e-6)


def test_soft_median_of_an_even_count_averages_the_middle():
    # The eight ops in one jitted program: eagerly, each compiled its own
    # program and dispatched its preparation op by op.
    @fast_jit
    def ops(x):
        return {
            "sort": softeqx.sort(x, axis=-1),
            "median": softeqx.median(x, axis=-1),
            "argsort": softeqx.argsort(x, axis=-1),
            "argmedian": softeqx.argmedian(x, axis=-1),
            "argmedian_0": softeqx.argmedian(x, axis=0),
            "argsort_0": softeqx.argsort(x, axis=0),
            "median_0": softeqx.median(x, axis=0),
            "sort_0": softeqx.sort(x, axis=0),
        }

    out = ops(XM)
    s, p = out["sort"], out["argsort"]
    assert_allclose(out["median"], (s[:, 1] + s[:, 2]) / 2, atol=1e-6)
    assert_allclose(out["argmedian"], (p[:, 1] + p[:, 2]) / 2, atol=1e-6)
    # An odd count: the middle row of the soft permutation.
    assert_allclose(out["argmedian_0"], out["argsort_0"][1], atol=1e-6)
    assert_allclose(out["median_0"], out["sort_0"][1], atol=1e-6)


def test_percentile_is_quantile_over_100():
    out = fast_jit(
        lambda x, p: (
            (softeqx.percentile(x, p, axis=1), softeqx.quantile(x, p / 100, axis=1)),
            (
                softeqx.argpercentile(x, p, axis=1),
                softeqx.argquantile(x, p / 100, axis=1),
            ),
        )
    )(XM, jnp.array([5.0, 50.0, 95.0]))
    for value, expected in out:
        assert_allclose(value, expected)


def test_soft_quantile_converges_to_hard():
    q = jnp.array([0.0, 0.1, 0.4, 0.5, 0.6, 1.0])
    soft = fast_jit(
        lambda x, q: {
            rule: (
                softeqx.quantile(x, q, softness=1e-3, quantile_method=rule),
                softeqx.argquantile(x, q, softness=1e-3, quantile_method=rule),
            )
            for rule in QUANTILE_METHODS
        }
    )(X, q)
    for rule, (value, index) in soft.items():
        expected = jnp.quantile(X, q, method=rule)
        assert_allclose(value, expected, atol=1e-4, err_msg=rule)
        hard = softeqx.argquantile(X, q, mode="hard", quantile_method=rule)
        assert_allclose(index, hard, atol=1e-4, err_msg=rule)


def test_soft_quantile_of_constant_input_is_the_constant():
    value, grad = fast_jit(
        lambda x, q: (
            softeqx.quantile(x, q),
            jax.grad(lambda x: softeqx.quantile(x, q[0]))(x),
        )
    )(jnp.full((4,), 2.5), jnp.array([0.1, 0.5, 0.9]))
    assert_allclose(value, [2.5, 2.5, 2.5])
    assert np.all(np.isfinite(np.asarray(grad)))


def test_quantile_gradient_sums_to_one():
    # Shifting every element by c shifts every quantile by c.
    grad = fast_jit(jax.grad(softeqx.quantile))(X, 0.35)
    assert_allclose(grad.sum(), 1.0, atol=1e-5)


# ---------------------------------------------------------------- transformations


@pytest.mark.parametrize("mode", ["hard", "smooth"])
def test_quantile_ops_work_under_jit(mode):
    # Python and concrete-array q and p, as users write them inside jit.
    ops = {
        "quantile": lambda x: softeqx.quantile(x, 0.3, axis=1, mode=mode),
        "quantiles": lambda x: softeqx.quantile(
            x, jnp.array([0.1, 0.6]), axis=1, mode=mode
        ),
        "argquantile": lambda x: softeqx.argquantile(x, 0.3, axis=1, mode=mode),
        "median": lambda x: softeqx.median(x, axis=1, mode=mode),
        "argmedian": lambda x: softeqx.argmedian(x, axis=1, mode=mode),
        "percentile": lambda x: softeqx.percentile(x, 30.0, axis=1, mode=mode),
        "argpercentile": lambda x: softeqx.argpercentile(x, 30.0, axis=1, mode=mode),
    }
    jitted = fast_jit(lambda x: {name: op(x) for name, op in ops.items()})(XM)
    for name, op in ops.items():
        assert_allclose(jitted[name], op(XM), atol=1e-6, err_msg=name)


def test_traced_q_under_jit_vmap_and_grad():
    batched, per_q, grad = fast_jit(
        lambda x, q: (
            softeqx.quantile(x, q, axis=1),
            jax.vmap(lambda q: softeqx.quantile(x, q, axis=1))(q),
            jax.grad(lambda q: softeqx.quantile(x[0], q))(q[0]),
        )
    )(XM, jnp.array([0.45, 0.7]))  # h = 1.35: between two sorted positions
    assert_allclose(per_q, batched, atol=1e-6)
    assert_allclose(batched[0, 0], softeqx.quantile(XM[0], 0.45), atol=1e-6)
    assert np.isfinite(float(grad)) and float(grad) > 0


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_precision_keeps_its_dtype(dtype):
    x = X.astype(dtype)
    for mode in ("hard", "smooth"):
        assert softeqx.quantile(x, 0.3, mode=mode).dtype == dtype
        assert softeqx.argquantile(x, 0.3, mode=mode).dtype == dtype
        assert softeqx.median(x, mode=mode).dtype == dtype
        assert softeqx.argmedian(x, mode=mode).dtype == dtype
    assert_allclose(
        softeqx.quantile(x, 0.3),
        softeqx.quantile(x.astype(jnp.float32), 0.3),
        atol=2e-2,
    )


def test_float64_stays_float64(x64):
    x = X.astype(jnp.float64)
    for mode in ("hard", "smooth"):
        assert softeqx.quantile(x, 0.3, mode=mode).dtype == jnp.float64
        assert softeqx.argquantile(x, 0.3, mode=mode).dtype == jnp.float64
        assert softeqx.median(x, mode=mode).dtype == jnp.float64


# ---------------------------------------------------------------- straight-through


ST_OPS = {
    "argquantile": (softeqx.argquantile_st, softeqx.argquantile, (0.3,)),
    "quantile": (softeqx.quantile_st, softeqx.quantile, (jnp.array([0.3, 0.8]),)),
    "argmedian": (softeqx.argmedian_st, softeqx.argmedian, ()),
    "median": (softeqx.median_st, softeqx.median, ()),
    "argpercentile": (softeqx.argpercentile_st, softeqx.argpercentile, (30.0,)),
    "percentile": (softeqx.percentile_st, softeqx.percentile, (30.0,)),
}


@pytest.mark.parametrize("name", list(ST_OPS))
def test_straight_through_value_is_hard_and_gradient_is_soft(name, getkey):
    st_op, op, args = ST_OPS[name]
    x = XM
    weights = jax.random.normal(getkey(), op(x, *args, axis=1, mode="hard").shape)

    def run(x):
        def loss(f):
            return lambda x: jnp.sum(weights * f(x, *args, axis=1))

        values = st_op(x, *args, axis=1), op(x, *args, axis=1, mode="hard")
        return values, (jax.grad(loss(st_op))(x), jax.grad(loss(op))(x))

    (st_value, hard), (st_grad, soft_grad) = fast_jit(run)(x)
    np.testing.assert_array_equal(st_value, hard)
    assert_allclose(st_grad, soft_grad)
    assert np.any(np.asarray(soft_grad) != 0)


# ---------------------------------------------------------------- errors


Q_OPS = {
    "quantile": softeqx.quantile,
    "argquantile": softeqx.argquantile,
}
P_OPS = {
    "percentile": softeqx.percentile,
    "argpercentile": softeqx.argpercentile,
}
ALL_OPS = {
    "quantile": lambda x, **kw: softeqx.quantile(x, 0.3, **kw),
    "argquantile": lambda x, **kw: softeqx.argquantile(x, 0.3, **kw),
    "median": softeqx.median,
    "argmedian": softeqx.argmedian,
    "percentile": lambda x, **kw: softeqx.percentile(x, 30.0, **kw),
    "argpercentile": lambda x, **kw: softeqx.argpercentile(x, 30.0, **kw),
}


@pytest.mark.parametrize("name", list(Q_OPS))
@pytest.mark.parametrize("mode", ["hard", "smooth"])
@pytest.mark.parametrize("q", [1.5, -0.1, (0.2, 1.2), np.nan])
def test_q_outside_0_1_raises(name, mode, q):
    with pytest.raises(ValueError, match="`q`"):
        Q_OPS[name](X, jnp.asarray(q), mode=mode)


@pytest.mark.parametrize("name", list(Q_OPS))
def test_q_with_two_dimensions_raises(name):
    with pytest.raises(ValueError, match="`q`"):
        Q_OPS[name](X, jnp.full((2, 2), 0.5))


@pytest.mark.parametrize("name", list(Q_OPS))
@pytest.mark.parametrize("mode", ["hard", "smooth"])
def test_traced_q_outside_0_1_raises_at_run_time(name, mode):
    f = jax.jit(lambda x, q: Q_OPS[name](x, q, mode=mode))
    assert np.all(np.isfinite(np.asarray(f(X, 0.5))))
    with pytest.raises(Exception, match="q"):
        jax.block_until_ready(f(X, 1.5))


@pytest.mark.parametrize("name", list(P_OPS))
@pytest.mark.parametrize("mode", ["hard", "smooth"])
@pytest.mark.parametrize("p", [100.5, -1.0, (10.0, 120.0)])
def test_p_outside_0_100_raises(name, mode, p):
    with pytest.raises(ValueError, match="`p`"):
        P_OPS[name](X, jnp.asarray(p), mode=mode)


@pytest.mark.parametrize("name", list(P_OPS))
def test_traced_p_outside_0_100_raises_at_run_time(name):
    f = jax.jit(lambda x, p: P_OPS[name](x, p))
    assert np.all(np.isfinite(np.asarray(f(X, 50.0))))
    with pytest.raises(Exception, match="p"):
        jax.block_until_ready(f(X, 101.0))


@pytest.mark.parametrize("name", list(Q_OPS))
@pytest.mark.parametrize("mode", ["hard", "smooth"])
def test_unknown_quantile_method_raises(name, mode):
    # A Literal annotation: jaxtyping may reject it first, with a TypeError.
    with pytest.raises((ValueError, TypeError), match="quantile_method"):
        Q_OPS[name](X, 0.3, mode=mode, quantile_method="inverted_cdf")


@pytest.mark.parametrize("name", list(ALL_OPS))
def test_unknown_method_and_mode_raise(name):
    with pytest.raises(ValueError, match="`method`"):
        ALL_OPS[name](X, method="quickselect")
    with pytest.raises((ValueError, TypeError), match="mode"):
        ALL_OPS[name](X, mode="c3")


@pytest.mark.parametrize("name", list(ALL_OPS))
@pytest.mark.parametrize("mode", ["hard", "smooth"])
def test_axis_out_of_range_raises(name, mode):
    with pytest.raises(ValueError, match="`axis`"):
        ALL_OPS[name](jnp.ones((2, 3)), axis=2, mode=mode)
    with pytest.raises(ValueError, match="`axis`"):
        ALL_OPS[name](jnp.ones((2, 3)), axis=-3, mode=mode)


@pytest.mark.parametrize("name", list(ALL_OPS))
@pytest.mark.parametrize("mode", ["hard", "smooth"])
def test_empty_axis_raises_a_clear_error(name, mode):
    for shape, axis in (((0,), -1), ((3, 0), 1)):
        with pytest.raises(ValueError, match="element") as info:
            ALL_OPS[name](jnp.ones(shape), axis=axis, mode=mode)
        assert "modulo" not in str(info.value)


@pytest.mark.parametrize("name", list(ALL_OPS))
def test_bad_softness_raises(name):
    with pytest.raises(ValueError, match="`softness`"):
        ALL_OPS[name](X, softness=0.0)
    with pytest.raises(ValueError, match="`softness`"):
        ALL_OPS[name](X, softness=-1.0)
    with pytest.raises(ValueError, match="`softness`"):
        ALL_OPS[name](X, softness=jnp.array([0.1, 0.2]))


def test_traced_non_positive_softness_raises_at_run_time():
    f = jax.jit(lambda x, q, s: softeqx.quantile(x, q, softness=s))
    assert np.isfinite(float(f(X, 0.3, 0.1)))
    with pytest.raises(Exception, match="softness"):
        jax.block_until_ready(f(X, 0.3, 0.0))
