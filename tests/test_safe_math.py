"""Tests of the autograd-safe math: `sqrt`, `log`, `div`, `norm`, `arcsin`, `arccos`.

Inside their domain they equal `jax.numpy`; at (and past) its edge their values
are the documented limits and their derivatives are finite: 0, never NaN or inf.

Every check runs inside one compiled program per scenario: compiling a program
is far cheaper than compiling every primitive of an eager call.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import softeqx
from helpers import assert_allclose, assert_golden, check_jvp_fd


# Each unary op with the `jax.numpy` function it makes safe.
UNARY_OPS = {
    "sqrt": (softeqx.sqrt, jnp.sqrt),
    "log": (softeqx.log, jnp.log),
    "arcsin": (softeqx.arcsin, jnp.arcsin),
    "arccos": (softeqx.arccos, jnp.arccos),
}
# Points inside each op's domain, and the edge points with their limit values.
INTERIOR = {
    "sqrt": np.array([1e-6, 0.01, 0.5, 1.0, 3.0, 1e4], np.float32),
    "log": np.array([1e-6, 0.01, 0.5, 1.0, 3.0, 1e4], np.float32),
    "arcsin": np.array([-0.999, -0.5, -0.01, 0.0, 0.3, 0.999], np.float32),
    "arccos": np.array([-0.999, -0.5, -0.01, 0.0, 0.3, 0.999], np.float32),
}
EDGES = {
    "sqrt": (np.array([0.0, -0.0, -1.0, -4.0], np.float32), [0.0, 0.0, 0.0, 0.0]),
    "log": (np.array([0.0, -0.0, -1.0, -4.0], np.float32), [0.0, 0.0, 0.0, 0.0]),
    "arcsin": (
        np.array([-1.0, 1.0, -2.0, 2.0], np.float32),
        [-np.pi / 2, np.pi / 2, -np.pi / 2, np.pi / 2],
    ),
    "arccos": (np.array([-1.0, 1.0, -2.0, 2.0], np.float32), [np.pi, 0.0, np.pi, 0.0]),
}
NORM_AXES = [
    {"axis": None},
    {"axis": 0},
    {"axis": 1},
    {"axis": -1, "keepdims": True},
    {"axis": (0, 1)},
    {"axis": (1, 2)},
]


@functools.cache
def _jit(fn, **static):
    """`fn` with `static` keyword arguments bound, compiled once per combination."""
    return jax.jit(functools.partial(fn, **static))


@pytest.fixture(params=["float16", "float32", "float64"])
def float_dtype(request):
    """A float dtype, with x64 switched on for float64."""
    if request.param == "float64":
        request.getfixturevalue("x64")
    return jnp.dtype(request.param)


# --- golden values (spec 004) --------------------------------------------------


def _spec_004_examples():
    x = jnp.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    x_log = jnp.array([0.0, 0.5, 1.0, 2.0])
    zeros = jnp.zeros(3)
    return {
        "arcsin": softeqx.arcsin(x),
        "arccos": softeqx.arccos(x),
        "grad_arcsin_at_1": jax.grad(softeqx.arcsin)(1.0),
        "log": softeqx.log(x_log),
        "grad_log_at_0": jax.grad(softeqx.log)(0.0),
        "div_1_0": softeqx.div(jnp.array(1.0), jnp.array(0.0)),
        "norm_zeros": softeqx.norm(zeros),
        "grad_norm_zeros": jax.grad(softeqx.norm)(zeros),
    }


GOLDEN_004 = {
    "arcsin": [-1.57079633, -0.52359878, 0.0, 0.52359878, 1.57079633],
    "arccos": [3.14159265, 2.0943951, 1.57079633, 1.04719755, 0.0],
    "grad_arcsin_at_1": 0.0,
    "log": [0.0, -0.69314718, 0.0, 0.69314718],
    "grad_log_at_0": 0.0,
    "div_1_0": 0.0,
    "norm_zeros": 0.0,
    "grad_norm_zeros": [0.0, 0.0, 0.0],
}


@pytest.mark.parametrize("name", list(GOLDEN_004))
def test_matches_spec_004_golden(name):
    assert_golden(_jit(_spec_004_examples)()[name], GOLDEN_004[name])


# --- parity with jax.numpy inside the domain -----------------------------------


def _unary_both(x, name):
    safe, unsafe = UNARY_OPS[name]
    return safe(x), unsafe(x)


@pytest.mark.parametrize("name", list(UNARY_OPS))
def test_equals_jnp_inside_the_domain(name):
    actual, expected = _jit(_unary_both, name=name)(INTERIOR[name])
    assert actual.dtype == expected.dtype == jnp.float32
    assert_allclose(actual, expected)


def test_div_equals_jnp_divide_for_nonzero_denominators():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    y = (rng.choice([-1, 1], (3, 4)) * rng.uniform(1e-3, 10, (3, 4))).astype(np.float32)
    actual, expected = _jit(lambda x, y: (softeqx.div(x, y), jnp.divide(x, y)))(x, y)
    assert_allclose(actual, expected)
    # Broadcasting as in `jnp.divide`.
    actual, expected = _jit(lambda x, y: (softeqx.div(x, y), jnp.divide(x, y)))(
        x[:, :1], y[0]
    )
    assert actual.shape == expected.shape == (3, 4)
    assert_allclose(actual, expected)


def _norms(x):
    return [
        (softeqx.norm(x, **kw), jnp.linalg.norm(x, **{"ord": None, **kw}))
        for kw in NORM_AXES
    ]


def test_norm_equals_jnp_linalg_norm_for_every_axis():
    x = np.random.default_rng(1).normal(size=(2, 3, 4)).astype(np.float32)
    for kw, (actual, expected) in zip(NORM_AXES, _jit(_norms)(x), strict=True):
        assert actual.shape == expected.shape, kw
        assert_allclose(actual, expected, err_msg=f"{kw}")
    vector = x[0, 0]
    actual, expected = _jit(lambda v: (softeqx.norm(v), jnp.linalg.norm(v)))(vector)
    assert_allclose(actual, expected)


# --- values and derivatives at the edge of the domain -------------------------


def _edge_values_and_derivatives(x, name):
    safe, _ = UNARY_OPS[name]
    return safe(x), jax.vmap(jax.grad(safe))(x), jax.jacfwd(safe)(x)


@pytest.mark.parametrize("name", list(UNARY_OPS))
def test_edge_values_are_the_limits_with_zero_derivative(name):
    x, limits = EDGES[name]
    value, grad, jacobian = _jit(_edge_values_and_derivatives, name=name)(x)
    assert_allclose(value, limits)
    np.testing.assert_array_equal(grad, np.zeros(4))
    np.testing.assert_array_equal(jacobian, np.zeros((4, 4)))


@pytest.mark.parametrize("name", list(UNARY_OPS))
def test_derivatives_are_finite_on_points_mixing_inside_and_edge(name):
    edge, _ = EDGES[name]
    x = np.concatenate([INTERIOR[name][:4], edge])
    value, grad, jacobian = _jit(_edge_values_and_derivatives, name=name)(x)
    assert np.all(np.isfinite(value))
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(jacobian))
    np.testing.assert_array_equal(grad[4:], np.zeros(4))
    assert_allclose(np.diag(jacobian), grad)


def _div_at_zero_denominator(x, y):
    value = softeqx.div(x, y)
    grad_x, grad_y = jax.vmap(jax.grad(softeqx.div, argnums=(0, 1)))(x, y)
    jac_x, jac_y = jax.jacfwd(softeqx.div, argnums=(0, 1))(x, y)
    return value, grad_x, grad_y, jac_x, jac_y


def test_div_by_zero_is_zero_with_zero_derivatives():
    x = np.array([1.0, -2.0, 0.0, 3.0], np.float32)
    y = np.zeros(4, np.float32)
    for derivative in _jit(_div_at_zero_denominator)(x, y):
        np.testing.assert_array_equal(derivative, np.zeros_like(derivative))


def _norm_with_a_zero_row(x):
    row_norms = functools.partial(softeqx.norm, axis=1)
    return (
        row_norms(x),
        jax.grad(lambda x: jnp.sum(row_norms(x)))(x),
        jax.jacfwd(row_norms)(x),
        jax.grad(softeqx.norm)(jnp.zeros_like(x)),
        jax.jacfwd(softeqx.norm)(jnp.zeros_like(x)),
    )


def test_norm_gradient_is_zero_at_a_zero_vector_and_exact_elsewhere():
    x = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, -4.0]], np.float32)
    value, grad, jacobian, grad_at_zero, jacobian_at_zero = _jit(_norm_with_a_zero_row)(
        x
    )
    assert_allclose(value, [0.0, 5.0])
    assert_allclose(grad, [[0.0, 0.0, 0.0], [0.6, 0.0, -0.8]])
    assert np.all(np.isfinite(jacobian))
    assert_allclose(jacobian[1, 1], [0.6, 0.0, -0.8])
    np.testing.assert_array_equal(jacobian[0], np.zeros((2, 3)))
    np.testing.assert_array_equal(grad_at_zero, np.zeros((2, 3)))
    np.testing.assert_array_equal(jacobian_at_zero, np.zeros((2, 3)))


# --- derivatives inside the domain --------------------------------------------


def _every_op_inside(v):
    """Every op at points of `v` in [0.2, 0.9], inside every domain."""
    outputs = [safe(v) for safe, _ in UNARY_OPS.values()]
    outputs += [
        softeqx.div(v[:4], v[4:]),
        softeqx.div(v[:4], -v[4:]),
        softeqx.norm(v.reshape(2, 4), axis=1),
        softeqx.norm(v)[None],
    ]
    return jnp.concatenate(outputs)


def test_derivatives_match_finite_differences_inside_the_domain(x64):
    v = np.random.default_rng(2).uniform(0.2, 0.9, (8,))
    check_jvp_fd(jax.jit(_every_op_inside), jnp.asarray(v), jax.random.key(0))


def _every_unsafe_op_inside(v):
    outputs = [unsafe(v) for _, unsafe in UNARY_OPS.values()]
    outputs += [
        v[:4] / v[4:],
        v[:4] / -v[4:],
        jnp.linalg.norm(v.reshape(2, 4), axis=1),
        jnp.linalg.norm(v)[None],
    ]
    return jnp.concatenate(outputs)


def test_gradient_equals_the_jnp_gradient_inside_the_domain(x64):
    v = np.random.default_rng(3).uniform(0.2, 0.9, (8,))
    safe, unsafe = _jit(
        lambda v: (
            jax.jacrev(_every_op_inside)(v),
            jax.jacrev(_every_unsafe_op_inside)(v),
        )
    )(v)
    np.testing.assert_allclose(safe, unsafe, rtol=1e-12, atol=1e-12)


# --- transformations and dtypes ------------------------------------------------


def _transformed(vs):
    fn = _every_op_inside
    grad = jax.grad(lambda v: jnp.sum(fn(v)))
    return fn(vs[0]), jax.vmap(fn)(vs), grad(vs[0]), jax.vmap(grad)(vs)


def test_jit_vmap_and_grad_are_consistent():
    vs = np.random.default_rng(4).uniform(0.2, 0.9, (3, 8)).astype(np.float32)
    value, values, grad, grads = jax.jit(_transformed)(vs)
    for i, v in enumerate(vs):
        assert_allclose(values[i], _jit(_every_op_inside)(v))
    assert_allclose(values[0], value)
    assert np.all(np.isfinite(grads))
    assert_allclose(grads[0], grad)


def test_output_dtype_follows_input_dtype(float_dtype):
    v = np.random.default_rng(5).uniform(0.2, 0.9, (8,)).astype(np.float32)
    fn = _jit(_every_op_inside)
    out = fn(v.astype(float_dtype))
    assert out.dtype == float_dtype
    assert_allclose(np.asarray(out, np.float32), fn(v), rtol=1e-2, atol=1e-2)


def test_integer_inputs_give_default_float_results():
    x = np.array([0, 1, 4], np.int32)
    results = _jit(
        lambda x: [
            softeqx.sqrt(x),
            softeqx.log(x),
            softeqx.div(x, x),
            softeqx.norm(x),
            softeqx.arcsin(x - 1),
            softeqx.arccos(x - 1),
        ]
    )(x)
    for out in results:
        assert out.dtype == jnp.float32
    assert_allclose(results[0], [0.0, 1.0, 2.0])
    assert_allclose(results[2], [0.0, 1.0, 1.0])


def test_empty_inputs_give_empty_results():
    empty = np.zeros((0,), np.float32)
    results = _jit(lambda x: [safe(x) for safe, _ in UNARY_OPS.values()])(empty)
    assert [out.shape for out in results] == [(0,)] * len(UNARY_OPS)
    assert _jit(softeqx.div)(empty, empty).shape == (0,)
    # As `jnp.linalg.norm`: the norm of nothing is 0.
    assert _jit(softeqx.norm)(empty) == 0.0
