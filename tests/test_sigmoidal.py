"""Tests of the smoothness families: `softeqx.sigmoidal` and `softeqx.softrelu`.

Arrays are kept at one small size (`N`) so that eagerly dispatched primitives are
compiled once and reused by every test.
"""

import functools
import math

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

import softeqx
from helpers import (
    N_POINTS,
    SOFT_MODES,
    assert_allclose,
    assert_golden,
    central_difference,
    check_jvp_fd,
    count_traces,
    grid,
    points_avoiding,
    rounding,
)


N = N_POINTS
# The piecewise families, named `c<k>` for their continuity class k.
PIECEWISE_MODES = [mode for mode in SOFT_MODES if mode != "smooth"]
HALF_WIDTH = 5.0  # the piecewise transitions span x / softness in [-5, 5]

OPS = {
    "sigmoidal": softeqx.sigmoidal,
    "softrelu": softeqx.softrelu,
    "softrelu_gated": functools.partial(softeqx.softrelu, gated=True),
}

# The inputs of the printed examples, twice over to make N values.
X = np.array([-0.2, -1.0, 0.3, 1.0] * 2, dtype=np.float32)


def order(mode: str) -> int:
    """The continuity class of a piecewise family: `"c1"` -> 1."""
    return int(mode.removeprefix("c"))


def jump(mode: str, softness: float) -> float:
    """|Jump| of the (k+1)-th derivative of the `c<k>` S-curve at x = +-5 softness.

    The smoothstep of class k has `S'(t) = (2k+1)!/(k!)^2 t^k (1-t)^k`, so its
    (k+1)-th derivative at t = 0 and t = 1 has size `(2k+1)!/k!`; `t` moves by
    `1 / (10 softness)` per unit of `x`.
    """
    k = order(mode)
    return math.factorial(2 * k + 1) / math.factorial(k) / (10 * softness) ** (k + 1)


def derivative(f, n: int):
    for _ in range(n):
        f = jax.grad(f)
    return f


def one_sided_derivatives(f, orders, points, delta=1e-9):
    """`(left, right)`: derivatives of scalar `f` of each order just either side
    of each point, as arrays of shape `(len(orders), len(points))`."""
    points = np.asarray(points, dtype=np.float64)
    around = jnp.asarray(np.concatenate([points - delta, points + delta]))
    fns = [derivative(f, n) for n in orders]
    values = jax.jit(lambda p: jnp.stack([jax.vmap(g)(p) for g in fns]))(around)
    values = np.asarray(values)
    return values[:, : len(points)], values[:, len(points) :]


float_arrays = hnp.arrays(
    np.float32, N, elements=st.floats(-3, 3, width=32, allow_subnormal=False)
)
softnesses = st.sampled_from([0.01, 0.1, 0.7, 3.0])


# ---------------------------------------------------------------- golden values


def test_sigmoidal_matches_printed_heaviside_values():
    # 003 and 002 print the soft heaviside, which is the sigmoidal.
    y = softeqx.sigmoidal(X)
    assert_golden(y[:4], [0.1192, 0.0000, 0.9526, 1.0000])
    np.testing.assert_allclose(
        y[:4], [1.19202922e-01, 4.53978687e-05, 9.52574127e-01, 9.99954602e-01], 2e-6
    )


def test_softrelu_matches_printed_relu_values():
    y = softeqx.softrelu(X)
    assert_golden(y[:4], [0.0127, 0.0000, 0.3049, 1.0000])
    np.testing.assert_allclose(
        y[:4], [1.26928011e-02, 4.53988992e-06, 3.04858735e-01, 1.00000454e00], 2e-6
    )


# ---------------------------------------------------------------- the maths


def test_smooth_sigmoidal_is_logistic_of_x_over_softness(dtype):
    x = grid(-3, 3, dtype)
    for softness in (0.01, 0.1, 1.0, 10.0):
        y = softeqx.sigmoidal(x, softness, mode="smooth")
        assert y.dtype == dtype
        assert_allclose(y, jax.nn.sigmoid(x / softness))


def test_smooth_softrelu_is_scaled_softplus_and_gated_is_silu(dtype):
    x = grid(-3, 3, dtype)
    for softness in (0.01, 0.1, 1.0, 10.0):
        y = softeqx.softrelu(x, softness, mode="smooth")
        assert_allclose(y, softness * jax.nn.softplus(x / softness))
        gated = softeqx.softrelu(x, softness, mode="smooth", gated=True)
        assert_allclose(gated, x * jax.nn.sigmoid(x / softness))


@pytest.mark.parametrize("mode", PIECEWISE_MODES)
def test_piecewise_sigmoidal_has_smoothstep_derivative(mode, x64):
    # Inside the transition dF/dx = (2k+1)!/(k!)^2 t^k (1-t)^k / (10 s), with
    # t = (x/s + 5)/10: the smoothstep of class k.
    softness = 0.3
    k = order(mode)
    x = grid(-1.45, 1.45, np.float64)
    t = (x / softness + HALF_WIDTH) / (2 * HALF_WIDTH)
    scale = math.factorial(2 * k + 1) / math.factorial(k) ** 2
    expected = scale * t**k * (1 - t) ** k / (2 * HALF_WIDTH * softness)
    grad = jax.jit(jax.vmap(jax.grad(lambda v: softeqx.sigmoidal(v, softness, mode))))
    assert_allclose(grad(x), expected)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_sigmoidal_is_one_half_at_zero(mode):
    for softness in (1e-3, 0.1, 1.0, 100.0):
        y = softeqx.sigmoidal(jnp.zeros(N), softness, mode)
        np.testing.assert_array_equal(y, 0.5)


@pytest.mark.parametrize("mode", PIECEWISE_MODES)
def test_piecewise_sigmoidal_is_exactly_0_and_1_outside_transition(mode):
    softness = 0.1
    right = jnp.array([0.5001, 0.50001, 0.6, 0.7, 1.0, 7.0, 1e6, 1e30], jnp.float32)
    np.testing.assert_array_equal(softeqx.sigmoidal(right, softness, mode), 1.0)
    np.testing.assert_array_equal(softeqx.sigmoidal(-right, softness, mode), 0.0)


@pytest.mark.parametrize("mode", PIECEWISE_MODES)
@pytest.mark.parametrize("gated", [False, True])
def test_piecewise_softrelu_is_exactly_x_right_and_0_left_of_transition(mode, gated):
    softness = 0.1
    right = jnp.array([0.5001, 0.50001, 0.6, 0.7, 1.0, 7.0, 1e6, 1e30], jnp.float32)
    np.testing.assert_array_equal(softeqx.softrelu(right, softness, mode, gated), right)
    np.testing.assert_array_equal(softeqx.softrelu(-right, softness, mode, gated), 0.0)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_softrelu_derivative_is_sigmoidal(mode, x64):
    softness = 0.2
    x = grid(-1.3, 1.3, np.float64)
    grad = jax.jit(jax.vmap(jax.grad(lambda v: softeqx.softrelu(v, softness, mode))))
    assert_allclose(grad(x), softeqx.sigmoidal(x, softness, mode))


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_sigmoidal_converges_to_heaviside_away_from_zero(mode):
    x = jnp.array([-2.0, -0.3, -0.05, -0.01, 0.01, 0.05, 0.3, 2.0])
    errors = []
    for softness in (0.1, 0.01, 1e-3, 1e-4):
        y = softeqx.sigmoidal(x, softness, mode)
        errors.append(float(jnp.max(jnp.abs(y - jnp.heaviside(x, 0.5)))))
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-6


@pytest.mark.parametrize("mode", SOFT_MODES)
@pytest.mark.parametrize("gated", [False, True])
def test_softrelu_converges_to_relu(mode, gated):
    x = jnp.array([-2.0, -0.3, -0.05, 0.0, 1e-4, 0.05, 0.3, 2.0])
    errors = []
    for softness in (0.1, 0.01, 1e-3, 1e-4):
        y = softeqx.softrelu(x, softness, mode, gated)
        errors.append(float(jnp.max(jnp.abs(y - jax.nn.relu(x)))))
    assert errors == sorted(errors, reverse=True)
    # The error is a softness-sized constant, reached around x = 0.
    assert errors[-1] < 2e-4


# ---------------------------------------------------------------- continuity classes


@pytest.mark.parametrize("mode", PIECEWISE_MODES)
def test_piecewise_sigmoidal_derivative_jumps_at_class_order(mode, x64):
    # c_k: derivatives 0..k are continuous across +-5s, derivative k+1 jumps.
    softness = 0.3
    k = order(mode)
    ends = [-HALF_WIDTH * softness, HALF_WIDTH * softness]
    left, right = one_sided_derivatives(
        lambda v: softeqx.sigmoidal(v, softness, mode), range(k + 2), ends
    )
    np.testing.assert_allclose(left[: k + 1], right[: k + 1], rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        np.abs(left[k + 1] - right[k + 1]), jump(mode, softness), rtol=1e-4
    )


@pytest.mark.parametrize("mode", PIECEWISE_MODES)
def test_piecewise_softrelu_is_one_class_smoother(mode, x64):
    # softrelu of c_k: derivatives 0..k+1 continuous across +-5s, k+2 jumps.
    softness = 0.3
    k = order(mode)
    ends = [-HALF_WIDTH * softness, HALF_WIDTH * softness]
    left, right = one_sided_derivatives(
        lambda v: softeqx.softrelu(v, softness, mode), range(k + 3), ends
    )
    np.testing.assert_allclose(left[: k + 2], right[: k + 2], rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        np.abs(left[k + 2] - right[k + 2]), jump(mode, softness), rtol=1e-4
    )


@pytest.mark.parametrize("name", sorted(OPS))
def test_smooth_mode_derivatives_are_continuous(name, x64):
    softness = 0.3
    points = [-HALF_WIDTH * softness, 0.0, HALF_WIDTH * softness]
    left, right = one_sided_derivatives(
        lambda v: OPS[name](v, softness, "smooth"), range(4), points
    )
    np.testing.assert_allclose(left, right, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- derivatives


def all_ops(mode: str):
    """Every op of `OPS` in `mode`, stacked along a new first axis."""

    def f(x, softness):
        return jnp.stack([OPS[name](x, softness, mode) for name in sorted(OPS)])

    return f


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_derivatives_match_finite_differences(name, mode, getkey, x64):
    softness = 0.3
    kinks = np.array([-HALF_WIDTH * softness, HALF_WIDTH * softness])
    x = points_avoiding(getkey(), kinks, -7 * softness, 7 * softness, 0.02)
    check_jvp_fd(lambda v: OPS[name](v, softness, mode), x, getkey())


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_softness_gradient_matches_finite_differences(name, mode, getkey, x64):
    softness = jnp.float64(0.3)
    kinks = np.array([-HALF_WIDTH * softness, HALF_WIDTH * softness])
    x = points_avoiding(getkey(), kinks, -2.0, 2.0, 0.05)

    def f(s):
        return OPS[name](x, s, mode)

    _, tangent = jax.jvp(f, (softness,), (jnp.float64(1.0),))
    assert bool(jnp.all(jnp.isfinite(tangent)))
    expected = central_difference(f, softness, jnp.float64(1.0))
    np.testing.assert_allclose(tangent, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_gradients_are_finite_everywhere(mode):
    # Zero, the exact ends of the transition (0.5 = 5 * 0.1), large magnitudes.
    x = jnp.array([0.0, -0.0, 0.5, -0.5, 1e-30, 1e6, -1e6, 1e30], jnp.float32)
    # A sum is finite only if every term is: one gradient checks every op.
    grad = jax.grad(lambda v: jnp.sum(all_ops(mode)(v, 0.1)))(x)
    assert grad.dtype == jnp.float32
    if not bool(jnp.all(jnp.isfinite(grad))):
        for name in sorted(OPS):
            slope = jax.grad(lambda v, name=name: jnp.sum(OPS[name](v, 0.1, mode)))(x)
            assert bool(jnp.all(jnp.isfinite(slope))), (name, slope)


# ---------------------------------------------------------------- properties


@functools.cache
def compiled(mode: str):
    """`all_ops(mode)` under `jax.jit`, mapped with `jax.vmap` over the points
    `x` and over a batch of softnesses: `(x, softnesses) -> values[softness, op,
    x]`. Returns the compiled function and its trace counter."""
    f = all_ops(mode)

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
    """The values of every op at the points `x` (at most `DENSE.size`), computed by
    the compiled function of `compiled(mode)` (no new compilation per call)."""
    x = np.asarray(x, np.float32)
    padded = np.zeros_like(DENSE)
    padded[: x.size] = x
    values = np.asarray(compiled(mode)[0](padded, np.float32([softness, 1.0])))
    return {name: values[0, i, : x.size] for i, name in enumerate(sorted(OPS))}


def dense(mode: str, name: str) -> np.ndarray:
    """The values of `name` on `DENSE`, one row per softness of `BATCH`."""
    f, _ = compiled(mode)
    return np.asarray(f(DENSE, BATCH)[:, sorted(OPS).index(name)])


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_sigmoidal_stays_in_unit_interval_across_the_transition(mode):
    y = dense(mode, "sigmoidal")
    assert y.min() >= 0, y.min()
    assert y.max() <= 1, (y.max(), DENSE[np.argmax(y) % DENSE.size])


@pytest.mark.parametrize("name", ["sigmoidal", "softrelu"])
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_monotone_on_a_dense_grid(name, mode):
    for y, softness in zip(dense(mode, name), BATCH, strict=True):
        steps = np.diff(y)
        scale = HALF_WIDTH * softness if name == "softrelu" else 1.0
        assert np.all(steps >= -rounding(y[1:], scale)), (
            steps.min(),
            DENSE[np.argmin(steps)],
        )


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(x=float_arrays, softness=softnesses)
def test_sigmoidal_is_a_monotone_soft_bool(mode, x, softness):
    x = np.sort(x)
    y = compiled_values(mode, x, softness)["sigmoidal"]
    assert np.all((y >= 0) & (y <= 1))
    assert np.all(np.diff(y) >= -rounding(y[1:])), np.diff(y).min()


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(x=float_arrays, softness=softnesses)
def test_sigmoidal_is_symmetric(mode, x, softness):
    y = compiled_values(mode, np.concatenate([x, -x]), softness)["sigmoidal"]
    assert_allclose(y[N:], 1 - y[:N], atol=1e-6)


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(x=float_arrays, softness=softnesses)
def test_softrelu_is_monotone_and_above_relu(mode, x, softness):
    x = np.sort(x)
    y = compiled_values(mode, x, softness)["softrelu"]
    slack = rounding(y, HALF_WIDTH * softness)
    assert np.all(np.diff(y) >= -slack[1:])
    assert np.all(y >= np.maximum(x, 0) - slack)


@pytest.mark.parametrize("mode", SOFT_MODES)
@given(x=float_arrays, softness=softnesses)
def test_softrelu_minus_its_reflection_is_x(mode, x, softness):
    # softrelu(x) - softrelu(-x) = x, since F(z) + F(-z) = 1.
    y = compiled_values(mode, np.concatenate([x, -x]), softness)["softrelu"]
    assert_allclose(y[:N] - y[N:], x, atol=2e-5 * max(1.0, softness))


# ---------------------------------------------------------------- transformations


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_jit_and_vmap_agree_with_eager_without_retracing(mode):
    # Mapped over the inputs and over the softness, compiled once for all softnesses.
    f, counter = compiled(mode)
    points = np.arange(0, DENSE.size, DENSE.size // N)[:N]
    for softness in ([0.1, 2.0], [0.5, 0.05], [1.0, 0.3]):
        batch = np.float32(softness)
        values = np.asarray(f(DENSE, batch))
        assert values.shape == (2, len(OPS), DENSE.size)
        for row, s in zip(values, softness, strict=True):
            assert_allclose(row[:, points], all_ops(mode)(DENSE[points], s))
    assert counter["traces"] == 1


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_softness_array_broadcasts_against_x(name, mode):
    x = grid(-1, 1)
    softness = jnp.asarray(np.repeat(np.float32([0.1, 0.5]), N // 2))
    y = OPS[name](x, softness, mode)
    assert y.shape == (N,)
    assert_allclose(y[: N // 2], OPS[name](x, 0.1, mode)[: N // 2])
    assert_allclose(y[N // 2 :], OPS[name](x, 0.5, mode)[N // 2 :])


# ---------------------------------------------------------------- dtypes


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", SOFT_MODES)
@pytest.mark.parametrize("in_dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_is_preserved(name, mode, in_dtype):
    x = grid(-1, 1).astype(in_dtype)
    y = OPS[name](x, 0.3, mode)
    assert y.dtype == in_dtype
    assert_allclose(y, OPS[name](x.astype(jnp.float32), 0.3, mode))


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_float64_is_preserved(name, mode, x64):
    x = grid(-1, 1, np.float64)
    assert OPS[name](x, 0.3, mode).dtype == jnp.float64
    assert OPS[name](x, jnp.float32(0.3), mode).dtype == jnp.float64


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_float32_is_preserved_with_x64_enabled(name, mode, x64):
    # Dtypes are decided while tracing: no need to compile and run.
    x = jax.ShapeDtypeStruct((N,), jnp.float32)
    assert jax.eval_shape(lambda v: OPS[name](v, 0.3, mode), x).dtype == jnp.float32


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_int_input_gives_float(name, mode):
    x = jnp.arange(-4, 4)
    y = OPS[name](x, 0.5, mode)
    assert y.dtype == jnp.float32
    assert_allclose(y, OPS[name](x.astype(jnp.float32), 0.5, mode))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", sorted(OPS))
def test_unknown_mode_raises_value_error(name):
    for mode in ["bogus", "Smooth", "c3", ""]:
        with pytest.raises((ValueError, TypeError), match="mode") as info:
            OPS[name](X, 0.1, mode)
        for allowed in SOFT_MODES:
            assert repr(allowed) in str(info.value)


@pytest.mark.parametrize("name", sorted(OPS))
def test_hard_mode_raises_value_error(name):
    # The families have no hard mode: that is `heaviside` and `relu`.
    with pytest.raises((ValueError, TypeError), match="mode") as info:
        OPS[name](X, 0.1, "hard")
    for allowed in SOFT_MODES:
        assert repr(allowed) in str(info.value)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("softness", [0.0, -0.1, -1, np.float32([0.1, 0.0])])
def test_nonpositive_softness_raises_value_error(name, softness):
    with pytest.raises(ValueError, match="softness"):
        OPS[name](X[:2], softness)


@pytest.mark.parametrize("name", sorted(OPS))
def test_nonpositive_traced_softness_raises_under_jit(name):
    f = jax.jit(lambda s: OPS[name](X, s, "smooth"))
    for softness in (0.0, -0.5):
        with pytest.raises(RuntimeError, match="softness"):
            jax.block_until_ready(f(jnp.float32(softness)))


# ---------------------------------------------------------------- empty input


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", SOFT_MODES)
@pytest.mark.parametrize("shape", [(0,), (2, 0)])
def test_empty_input_gives_empty_output(name, mode, shape):
    y = OPS[name](jnp.zeros(shape), 0.1, mode)
    assert y.shape == shape
    assert y.dtype == jnp.float32
