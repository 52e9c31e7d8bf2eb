"""Tests of the soft comparisons: greater, greater_equal, less, less_equal, equal,
not_equal and isclose.

Arrays are kept at one small size (`N`) so that eagerly dispatched primitives are
compiled once and reused by every test.
"""

import functools

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

import softeqx
from helpers import (
    ALL_MODES,
    N_POINTS,
    SOFT_MODES,
    assert_allclose,
    assert_golden,
    central_difference,
    check_jvp_fd,
    count_traces,
    covering_params,
    grid,
    rounding,
)


N = N_POINTS
HALF_WIDTH = 5.0  # the piecewise transitions span (x - y) / softness in [-5, 5]
# A tolerance larger than the whole transition (10 softness for softness < 0.3).
WIDE = {"rtol": 0.1, "atol": 3.0}

OPS = {
    "equal": softeqx.equal,
    "greater": softeqx.greater,
    "greater_equal": softeqx.greater_equal,
    "isclose": softeqx.isclose,
    "less": softeqx.less,
    "less_equal": softeqx.less_equal,
    "not_equal": softeqx.not_equal,
}
# The same ops, and isclose with a wide tolerance.
VARIANTS = {**OPS, "isclose_wide": functools.partial(softeqx.isclose, **WIDE)}
HARD = {
    "equal": jnp.equal,
    "greater": jnp.greater,
    "greater_equal": jnp.greater_equal,
    "isclose": jnp.isclose,
    "less": jnp.less,
    "less_equal": jnp.less_equal,
    "not_equal": jnp.not_equal,
}

# The inputs of the printed examples, twice over to make N values.
X = np.array([-0.2, -1.0, 0.3, 1.0] * 2, dtype=np.float32)
Y = np.array([0.2, -0.5, 0.5, -1.0] * 2, dtype=np.float32)
# Pairs at least 0.05 apart (or equal), and none within 0.05 of the tolerance
# boundary of `jnp.isclose` with `WIDE`.
AWAY_X = np.array([-2.0, -0.3, 0.0, 0.7, 1.5, 1.5, -1.0, 4.0], dtype=np.float32)
AWAY_Y = np.array([1.0, -0.25, 0.0, 0.7, 1.4, 1.7, -1.06, -0.5], dtype=np.float32)


def call(name, x, y, softness=0.1, mode="smooth"):
    return VARIANTS[name](x, y, softness=softness, mode=mode)


def safe_pairs(key, softness, margin):
    """`(x, y)`, N float64 values each, away from every kink of every variant:
    where |x - y| is 0, 5s or tau +- 5s, and where y is 0."""
    candidates = np.asarray(jax.random.uniform(key, (512, 2), jnp.float64, -4, 4))
    x, y = candidates.T
    d = np.abs(x - y)
    tau = WIDE["atol"] + WIDE["rtol"] * np.abs(y)
    ends = HALF_WIDTH * softness
    near = [d, d - ends, d - tau - ends, d - tau + ends, y]
    ok = np.all(np.abs(np.stack(near)) > margin, axis=0)
    x, y = x[ok][:N], y[ok][:N]
    assert x.size == N
    return jnp.asarray(x), jnp.asarray(y)


def all_variants(mode: str):
    """Every op of `VARIANTS` in `mode`, stacked along a new first axis."""

    def f(x, y, softness):
        return jnp.stack(
            [call(name, x, y, softness, mode) for name in sorted(VARIANTS)]
        )

    return f


float_arrays = hnp.arrays(
    np.float32, N, elements=st.floats(-3, 3, width=32, allow_subnormal=False)
)
softnesses = st.sampled_from([0.01, 0.1, 0.7, 3.0])


# ---------------------------------------------------------------- golden values

# SoftTorch (003), default softness 0.1 and mode "smooth", 4 decimals.
PRINTED = {
    "greater": [0.0180, 0.0067, 0.1192, 1.0000],
    "greater_equal": [0.0180, 0.0067, 0.1192, 1.0000],
    "less": [0.9820, 0.9933, 0.8808, 0.0000],
    "less_equal": [0.9820, 0.9933, 0.8808, 0.0000],
    "equal": [0.0414, 0.0143, 0.3580, 0.0000],
    "not_equal": [0.9586, 0.9857, 0.6420, 1.0000],
    "isclose": [0.0414, 0.0143, 0.3580, 0.0000],
}
# The early SoftJAX README (002) prints more digits for the inequalities, which
# agree with 003 (its equal, not_equal and isclose are an older definition).
PRINTED_PRECISE = {
    "greater": [0.01798621, 0.00669285, 0.11920292, 1.0],
    "greater_equal": [0.01798621, 0.00669285, 0.11920292, 1.0],
    "less": [9.82013790e-01, 9.93307149e-01, 8.80797078e-01, 2.06115369e-09],
    "less_equal": [9.82013790e-01, 9.93307149e-01, 8.80797078e-01, 2.06115369e-09],
}
PRINTED_HARD = {
    "greater": [0.0, 0.0, 0.0, 1.0],
    "greater_equal": [0.0, 0.0, 0.0, 1.0],
    "less": [1.0, 1.0, 1.0, 0.0],
    "less_equal": [1.0, 1.0, 1.0, 0.0],
    "equal": [0.0, 0.0, 0.0, 0.0],
    "not_equal": [1.0, 1.0, 1.0, 1.0],
    "isclose": [0.0, 0.0, 0.0, 0.0],
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_soft_mode_matches_printed_values(name):
    y = OPS[name](X, Y)
    assert y.dtype == jnp.float32
    assert_golden(y[:4], PRINTED[name])
    if name in PRINTED_PRECISE:
        np.testing.assert_allclose(y[:4], PRINTED_PRECISE[name], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(OPS))
def test_hard_mode_matches_printed_values(name):
    y = OPS[name](X, Y, mode="hard")
    assert y.dtype == jnp.float32
    np.testing.assert_array_equal(y[:4], PRINTED_HARD[name])


def test_docstring_examples():
    x = jnp.array([-0.2, 1.0, -0.2, 0.3, 0.0, 0.0, 0.0, 0.0])
    y = jnp.array([0.2, -1.0, 0.2, 0.5, 0.0, 0.0, 0.0, 0.0])
    assert_golden(softeqx.greater(x, y)[:2], [0.0180, 1.0])
    assert_golden(softeqx.equal(x, y)[2:4], [0.0414, 0.3580])
    assert_golden(softeqx.isclose(x, y)[2:4], [0.0414, 0.3580])


# ---------------------------------------------------------------- hard mode


def hard_inputs(seed, shape, dtype):
    """`(x, y)`: random values where about half of the pairs are ties, with zeros
    and pairs just inside and outside the default tolerance of `jnp.isclose`."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(dtype)
    y = np.where(rng.random(shape) < 0.5, x, rng.normal(size=shape).astype(dtype))
    special_x = np.array([0.0, -0.0, 1.0, 1.0, 2.0, 5.0], dtype)
    special_y = np.array([0.0, 0.0, 1.0 + 5e-6, 1.0 + 5e-5, 2.0, -5.0], dtype)
    which = rng.integers(special_x.size, size=shape)
    special = rng.random(shape) < 0.3
    x = np.where(special, special_x[which], x)
    y = np.where(special, special_y[which], y)
    return jnp.asarray(x), jnp.asarray(y)


# Every op in every shape; each op and each shape in both dtypes (the rest of
# the product with the slow tests).
@pytest.mark.parametrize(
    ("name", "shape", "dtype"),
    covering_params(sorted(OPS), [(), (N,), (3, N)], ["float32", "float64"]),
    indirect=["dtype"],
)
def test_hard_mode_equals_jax_numpy(name, shape, dtype):
    for seed in range(4):
        x, y = hard_inputs(seed, shape, dtype)
        result = OPS[name](x, y, mode="hard")
        assert result.dtype == dtype
        assert result.shape == shape
        np.testing.assert_array_equal(result, HARD[name](x, y).astype(dtype))


@pytest.mark.parametrize("shape", [(), (3, N)])
def test_hard_isclose_passes_the_tolerances_to_jax_numpy(shape, dtype):
    for seed, (rtol, atol) in enumerate(
        [(0.0, 0.0), (0.1, 0.0), (0.0, 0.5), (1e-3, 1e-2)]
    ):
        x, y = hard_inputs(seed, shape, dtype)
        result = softeqx.isclose(x, y, rtol=rtol, atol=atol, mode="hard")
        expected = jnp.isclose(x, y, rtol=rtol, atol=atol).astype(dtype)
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_scalars_broadcast_against_arrays(mode):
    x = grid(-1.3, 1.3)
    for name in sorted(OPS):
        expected = OPS[name](x, jnp.full(N, 0.3), mode=mode)
        for y in (0.3, jnp.float32(0.3)):
            result = OPS[name](x, y, mode=mode)
            assert result.shape == (N,)
            assert_allclose(result, expected)
        expected = OPS[name](jnp.full(N, 0.3), x, mode=mode)
        assert_allclose(OPS[name](jnp.float32(0.3), x, mode=mode), expected)


# ---------------------------------------------------------------- soft modes


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_swapping_arguments_mirrors_the_inequalities(mode):
    x, y = grid(-1.3, 1.3), jnp.asarray(np.roll(AWAY_Y, 3))
    for softness in (0.05, 0.7):
        pairs = [("greater", "less"), ("greater_equal", "less_equal")]
        for a, b in pairs:
            assert_allclose(OPS[a](x, y, softness, mode), OPS[b](y, x, softness, mode))
        for name in ("equal", "not_equal"):
            assert_allclose(
                OPS[name](x, y, softness, mode), OPS[name](y, x, softness, mode)
            )


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_inequalities_are_sigmoidals_of_the_difference(mode):
    x, y = grid(-1.3, 1.3), jnp.asarray(AWAY_Y)
    for softness in (0.05, 0.7):
        step = softeqx.sigmoidal(x - y, softness, mode)
        for name in ("greater", "greater_equal"):
            assert_allclose(OPS[name](x, y, softness, mode), step, atol=1e-6)
        for name in ("less", "less_equal"):
            assert_allclose(OPS[name](x, y, softness, mode), 1 - step, atol=1e-6)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_equal_is_twice_the_sigmoidal_of_minus_soft_abs(mode):
    # equal(x, y) = 2 F(-|x - y|_s / s), with the soft abs of `softeqx.abs`.
    x, y = grid(-1.3, 1.3), jnp.asarray(AWAY_Y)
    for softness in (0.05, 0.7):
        soft_abs = softeqx.abs(x - y, softness, mode)
        expected = 2 * softeqx.sigmoidal(-soft_abs / softness, 1.0, mode)
        assert_allclose(softeqx.equal(x, y, softness, mode), expected, atol=1e-6)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_isclose_with_zero_tolerance_is_equal(mode):
    x, y = grid(-1.3, 1.3), jnp.asarray(AWAY_Y)
    for softness in (0.05, 0.7):
        assert_allclose(
            softeqx.isclose(x, y, softness, rtol=0.0, atol=0.0, mode=mode),
            softeqx.equal(x, y, softness, mode),
        )


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_soft_modes_converge_to_hard_away_from_equality(name, mode):
    x, y = jnp.asarray(AWAY_X), jnp.asarray(AWAY_Y)
    # At x == y the strict inequalities need softness << epsilon (1e-10).
    distinct = np.asarray(AWAY_X != AWAY_Y)
    hard = call(name, x, y, mode="hard")
    errors = []
    for softness in (0.1, 0.01, 1e-3):
        y_soft = call(name, x, y, softness, mode)
        errors.append(float(jnp.max(jnp.abs(y_soft - hard)[distinct])))
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-6


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_limits_at_equality_follow_strictness(mode):
    # epsilon decides the limit at x == y: strict comparisons tend to 0, the
    # others to 1. equal and isclose are exactly 1 there for every softness.
    x = jnp.asarray(AWAY_X)
    expected = {
        "greater": 0.0,
        "less": 0.0,
        "not_equal": 0.0,
        "greater_equal": 1.0,
        "less_equal": 1.0,
        "equal": 1.0,
        "isclose": 1.0,
    }
    for name, value in expected.items():
        assert_allclose(OPS[name](x, x, 1e-13, mode=mode), value, atol=1e-6)
    for softness in (1e-3, 0.1, 1.0, 100.0):
        for name in ("equal", "isclose"):
            np.testing.assert_array_equal(OPS[name](x, x, softness, mode=mode), 1.0)


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("mode", [m for m in SOFT_MODES if m != "smooth"])
def test_piecewise_modes_equal_hard_outside_transitions(name, mode):
    # More than 5 softness from equality (and from the tolerance) the piecewise
    # families are flat, so the soft comparison is the hard one, to the bit.
    x, y = jnp.asarray(AWAY_X), jnp.asarray(AWAY_Y)
    distinct = np.asarray(AWAY_X != AWAY_Y)
    soft = np.asarray(call(name, x, y, 0.005, mode))
    hard = np.asarray(call(name, x, y, mode="hard"))
    np.testing.assert_array_equal(soft[distinct], hard[distinct])


def test_isclose_of_equal_values_with_large_tolerance_is_one():
    # The reference implementation gives 2 F(tau / s) > 1 here.
    for mode in SOFT_MODES:
        for kwargs in [{"rtol": 0.1}, {"atol": 5.0}, {"rtol": 1e3, "atol": 1e3}]:
            result = softeqx.isclose(100.0, 100.0, mode=mode, **kwargs)
            assert float(result) == 1.0, (mode, kwargs, result)


# ---------------------------------------------------------------- properties


@functools.cache
def compiled(mode: str):
    """`all_variants(mode)` under `jax.jit`, mapped with `jax.vmap` over the pairs
    `(x, y)` and over a batch of softnesses: `(x, y, softnesses) -> values[softness,
    op, pair]`. Returns the compiled function and its trace counter."""
    f = all_variants(mode)

    def mapped(x, y, softness):
        def one(s):
            return jax.vmap(lambda u, v: f(u, v, s), out_axes=1)(x, y)

        return jax.vmap(one)(softness)

    return count_traces(mapped)


# 4096 float32 differences over the whole transition [-5s, 5s] and beyond, for
# the softnesses of BATCH.
DENSE = np.linspace(-6, 6, 4096, dtype=np.float32)
BATCH = np.float32([1.0, 0.3])


def compiled_values(mode: str, x, y, softness: float) -> dict[str, np.ndarray]:
    """The values of every variant at the pairs `(x, y)` (at most `DENSE.size`),
    computed by the compiled function of `compiled(mode)` (no new compilation)."""
    x, y = np.broadcast_arrays(np.float32(x), np.float32(y))
    padded = np.zeros((2, DENSE.size), np.float32)
    padded[:, : x.size] = x.ravel(), y.ravel()
    batch = np.float32([softness, 1.0])
    values = np.asarray(compiled(mode)[0](padded[0], padded[1], batch))
    return {name: values[0, i, : x.size] for i, name in enumerate(sorted(VARIANTS))}


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_soft_bools_stay_in_unit_interval_across_the_transition(mode):
    f, _ = compiled(mode)
    values = np.asarray(f(DENSE, np.zeros_like(DENSE), BATCH))
    for name, rows in zip(sorted(VARIANTS), values.transpose(1, 0, 2), strict=True):
        for row in rows:
            assert row.min() >= 0, (name, row.min(), DENSE[np.argmin(row)])
            assert row.max() <= 1, (name, row.max(), DENSE[np.argmax(row)])


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(x=float_arrays, y=float_arrays, softness=softnesses)
def test_is_a_soft_bool(mode, x, y, softness):
    for name, result in compiled_values(mode, x, y, softness).items():
        assert np.all((result >= 0) & (result <= 1)), (name, result)


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(x=float_arrays, y=float_arrays, softness=softnesses)
def test_complements_sum_to_one(mode, x, y, softness):
    values = compiled_values(mode, x, y, softness)

    def f(name):
        return values[name]

    assert_allclose(f("greater") + f("less_equal"), 1.0, atol=1e-6)
    assert_allclose(f("greater_equal") + f("less"), 1.0, atol=1e-6)
    assert_allclose(f("equal") + f("not_equal"), 1.0, atol=1e-6)


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(x=float_arrays, y=float_arrays, softness=softnesses)
def test_greater_is_monotone(mode, x, y, softness):
    # Increasing in x, decreasing in y.
    x, y = np.sort(x), np.sort(y)
    values = compiled_values(
        mode,
        np.concatenate([x, np.full(N, x[0])]),
        np.concatenate([np.full(N, y[0]), y]),
        softness,
    )["greater"]
    up, down = values[:N], values[N:]
    assert np.all(np.diff(up) >= -rounding(up[1:]))
    assert np.all(np.diff(down) <= rounding(down[1:]))


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(
    x=hnp.arrays(np.float32, N, elements=st.floats(-1e3, 1e3, width=32)),
    y=hnp.arrays(np.float32, N, elements=st.floats(-1e3, 1e3, width=32)),
    rtol=st.floats(0, 1e3),
    atol=st.floats(0, 1e3),
    softness=softnesses,
)
def test_isclose_is_a_soft_bool_for_any_tolerance(mode, x, y, rtol, atol, softness):
    result = np.asarray(softeqx.isclose(x, y, softness, rtol, atol, mode))
    assert np.all((result >= 0) & (result <= 1)), result
    same = np.asarray(softeqx.isclose(x, x, softness, rtol, atol, mode))
    np.testing.assert_array_equal(same, 1.0)


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(
    y=st.floats(-10, 10, width=32),
    gaps=hnp.arrays(np.float32, N, elements=st.floats(0, 3, width=32)),
    sign=st.sampled_from([-1.0, 1.0]),
    softness=softnesses,
)
def test_isclose_decreases_with_distance(mode, y, gaps, sign, softness):
    x = np.float32(y) + np.float32(sign) * np.sort(gaps)
    result = np.asarray(softeqx.isclose(x, y, softness, 0.01, 0.1, mode))
    assert np.all(np.diff(result) <= 1e-6), result


# ---------------------------------------------------------------- derivatives


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_derivatives_match_finite_differences(name, mode, getkey, x64):
    # In each argument, the other one fixed.
    softness = 0.25
    x, y = safe_pairs(getkey(), softness, 0.02)
    check_jvp_fd(lambda u: call(name, u, y, softness, mode), x, getkey())
    check_jvp_fd(lambda v: call(name, x, v, softness, mode), y, getkey())


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_softness_gradient_matches_finite_differences(name, mode, getkey, x64):
    softness = jnp.float64(0.25)
    x, y = safe_pairs(getkey(), 0.25, 0.05)

    def f(s):
        return call(name, x, y, s, mode)

    _, tangent = jax.jvp(f, (softness,), (jnp.float64(1.0),))
    assert bool(jnp.all(jnp.isfinite(tangent)))
    expected = central_difference(f, softness, jnp.float64(1.0))
    np.testing.assert_allclose(tangent, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_gradients_are_finite_everywhere(mode):
    # Equality (also of zeros), the exact ends of the transition (0.5 = 5 * 0.1),
    # and large magnitudes.
    x = jnp.array([0.0, 1.0, 0.5, -0.5, 0.25, 1e6, -1e6, 1e6], jnp.float32)
    y = jnp.array([0.0, 1.0, 0.0, 0.0, -0.25, -1e6, 0.0, 1e6], jnp.float32)
    # A sum is finite only if every term is: one gradient checks every op.
    grads = jax.grad(lambda a, b: jnp.sum(all_variants(mode)(a, b, 0.1)), (0, 1))(x, y)
    for grad in grads:
        assert grad.dtype == jnp.float32
    if not all(bool(jnp.all(jnp.isfinite(grad))) for grad in grads):
        for name in sorted(VARIANTS):
            slopes = jax.grad(
                lambda a, b, name=name: jnp.sum(call(name, a, b, 0.1, mode)), (0, 1)
            )(x, y)
            for slope in slopes:
                assert bool(jnp.all(jnp.isfinite(slope))), (name, slope)


# ---------------------------------------------------------------- transformations


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_jit_and_vmap_agree_with_eager_without_retracing(mode):
    # Mapped over the inputs and over the softness, compiled once for all softnesses.
    f, counter = compiled(mode)
    y = np.roll(DENSE, 1000)
    points = np.arange(0, DENSE.size, DENSE.size // N)[:N]
    for softness in ([0.1, 2.0], [0.5, 0.05], [1.0, 0.3]):
        batch = np.float32(softness)
        values = np.asarray(f(DENSE, y, batch))
        assert values.shape == (2, len(VARIANTS), DENSE.size)
        for row, s in zip(values, softness, strict=True):
            expected = all_variants(mode)(DENSE[points], y[points], s)
            assert_allclose(row[:, points], expected)
    assert counter["traces"] == 1


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_softness_array_broadcasts_against_x(name, mode):
    x, y = grid(-1.3, 1.3), jnp.asarray(AWAY_Y)
    softness = jnp.asarray(np.repeat(np.float32([0.1, 0.5]), N // 2))
    result = OPS[name](x, y, softness, mode=mode)
    assert result.shape == (N,)
    assert_allclose(result[: N // 2], OPS[name](x, y, 0.1, mode=mode)[: N // 2])
    assert_allclose(result[N // 2 :], OPS[name](x, y, 0.5, mode=mode)[N // 2 :])


# ---------------------------------------------------------------- dtypes

# The default run checks every op in every mode in float32 (the tests above);
# here, every op and every mode in each of the other dtypes, not every triple:
# the full products run with the slow tests.


# Every op in every mode, in one of the half dtypes in turn: each op and each
# mode in both.
@pytest.mark.parametrize(
    ("name", "mode", "in_dtype"),
    covering_params(sorted(OPS), ALL_MODES, [jnp.float16, jnp.bfloat16]),
)
def test_half_precision_is_preserved(name, mode, in_dtype):
    x, y = jnp.asarray(AWAY_X, in_dtype), jnp.asarray(AWAY_Y, in_dtype)
    result = OPS[name](x, y, 0.3, mode=mode)
    assert result.dtype == in_dtype
    expected = OPS[name](x.astype(jnp.float32), y.astype(jnp.float32), 0.3, mode=mode)
    assert_allclose(result, expected)


# Each op once, in a mode taken in turn: every op and every mode. (Every op in
# every soft mode also runs in float64 in the derivative checks, and in the
# hard mode in test_hard_mode_equals_jax_numpy.)
@pytest.mark.parametrize(("name", "mode"), covering_params(sorted(OPS), ALL_MODES))
def test_float64_is_preserved(name, mode, x64):
    x, y = jnp.asarray(AWAY_X, jnp.float64), jnp.asarray(AWAY_Y, jnp.float64)
    assert OPS[name](x, y, 0.3, mode=mode).dtype == jnp.float64
    assert OPS[name](x, y, jnp.float32(0.3), mode=mode).dtype == jnp.float64


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", ALL_MODES)
def test_float32_is_preserved_with_x64_enabled(name, mode, x64):
    # Dtypes are decided while tracing: no need to compile and run.
    x = jax.ShapeDtypeStruct((N,), jnp.float32)
    result = jax.eval_shape(lambda u, v: OPS[name](u, v, 0.3, mode=mode), x, x)
    assert result.dtype == jnp.float32


# Each op once, in a mode taken in turn: every op and every mode.
@pytest.mark.parametrize(("name", "mode"), covering_params(sorted(OPS), ALL_MODES))
def test_int_input_gives_float(name, mode):
    x, y = jnp.arange(-4, 4), jnp.array([0, 1, 0, 1, 0, 1, 0, 1])
    result = OPS[name](x, y, 0.5, mode=mode)
    assert result.dtype == jnp.float32
    expected = OPS[name](x.astype(jnp.float32), y.astype(jnp.float32), 0.5, mode=mode)
    assert_allclose(result, expected)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", sorted(OPS))
def test_unknown_mode_raises_value_error(name):
    for mode in ["bogus", "Hard", "c3", ""]:
        with pytest.raises((ValueError, TypeError), match="mode") as info:
            OPS[name](X, Y, 0.1, mode=mode)
        for allowed in ALL_MODES:
            assert repr(allowed) in str(info.value)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("softness", [0.0, -0.1, -1, np.float32([0.1, 0.0])])
def test_nonpositive_softness_raises_value_error(name, softness):
    with pytest.raises(ValueError, match="softness"):
        OPS[name](X[:2], Y[:2], softness)


@pytest.mark.parametrize("name", sorted(OPS))
def test_nonpositive_traced_softness_raises_under_jit(name):
    f = jax.jit(lambda s: OPS[name](X, Y, s, mode="c1"))
    for softness in (0.0, -0.5):
        with pytest.raises(RuntimeError, match="softness"):
            jax.block_until_ready(f(jnp.float32(softness)))


# ---------------------------------------------------------------- empty input


# Every op in every mode, with one of the empty shapes in turn: each op and
# each mode with both.
@pytest.mark.parametrize(
    ("name", "mode", "shape"), covering_params(sorted(OPS), ALL_MODES, [(0,), (2, 0)])
)
def test_empty_input_gives_empty_output(name, mode, shape):
    result = OPS[name](jnp.zeros(shape), jnp.zeros(shape), 0.1, mode=mode)
    assert result.shape == shape
    assert result.dtype == jnp.float32
