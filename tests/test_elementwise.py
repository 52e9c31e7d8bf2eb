"""Tests of the soft elementwise ops: heaviside, round, sign, abs, relu, clip.

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
    points_avoiding,
    rounding,
)


N = N_POINTS
HALF_WIDTH = 5.0  # the piecewise transitions span x / softness in [-5, 5]
LOW, HIGH = -0.5, 0.5  # the clipping bounds used throughout


def clip(x, softness=0.1, mode="smooth", gated=False):
    return softeqx.clip(x, LOW, HIGH, softness, mode, gated)


OPS = {
    "abs": softeqx.abs,
    "clip": clip,
    "heaviside": softeqx.heaviside,
    "relu": softeqx.relu,
    "round": softeqx.round,
    "sign": softeqx.sign,
}
# The same ops with every variant of their soft relaxation.
VARIANTS = {
    **OPS,
    "clip_gated": functools.partial(clip, gated=True),
    "relu_gated": functools.partial(softeqx.relu, gated=True),
}
HARD = {
    "abs": jnp.abs,
    "clip": lambda x: jnp.clip(x, LOW, HIGH),
    "heaviside": lambda x: jnp.heaviside(x, 0.5),
    "relu": jax.nn.relu,
    "round": jnp.round,
    "sign": jnp.sign,
}
MONOTONE = ["clip", "heaviside", "relu", "round", "sign"]
# Ops whose intermediates grow with the softness (about 5 softness).
SCALED = ["clip", "clip_gated", "relu", "relu_gated"]


def kinks(name: str, softness: float) -> np.ndarray:
    """Where the piecewise relaxations of `name` have kinks, and where an op
    switches between two equal forms (the nearest integer in soft round, the
    midpoint of clip), which finite differences must not straddle."""
    ends = np.array([-HALF_WIDTH * softness, HALF_WIDTH * softness])
    if name.startswith("clip"):
        return np.concatenate([LOW + ends, HIGH + ends, [(LOW + HIGH) / 2]])
    if name == "round":
        halves = np.arange(-10, 10) + 0.5
        return np.concatenate([halves, (halves[:, None] + ends).ravel()])
    return ends


# The inputs of the printed examples, twice over to make N values.
X = np.array([-0.2, -1.0, 0.3, 1.0] * 2, dtype=np.float32)
# Points at least 0.05 away from every jump and kink of every hard op.
AWAY = np.array([-2.3, -1.2, -0.7, -0.3, 0.2, 0.55, 1.1, 2.05], dtype=np.float32)


def all_variants(mode: str):
    """Every op of `VARIANTS` in `mode`, stacked along a new first axis."""

    def f(x, softness):
        return jnp.stack(
            [VARIANTS[name](x, softness, mode) for name in sorted(VARIANTS)]
        )

    return f


float_arrays = hnp.arrays(
    np.float32, N, elements=st.floats(-3, 3, width=32, allow_subnormal=False)
)
softnesses = st.sampled_from([0.01, 0.1, 0.7, 3.0])


# ---------------------------------------------------------------- golden values

# SoftTorch (003), default softness 0.1 and mode "smooth", 4 decimals.
PRINTED = {
    "abs": [0.1523, 0.9999, 0.2715, 0.9999],
    "clip": [-0.1952, -0.4993, 0.2873, 0.4993],
    "heaviside": [0.1192, 0.0000, 0.9526, 1.0000],
    "relu": [0.0127, 0.0000, 0.3049, 1.0000],
    "round": [-0.0465, -1.0000, 0.1189, 1.0000],
    "sign": [-0.7616, -0.9999, 0.9051, 0.9999],
}
# The early SoftJAX README (002) prints more digits; these agree with 003.
PRINTED_PRECISE = {
    "abs": [0.15231883, 0.9999092, 0.27154448, 0.9999092],
    "clip": [-0.19523241, -0.4993285, 0.28734074, 0.4993285],
    "heaviside": [1.19202922e-01, 4.53978687e-05, 9.52574127e-01, 9.99954602e-01],
    "relu": [1.26928011e-02, 4.53988992e-06, 3.04858735e-01, 1.00000454e00],
    "round": [-0.04651704, -1.0, 0.1188737, 1.0],
    "sign": [-0.76159416, -0.9999092, 0.90514825, 0.9999092],
}
PRINTED_HARD = {
    "abs": [0.2, 1.0, 0.3, 1.0],
    "clip": [-0.2, -0.5, 0.3, 0.5],
    "heaviside": [0.0, 0.0, 1.0, 1.0],
    "relu": [0.0, 0.0, 0.3, 1.0],
    "round": [-0.0, -1.0, 0.0, 1.0],
    "sign": [-1.0, -1.0, 1.0, 1.0],
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_soft_mode_matches_printed_values(name):
    y = OPS[name](X)
    assert y.dtype == jnp.float32
    assert_golden(y[:4], PRINTED[name])
    np.testing.assert_allclose(y[:4], PRINTED_PRECISE[name], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(OPS))
def test_hard_mode_matches_printed_values(name):
    expected = np.float32(PRINTED_HARD[name])
    np.testing.assert_array_equal(OPS[name](X, mode="hard")[:4], expected)


def test_docstring_examples():
    x = jnp.array([-0.2, 0.0, 0.3, 1.0, -1.0, 0.3, 1.0, -0.2])
    assert_golden(softeqx.heaviside(x)[:3], [0.1192, 0.5, 0.9526])
    assert_golden(softeqx.sign(x)[:3], [-0.7616, 0.0, 0.9051])
    assert_golden(softeqx.abs(x)[:3], [0.1523, 0.0, 0.2715])
    assert_golden(softeqx.relu(x)[5:], [0.3049, 1.0, 0.0127])
    assert_golden(softeqx.round(x)[5:], [0.1189, 1.0, -0.0465])


# ---------------------------------------------------------------- hard mode


def hard_inputs(seed, shape, dtype):
    """Random values, about half of them special: signed zeros, ties, half-integers
    (where `jnp.round` rounds to even) and the clip bounds."""
    special = np.array([0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1.0, 0.3], dtype)
    rng = np.random.default_rng(seed)
    random = rng.normal(size=shape).astype(dtype) * 2
    chosen = rng.choice(special, size=shape)
    return jnp.asarray(np.where(rng.random(shape) < 0.5, chosen, random))


# Every op in every shape; each op and each shape in both dtypes (the rest of
# the product with the slow tests).
@pytest.mark.parametrize(
    ("name", "shape", "dtype"),
    covering_params(sorted(OPS), [(), (N,), (3, N)], ["float32", "float64"]),
    indirect=["dtype"],
)
def test_hard_mode_equals_jax_numpy(name, shape, dtype):
    for seed in range(4):
        x = hard_inputs(seed, shape, dtype)
        y = OPS[name](x, mode="hard")
        expected = HARD[name](x)
        assert y.dtype == dtype
        assert y.shape == shape
        np.testing.assert_array_equal(y, expected)
        # The sign of zero too (round(-0.2) is -0.0, as in jnp.round).
        np.testing.assert_array_equal(np.signbit(y), np.signbit(expected))


@pytest.mark.parametrize("name", sorted(OPS))
def test_hard_mode_ignores_softness(name):
    x = jnp.asarray(AWAY)
    for softness in (1e-3, 0.1, 10.0):
        np.testing.assert_array_equal(
            OPS[name](x, softness, "hard"), OPS[name](x, mode="hard")
        )


# ---------------------------------------------------------------- the maths


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_soft_heaviside_is_sigmoidal(mode):
    x = grid(-1, 1)
    for softness in (0.05, 0.3):
        np.testing.assert_array_equal(
            softeqx.heaviside(x, softness, mode), softeqx.sigmoidal(x, softness, mode)
        )


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_soft_sign_is_twice_sigmoidal_minus_one(mode):
    x = grid(-1, 1)
    for softness in (0.05, 0.3):
        y = softeqx.sign(x, softness, mode)
        assert_allclose(y, 2 * softeqx.sigmoidal(x, softness, mode) - 1, atol=1e-6)
    assert_allclose(softeqx.sign(x, 0.3, "smooth"), jnp.tanh(x / 0.6))


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_soft_abs_is_x_times_soft_sign(mode):
    x = grid(-1, 1)
    for softness in (0.05, 0.3):
        y = softeqx.abs(x, softness, mode)
        assert_allclose(y, x * softeqx.sign(x, softness, mode))


@pytest.mark.parametrize("mode", SOFT_MODES)
@pytest.mark.parametrize("gated", [False, True])
def test_soft_relu_is_softrelu(mode, gated):
    x = grid(-1, 1)
    for softness in (0.05, 0.3):
        np.testing.assert_array_equal(
            softeqx.relu(x, softness, mode, gated),
            softeqx.softrelu(x, softness, mode, gated),
        )


@pytest.mark.parametrize("mode", SOFT_MODES)
@pytest.mark.parametrize("gated", [False, True])
def test_soft_clip_is_a_difference_of_soft_relus(mode, gated):
    x = grid(-1, 1)
    for softness in (0.05, 0.3):
        y = clip(x, softness, mode, gated)
        relu_a = softeqx.softrelu(x - LOW, softness, mode, gated)
        relu_b = softeqx.softrelu(x - HIGH, softness, mode, gated)
        assert_allclose(y, LOW + relu_a - relu_b)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_soft_modes_converge_to_hard_away_from_jumps(name, mode):
    x = jnp.asarray(AWAY)
    hard = OPS[name](x, mode="hard")
    errors = []
    for softness in (0.1, 0.01, 1e-3):
        errors.append(float(jnp.max(jnp.abs(OPS[name](x, softness, mode) - hard))))
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-6


@pytest.mark.parametrize("name", ["abs", "clip", "relu"])
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_continuous_ops_converge_everywhere(name, mode):
    # abs, clip and relu are continuous: the error is O(softness) at the kinks too.
    x = jnp.array([-1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0, 3.0])
    hard = OPS[name](x, mode="hard")
    for softness in (1e-2, 1e-3):
        y = OPS[name](x, softness, mode)
        assert float(jnp.max(jnp.abs(y - hard))) < 2 * softness


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_values_at_the_jumps_are_the_midpoints(mode):
    # heaviside(0) = 1/2 (as the hard mode), sign(0) = 0, abs(0) = 0, and soft
    # round passes through k + 1/2 at k + 1/2, for every softness.
    halves = jnp.asarray(np.arange(-4, 4, dtype=np.float32) + 0.5)
    for softness in (1e-3, 0.1, 1.0, 100.0):
        zero = jnp.zeros(N)
        np.testing.assert_array_equal(softeqx.heaviside(zero, softness, mode), 0.5)
        np.testing.assert_array_equal(softeqx.sign(zero, softness, mode), 0.0)
        np.testing.assert_array_equal(softeqx.abs(zero, softness, mode), 0.0)
        assert_allclose(softeqx.round(halves, softness, mode), halves, atol=1e-6)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", [m for m in SOFT_MODES if m != "smooth"])
def test_piecewise_modes_equal_hard_outside_transitions(name, mode):
    # More than 5 softness away from every kink the piecewise families are flat,
    # so the soft op is the hard op, to the bit; only clip between its bounds,
    # a + (x - a), may round x by one unit in the last place.
    x = jnp.asarray(AWAY)
    y, hard = np.asarray(OPS[name](x, 0.005, mode)), np.asarray(HARD[name](x))
    between = (AWAY > LOW) & (AWAY < HIGH) if name == "clip" else np.zeros(N, bool)
    np.testing.assert_array_equal(y[~between], hard[~between])
    np.testing.assert_array_max_ulp(y[between], hard[between], maxulp=1)


# ---------------------------------------------------------------- soft round


M = 64  # the size of every input of the compiled soft round below
ROUND_SOFTNESS = (0.05, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
RADII = (1, 2, 5)
HALVES = np.arange(-M // 4, M // 4) / 2  # -8, -7.5, ..., 7.5: integers and halves


@functools.cache
def round_and_slope(mode: str):
    """Compiled `(round(x), d round / dx)` for float64 `x` of shape `(M,)`, for
    each neighbor radius of `RADII` (along the first axis)."""

    def values_and_slopes(x, s):
        out = []
        for radius in RADII:

            def f(v, radius=radius):
                return softeqx.round(v, s, mode, radius)

            out.append((f(x), jax.vmap(jax.grad(f))(x)))
        return jax.tree.map(lambda *a: jnp.stack(a), *out)

    return jax.jit(values_and_slopes)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_soft_round_is_continuous_at_integers_and_half_integers(mode, x64):
    delta = 1e-7
    x = jnp.asarray(np.concatenate([HALVES - delta, HALVES + delta]))
    for softness in ROUND_SOFTNESS:
        y, _ = round_and_slope(mode)(x, jnp.float64(softness))
        for radius, values in zip(RADII, np.asarray(y), strict=True):
            left, right = np.split(values, 2)
            np.testing.assert_allclose(
                left, right, rtol=0, atol=1e-5, err_msg=f"{softness=} {radius=}"
            )


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_soft_round_slope_is_continuous_at_half_integers(mode, x64):
    # The nearest integer changes at half-integers; the slope must not jump.
    delta = 1e-9
    x = jnp.asarray(np.concatenate([HALVES - delta, HALVES + delta]))
    for softness in (0.3, 1.0, 10.0):
        _, slope = round_and_slope(mode)(x, jnp.float64(softness))
        for radius, values in zip(RADII, np.asarray(slope), strict=True):
            left, right = np.split(values, 2)
            np.testing.assert_allclose(
                left, right, rtol=1e-6, atol=1e-6, err_msg=f"{softness=} {radius=}"
            )


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_soft_round_is_monotone(mode, x64):
    # Shifted copies of a grid of step 1/8 that holds every half-integer.
    base = np.arange(M) / 8 - 4
    shifts = np.arange(8) / 64
    order = np.argsort(np.concatenate([base + shift for shift in shifts]))
    for softness in ROUND_SOFTNESS:
        s = jnp.float64(softness)
        y = [round_and_slope(mode)(jnp.asarray(base + t), s)[0] for t in shifts]
        y = np.concatenate([np.asarray(v) for v in y], axis=1)
        for radius, values in zip(RADII, y, strict=True):
            steps = np.diff(values[order])
            assert np.all(steps >= -1e-12), (softness, radius, steps.min())


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_soft_round_fixes_integers_and_half_integers_and_is_odd(mode, x64):
    points = np.concatenate([HALVES, HALVES + 16])
    x = np.linspace(-3.1, 3.3, M // 2)
    for softness in ROUND_SOFTNESS:
        s = jnp.float64(softness)
        fixed, _ = round_and_slope(mode)(jnp.asarray(points), s)
        y, _ = round_and_slope(mode)(jnp.asarray(np.concatenate([x, -x])), s)
        for i, radius in enumerate(RADII):
            message = f"{softness=} {radius=}"
            np.testing.assert_allclose(fixed[i], points, atol=1e-12, err_msg=message)
            y_pos, y_neg = np.split(np.asarray(y[i]), 2)
            np.testing.assert_allclose(y_neg, -y_pos, atol=1e-12, err_msg=message)


@pytest.mark.parametrize("neighbor_radius", [0, -1, -5])
def test_round_rejects_nonpositive_neighbor_radius(neighbor_radius):
    with pytest.raises(ValueError, match="neighbor_radius"):
        softeqx.round(jnp.asarray(X), neighbor_radius=neighbor_radius)


@pytest.mark.parametrize("neighbor_radius", [1.5, 2.0, "2", None])
def test_round_rejects_non_int_neighbor_radius(neighbor_radius):
    with pytest.raises(TypeError, match="neighbor_radius"):
        softeqx.round(jnp.asarray(X), neighbor_radius=neighbor_radius)


# ---------------------------------------------------------------- derivatives


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_derivatives_match_finite_differences(name, mode, getkey, x64):
    softness = 0.33
    x = points_avoiding(getkey(), kinks(name, softness), -2.0, 2.0, 0.02)
    check_jvp_fd(lambda v: VARIANTS[name](v, softness, mode), x, getkey())


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_softness_gradient_matches_finite_differences(name, mode, getkey, x64):
    softness = jnp.float64(0.3)
    x = points_avoiding(getkey(), kinks(name, 0.3), -2.0, 2.0, 0.05)

    def f(s):
        return VARIANTS[name](x, s, mode)

    _, tangent = jax.jvp(f, (softness,), (jnp.float64(1.0),))
    assert bool(jnp.all(jnp.isfinite(tangent)))
    expected = central_difference(f, softness, jnp.float64(1.0))
    np.testing.assert_allclose(tangent, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_gradients_are_finite_everywhere(mode):
    # Zero, half-integers, clip bounds, the exact ends of the transitions
    # (0.5 = 5 * 0.1), and large magnitudes.
    x = jnp.array([0.0, -0.0, 0.5, -0.5, 1.0, 2.5, 1e6, -1e6], jnp.float32)
    # A sum is finite only if every term is: one gradient checks every op.
    grad = jax.grad(lambda v: jnp.sum(all_variants(mode)(v, 0.1)))(x)
    assert grad.dtype == jnp.float32
    if not bool(jnp.all(jnp.isfinite(grad))):
        for name in sorted(VARIANTS):
            op = VARIANTS[name]
            slope = jax.grad(lambda v, op=op: jnp.sum(op(v, 0.1, mode)))(x)
            assert bool(jnp.all(jnp.isfinite(slope))), (name, slope)


# ---------------------------------------------------------------- properties


@functools.cache
def compiled(mode: str):
    """`all_variants(mode)` under `jax.jit`, mapped with `jax.vmap` over the points
    `x` and over a batch of softnesses: `(x, softnesses) -> values[softness, op,
    x]`. Returns the compiled function and its trace counter."""
    f = all_variants(mode)

    def mapped(x, softness):
        def one(s):
            return jax.vmap(lambda u: f(u, s), out_axes=1)(x)

        return jax.vmap(one)(softness)

    return count_traces(mapped)


# 4096 float32 points over the whole transition [-5s, 5s] and beyond, for the
# softnesses of BATCH.
DENSE = np.linspace(-6, 6, 4096, dtype=np.float32)
BATCH = np.float32([1.0, 0.3])


def compiled_values(mode: str, x, softness: float) -> dict[str, np.ndarray]:
    """The values of every variant at the points `x` (at most `DENSE.size`),
    computed by the compiled function of `compiled(mode)` (no new compilation)."""
    x = np.asarray(x, np.float32)
    padded = np.zeros_like(DENSE)
    padded[: x.size] = x
    values = np.asarray(compiled(mode)[0](padded, np.float32([softness, 1.0])))
    return {name: values[0, i, : x.size] for i, name in enumerate(sorted(VARIANTS))}


def dense(mode: str) -> dict[str, np.ndarray]:
    """The values of every variant on `DENSE`, one row per softness of `BATCH`."""
    f, _ = compiled(mode)
    values = np.asarray(f(DENSE, BATCH))
    return {name: values[:, i] for i, name in enumerate(sorted(VARIANTS))}


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_ranges_hold_across_the_transition(mode):
    values = dense(mode)
    assert values["heaviside"].min() >= 0 and values["heaviside"].max() <= 1
    assert values["sign"].min() >= -1 and values["sign"].max() <= 1
    assert np.all(values["abs"] >= 0)
    assert np.all(values["abs"] <= np.abs(DENSE))
    assert np.all((values["clip"] >= LOW) & (values["clip"] <= HIGH))


@pytest.mark.parametrize("name", MONOTONE)
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_monotone_on_a_dense_grid(name, mode):
    for y, softness in zip(dense(mode)[name], BATCH, strict=True):
        steps = np.diff(y)
        scale = HALF_WIDTH * softness if name in SCALED else 1.0
        assert np.all(steps >= -rounding(y[1:], scale)), (
            steps.min(),
            DENSE[np.argmin(steps)],
        )


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(x=float_arrays, softness=softnesses)
def test_monotone_in_x(mode, x, softness):
    x = np.sort(x)
    values = compiled_values(mode, x, softness)
    for name in MONOTONE:
        y = values[name]
        scale = HALF_WIDTH * softness if name in SCALED else 1.0
        assert np.all(np.diff(y) >= -rounding(y[1:], scale)), (name, y)


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(x=float_arrays, softness=softnesses)
def test_sign_is_odd_and_bounded(mode, x, softness):
    y = compiled_values(mode, np.concatenate([x, -x]), softness)["sign"]
    assert np.all((y >= -1) & (y <= 1)), y
    assert_allclose(y[N:], -y[:N], atol=1e-6)


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(x=float_arrays, softness=softnesses)
def test_abs_is_even_and_nonnegative(mode, x, softness):
    y = compiled_values(mode, np.concatenate([x, -x]), softness)["abs"]
    assert np.all(y >= 0), y
    assert np.all(y[:N] <= np.abs(x)), (x, y)
    assert_allclose(y[N:], y[:N], atol=1e-6)


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(x=float_arrays, softness=softnesses)
def test_heaviside_is_a_soft_bool(mode, x, softness):
    y = compiled_values(mode, x, softness)["heaviside"]
    assert np.all((y >= 0) & (y <= 1)), y


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(x=float_arrays, softness=softnesses)
def test_clip_stays_within_bounds(mode, x, softness):
    y = compiled_values(mode, x, softness)["clip"]
    assert np.all((y >= LOW - 1e-6) & (y <= HIGH + 1e-6)), y


# ---------------------------------------------------------------- transformations


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_jit_and_vmap_agree_with_eager_without_retracing(mode):
    # Mapped over the inputs and over the softness, compiled once for all softnesses.
    f, counter = compiled(mode)
    points = np.arange(0, DENSE.size, DENSE.size // N)[:N]
    for softness in ([0.1, 2.0], [0.5, 0.05], [1.0, 0.3]):
        batch = np.float32(softness)
        values = np.asarray(f(DENSE, batch))
        assert values.shape == (2, len(VARIANTS), DENSE.size)
        for row, s in zip(values, softness, strict=True):
            assert_allclose(row[:, points], all_variants(mode)(DENSE[points], s))
    assert counter["traces"] == 1


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_softness_array_broadcasts_against_x(name, mode):
    x = grid(-1.3, 1.3)
    softness = jnp.asarray(np.repeat(np.float32([0.1, 0.5]), N // 2))
    y = OPS[name](x, softness, mode)
    assert y.shape == (N,)
    assert_allclose(y[: N // 2], OPS[name](x, 0.1, mode)[: N // 2])
    assert_allclose(y[N // 2 :], OPS[name](x, 0.5, mode)[N // 2 :])


@pytest.mark.parametrize("mode", ALL_MODES)
def test_clip_bounds_broadcast_against_x(mode):
    x = grid(-1.3, 1.3)
    low = jnp.array([[-0.5], [-1.0]])
    high = jnp.array([0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0])
    y = softeqx.clip(x, low, high, 0.1, mode)
    assert y.shape == (2, N)
    assert_allclose(y[0, :4], softeqx.clip(x, -0.5, 0.5, 0.1, mode)[:4])
    assert_allclose(y[1, 4:], softeqx.clip(x, -1.0, 1.0, 0.1, mode)[4:])


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
    x = jnp.asarray(AWAY).astype(in_dtype)
    y = OPS[name](x, 0.3, mode)
    assert y.dtype == in_dtype
    assert_allclose(y, OPS[name](x.astype(jnp.float32), 0.3, mode))


# Each op once, in a mode taken in turn: every op and every mode. (Every op in
# every soft mode also runs in float64 in the derivative checks, and in the
# hard mode in test_hard_mode_equals_jax_numpy.)
@pytest.mark.parametrize(("name", "mode"), covering_params(sorted(OPS), ALL_MODES))
def test_float64_is_preserved(name, mode, x64):
    x = jnp.asarray(AWAY, dtype=jnp.float64)
    assert OPS[name](x, 0.3, mode).dtype == jnp.float64
    assert OPS[name](x, jnp.float32(0.3), mode).dtype == jnp.float64


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", ALL_MODES)
def test_float32_is_preserved_with_x64_enabled(name, mode, x64):
    # Dtypes are decided while tracing: no need to compile and run.
    x = jax.ShapeDtypeStruct((N,), jnp.float32)
    assert jax.eval_shape(lambda v: OPS[name](v, 0.3, mode), x).dtype == jnp.float32


# Each op once, in a soft mode taken in turn: every op and every soft mode.
@pytest.mark.parametrize(("name", "mode"), covering_params(sorted(OPS), SOFT_MODES))
def test_int_input_gives_float(name, mode):
    x = jnp.arange(-4, 4)
    y = OPS[name](x, 0.5, mode)
    assert y.dtype == jnp.float32
    assert_allclose(y, OPS[name](x.astype(jnp.float32), 0.5, mode))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", sorted(OPS))
def test_unknown_mode_raises_value_error(name):
    for mode in ["bogus", "Hard", "c3", ""]:
        with pytest.raises((ValueError, TypeError), match="mode") as info:
            OPS[name](jnp.asarray(X), 0.1, mode)
        for allowed in ALL_MODES:
            assert repr(allowed) in str(info.value)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("softness", [0.0, -0.1, -1, np.float32([0.1, 0.0])])
def test_nonpositive_softness_raises_value_error(name, softness):
    with pytest.raises(ValueError, match="softness"):
        OPS[name](jnp.asarray(X[:2]), softness)


@pytest.mark.parametrize("name", sorted(OPS))
def test_nonpositive_traced_softness_raises_under_jit(name):
    f = jax.jit(lambda s: OPS[name](jnp.asarray(X), s, "c1"))
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
    y = OPS[name](jnp.zeros(shape), 0.1, mode)
    assert y.shape == shape
    assert y.dtype == jnp.float32
