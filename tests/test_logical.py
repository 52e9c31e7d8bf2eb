"""Tests of the fuzzy logic ops: `logical_not/and/or/xor`, `all`, `any`.

Ops are called through `jax.jit` of functions shared between tests: compiling
one program is far cheaper than compiling each primitive of an eager call.
"""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import softeqx
from helpers import assert_allclose, assert_golden, check_jvp_fd


FUZZY_A = np.array([0.1, 0.2, 0.8, 1.0], np.float32)
FUZZY_B = np.array([0.7, 0.3, 0.1, 0.9], np.float32)

# Each binary op with the `jax.numpy` op it relaxes.
BINARY_OPS = {
    "logical_and": (softeqx.logical_and, jnp.logical_and),
    "logical_or": (softeqx.logical_or, jnp.logical_or),
    "logical_xor": (softeqx.logical_xor, jnp.logical_xor),
}
# Each reduction with the `jax.numpy` op it relaxes.
REDUCTIONS = {"all": (softeqx.all, jnp.all), "any": (softeqx.any, jnp.any)}
OP_NAMES = ["logical_not", *BINARY_OPS, *REDUCTIONS]

# Printed by SoftTorch (spec 003) for fuzzy_a, fuzzy_b: product AND, its dual OR.
GOLDEN_003 = {
    "logical_and": [0.0700, 0.0600, 0.0800, 0.9000],
    "logical_or": [0.7300, 0.4400, 0.8200, 1.0000],
    "logical_not": [0.9000, 0.8000, 0.2000, 0.0000],
    "logical_xor": [0.6411, 0.3464, 0.7256, 0.1000],
    "all": 0.0160,
    "any": 1.0,
}

# Printed by the early SoftJAX README (spec 002), made with the geometric mean.
GOLDEN_002_GEOMETRIC = {
    "logical_and": [0.26457513, 0.24494897, 0.28284271, 0.9486833],
    "logical_or": [0.48038476, 0.25166852, 0.57573593, 0.99999684],
    "logical_not": [0.9, 0.8, 0.2, 0.0],
    "logical_xor": [0.58702688, 0.43498731, 0.63937484, 0.17309871],
    "all": 0.35565588200778464,
    # 002 prints 0.99805 for `any`: the reference clamps the factor 1 - 1.0 = 0
    # at epsilon inside the logarithm. softeqx keeps an exact zero factor at
    # zero (so {0, 1} inputs reproduce jnp.any exactly), which gives 1.
    "any": 1.0,
}

REDUCTION_SHAPES_AXES = [
    ((5,), -1),
    ((5,), None),
    ((3, 4), 0),
    ((3, 4), -1),
    ((3, 4), None),
    ((2, 3, 4), 1),
    ((2, 3, 4), -3),
    ((2, 3, 4), None),
]

soft_bools = hnp.arrays(np.float32, (6,), elements=st.floats(0, 1, width=32))


@functools.cache
def _jit(fn, **static):
    """`fn` with `static` keyword arguments bound, compiled once per combination."""
    return jax.jit(functools.partial(fn, **static))


def _every_op(a, b, geometric):
    """Every op applied to the SoftBools `a` and `b` (reductions to `a` only)."""
    results = {"logical_not": softeqx.logical_not(a)}
    for name, (soft, _) in BINARY_OPS.items():
        results[name] = soft(a, b, use_geometric_mean=geometric)
    for name, (soft, _) in REDUCTIONS.items():
        results[name] = soft(a, use_geometric_mean=geometric)
    return results


def _every_hard_op(a, b):
    """The `jax.numpy` ops on booleans, as floats, matching `_every_op`."""
    a, b = a.astype(bool), b.astype(bool)
    results = {"logical_not": jnp.logical_not(a)}
    for name, (_, hard) in BINARY_OPS.items():
        results[name] = hard(a, b)
    for name, (_, hard) in REDUCTIONS.items():
        results[name] = hard(a)
    return {name: value.astype(jnp.float32) for name, value in results.items()}


def _binary_outputs(v, geometric):
    """NOT and every binary op of the two halves of `v`, concatenated."""
    a, b = v[:4], v[4:]
    ops = [soft for soft, _ in BINARY_OPS.values()]
    outputs = [soft(a, b, use_geometric_mean=geometric) for soft in ops]
    return jnp.concatenate([softeqx.logical_not(a), *outputs])


def _reduction_outputs(v, geometric):
    """`all` and `any` of `v` as a (2, 4) matrix over two axes each."""
    m = v.reshape(2, 4)
    first, second = (0, None) if geometric else (1, 0)
    outputs = [
        softeqx.all(m, axis=first, use_geometric_mean=geometric),
        softeqx.any(m, axis=second, use_geometric_mean=geometric),
    ]
    return jnp.concatenate([jnp.atleast_1d(out) for out in outputs])


def _product_family(v):
    return jnp.concatenate([_binary_outputs(v, False), _reduction_outputs(v, False)])


def _geometric_family(v):
    return jnp.concatenate([_binary_outputs(v, True), _reduction_outputs(v, True)])


# Smooth functions of a vector of 8 SoftBools, one per way of combining, for
# derivative checks (every op of a family in one compiled program).
FUNCTIONS_OF_VECTOR = {"product": _product_family, "geometric_mean": _geometric_family}


def _some_logic(v):
    """A small composition of every op, for transformation and dtype checks."""
    a, b = v[:4], v[4:]
    xor = softeqx.logical_xor(a, b)
    return jnp.concatenate(
        [xor, softeqx.all(v.reshape(2, 4), axis=0), softeqx.any(v)[None]]
    )


def _interior(seed, shape, dtype=np.float64):
    """SoftBools away from 0 and 1, where every op is smooth."""
    return np.random.default_rng(seed).uniform(0.05, 0.95, shape).astype(dtype)


@pytest.fixture(params=["float16", "float32", "float64"])
def float_dtype(request):
    """A float dtype, with x64 switched on for float64."""
    if request.param == "float64":
        request.getfixturevalue("x64")
    return jnp.dtype(request.param)


# --- golden values -------------------------------------------------------------


@pytest.mark.parametrize("name", list(GOLDEN_003))
def test_product_logic_matches_softtorch_golden(name):
    actual = _jit(_every_op, geometric=False)(FUZZY_A, FUZZY_B)[name]
    assert_golden(actual, GOLDEN_003[name])


@pytest.mark.parametrize("name", list(GOLDEN_002_GEOMETRIC))
def test_geometric_mean_logic_matches_softjax_golden(name):
    actual = _jit(_every_op, geometric=True)(FUZZY_A, FUZZY_B)[name]
    assert_golden(actual, GOLDEN_002_GEOMETRIC[name])


def test_and_or_all_any_default_to_the_product():
    and_, or_, all_, any_ = _jit(
        lambda a, b: (
            softeqx.logical_and(a, b),
            softeqx.logical_or(a, b),
            softeqx.all(a),
            softeqx.any(a),
        )
    )(FUZZY_A, FUZZY_B)
    assert_allclose(and_, FUZZY_A * FUZZY_B)
    assert_allclose(or_, 1 - (1 - FUZZY_A) * (1 - FUZZY_B))
    assert_allclose(all_, np.prod(FUZZY_A))
    assert_allclose(any_, 1 - np.prod(1 - FUZZY_A))


# --- hard parity ---------------------------------------------------------------


@pytest.mark.parametrize("geometric", [False, True])
@pytest.mark.parametrize("name", OP_NAMES)
def test_op_equals_jnp_on_every_boolean_pair(name, geometric):
    a = np.array([0.0, 0.0, 1.0, 1.0], np.float32)
    b = np.array([0.0, 1.0, 0.0, 1.0], np.float32)
    actual = _jit(_every_op, geometric=geometric)(a, b)[name]
    expected = _jit(_every_hard_op)(a, b)[name]
    np.testing.assert_array_equal(actual, expected)


def test_binary_ops_broadcast_like_jnp_on_booleans():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, (3, 1)).astype(np.float32)
    b = rng.integers(0, 2, (1, 4)).astype(np.float32)
    actual = _jit(_every_op, geometric=False)(a, b)
    expected = _jit(_every_hard_op)(a, b)
    for name in BINARY_OPS:
        assert actual[name].shape == (3, 4)
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


def _reductions_of_rows(rows):
    """Every reduction, both combinations, over both orientations of `rows`."""
    results = {}
    for name, (soft, hard) in REDUCTIONS.items():
        for x, axis in ((rows, 1), (rows.T, 0)):
            results[f"{name}_hard_{axis}"] = hard(x.astype(bool), axis=axis)
            for geometric in (False, True):
                results[f"{name}_{geometric}_{axis}"] = soft(
                    x, axis=axis, use_geometric_mean=geometric
                )
    return results


@pytest.mark.parametrize("geometric", [False, True])
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_equals_jnp_on_every_boolean_row(name, geometric):
    rows = np.array(list(itertools.product([0.0, 1.0], repeat=4)), np.float32)
    results = jax.jit(_reductions_of_rows)(rows)
    for axis in (0, 1):
        expected = results[f"{name}_hard_{axis}"].astype(np.float32)
        actual = results[f"{name}_{geometric}_{axis}"]
        np.testing.assert_array_equal(actual, expected, err_msg=f"{axis=}")


def _soft_and_hard_reductions(x, axis):
    return {
        name: (soft(x, axis=axis), hard(x.astype(bool), axis=axis).astype(x.dtype))
        for name, (soft, hard) in REDUCTIONS.items()
    }


@pytest.mark.parametrize(("shape", "axis"), REDUCTION_SHAPES_AXES)
def test_reductions_equal_jnp_on_booleans_for_every_axis(shape, axis):
    rng = np.random.default_rng(len(shape))
    for p in (0.25, 0.75):
        x = (rng.uniform(size=shape) < p).astype(np.float32)
        results = _jit(_soft_and_hard_reductions, axis=axis)(x)
        for name, (actual, expected) in results.items():
            np.testing.assert_array_equal(actual, expected, err_msg=f"{name} {p=}")


def test_integer_inputs_give_default_float_results():
    a = np.array([0, 0, 1, 1], np.int32)
    b = np.array([0, 1, 0, 1], np.int32)
    actual = _jit(_every_op, geometric=False)(a, b)
    expected = _jit(_every_hard_op)(a, b)
    for name in OP_NAMES:
        assert actual[name].dtype == jnp.float32, name
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


# --- long products, exact zeros, empty inputs --------------------------------


def _reduction_value_and_grad(x, name):
    return jax.value_and_grad(REDUCTIONS[name][0])(x)


def _value_and_grad(name, x):
    return _jit(_reduction_value_and_grad, name=name)(x)


def test_all_of_many_values_does_not_underflow_in_float32():
    x = np.full((1000,), 0.9, np.float32)  # 0.9**1000 = 1.7e-46: below float32
    value, grad = _value_and_grad("all", x)
    assert value.dtype == jnp.float32
    assert np.isfinite(value) and value > 0
    assert np.all(np.isfinite(grad))
    # The exact gradient 0.9**999 is positive everywhere: same sign, nonzero.
    assert np.all(grad > 0)


@pytest.mark.parametrize("fill", [0.9, 0.1])
def test_any_of_many_values_keeps_its_gradient_in_float32(fill):
    x = np.full((1000,), fill, np.float32)
    value, grad = _value_and_grad("any", x)
    assert np.isfinite(value) and 0 < value <= 1
    assert_allclose(value, 1.0)
    # The exact gradient (1 - fill)**999 underflows in float32 but is positive.
    assert np.all(np.isfinite(grad))
    assert np.all(grad > 0)


def test_all_of_many_values_is_exact_in_float64(x64):
    value, grad = _value_and_grad("all", np.full((1000,), 0.9))
    assert value.dtype == jnp.float64
    np.testing.assert_allclose(value, 0.9**1000, rtol=1e-12)
    np.testing.assert_allclose(grad, 0.9**999, rtol=1e-12)


def test_any_of_many_values_has_exact_gradient_in_float64(x64):
    value, grad = _value_and_grad("any", np.full((1000,), 0.1))
    np.testing.assert_allclose(value, 1 - 0.9**1000, rtol=1e-12)
    np.testing.assert_allclose(grad, (1 - 0.1) ** 999, rtol=1e-12)


def test_all_with_an_exact_zero_is_zero_with_exact_gradient():
    value, grad = _value_and_grad("all", np.array([0.5, 0.0, 0.8, 0.3], np.float32))
    assert value == 0.0
    # d/dx_1 prod(x) is the product of the others; the other partials contain 0.
    assert_allclose(grad, [0.0, 0.5 * 0.8 * 0.3, 0.0, 0.0])
    assert grad[1] > 0


def test_all_with_two_exact_zeros_has_zero_gradient():
    value, grad = _value_and_grad("all", np.array([0.5, 0.0, 0.8, 0.0], np.float32))
    assert value == 0.0
    np.testing.assert_array_equal(grad, np.zeros(4))


def test_any_with_an_exact_one_is_one_with_exact_gradient():
    value, grad = _value_and_grad("any", np.array([0.5, 1.0, 0.2, 0.4], np.float32))
    assert value == 1.0
    assert_allclose(grad, [0.0, 0.5 * 0.8 * 0.6, 0.0, 0.0])


def _reductions_and_gradients(x, axis):
    results = {}
    for name, (soft, hard) in REDUCTIONS.items():
        results[name] = (
            soft(x, axis=axis),
            hard(x.astype(bool), axis=axis).astype(x.dtype),
            jax.grad(lambda v, f=soft: jnp.sum(f(v, axis=axis)))(x),
        )
    return results


@pytest.mark.parametrize(
    ("shape", "axis"), [((0,), -1), ((2, 0), -1), ((0, 3), -1), ((0, 3), None)]
)
def test_reductions_over_empty_input_equal_jnp_with_empty_gradient(shape, axis):
    x = np.full(shape, 0.5, np.float32)
    results = _jit(_reductions_and_gradients, axis=axis)(x)
    for name, (actual, expected, grad) in results.items():
        assert actual.shape == expected.shape
        np.testing.assert_array_equal(actual, expected, err_msg=name)
        assert grad.shape == shape


def test_binary_ops_of_empty_inputs_are_empty():
    empty = _jit(_every_op, geometric=False)(
        np.ones((0, 2), np.float32), np.ones((1, 2), np.float32)
    )
    for name in BINARY_OPS:
        assert empty[name].shape == (0, 2), name


# --- derivatives ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(FUNCTIONS_OF_VECTOR))
def test_derivatives_match_finite_differences_at_interior_points(name, x64):
    x = jnp.asarray(_interior(1, (8,)))
    check_jvp_fd(jax.jit(FUNCTIONS_OF_VECTOR[name]), x, jax.random.key(0))


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_gradient_is_product_of_the_others(name, x64):
    x = _interior(2, (3, 5))
    soft, _ = REDUCTIONS[name]
    grad = jax.jit(jax.grad(lambda v: jnp.sum(soft(v, axis=1))))(x)
    factors = x if name == "all" else 1 - x
    others = [[np.prod(np.delete(row, i)) for i in range(row.size)] for row in factors]
    np.testing.assert_allclose(grad, others, rtol=1e-12)


# --- transformations and dtypes ------------------------------------------------


def _transformed(xs):
    fn = _some_logic
    grad = jax.grad(lambda x: jnp.sum(fn(x)))
    return fn(xs[0]), jax.vmap(fn)(xs), grad(xs[0]), jax.vmap(grad)(xs)


def test_jit_vmap_and_grad_are_consistent():
    xs = _interior(3, (3, 8), np.float32)
    value, values, grad, grads = jax.jit(_transformed)(xs)
    for i, x in enumerate(xs):
        assert_allclose(values[i], _jit(_some_logic)(x))
    assert_allclose(values[0], value)
    assert np.all(np.isfinite(grads))
    assert_allclose(grads[0], grad)


def test_output_dtype_follows_input_dtype(float_dtype):
    x = _interior(4, (8,), np.float32)
    fn = _jit(_some_logic)
    out = fn(x.astype(float_dtype))
    assert out.dtype == float_dtype
    assert_allclose(np.asarray(out, np.float32), fn(x), rtol=1e-2, atol=2e-3)


# --- bad inputs ----------------------------------------------------------------


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_rejects_axis_out_of_range(name):
    soft, _ = REDUCTIONS[name]
    x = jnp.full((2, 3), 0.5)
    for axis in (2, -3):
        with pytest.raises(ValueError, match="axis"):
            soft(x, axis=axis)


# --- properties ----------------------------------------------------------------


@jax.jit
def _logic_of_pair(a, b):
    """Every op on `(a, b)`, the binary ones on `(b, a)`, and De Morgan duals."""
    results = {}
    for geometric in (False, True):
        results[f"{geometric}"] = _every_op(a, b, geometric)
        results[f"{geometric}_swapped"] = {
            name: soft(b, a, use_geometric_mean=geometric)
            for name, (soft, _) in BINARY_OPS.items()
        }
    results["de_morgan_or"] = 1 - softeqx.logical_and(1 - a, 1 - b)
    results["de_morgan_any"] = 1 - softeqx.all(1 - a)
    return results


@given(a=soft_bools, b=soft_bools)
def test_de_morgan_or_is_not_and_of_nots(a, b):
    results = _logic_of_pair(a, b)
    assert_allclose(results["False"]["logical_or"], results["de_morgan_or"], atol=1e-6)
    assert_allclose(results["False"]["any"], results["de_morgan_any"], atol=1e-6)


@given(a=soft_bools, b=soft_bools)
def test_outputs_stay_in_unit_interval(a, b):
    results = _logic_of_pair(a, b)
    for path, out in jax.tree_util.tree_leaves_with_path(results):
        out = np.asarray(out)
        assert np.all((out >= 0) & (out <= 1)), path


@given(a=soft_bools, b=soft_bools)
def test_and_or_xor_are_commutative(a, b):
    results = _logic_of_pair(a, b)
    for geometric in (False, True):
        for name in BINARY_OPS:
            assert_allclose(
                results[f"{geometric}"][name],
                results[f"{geometric}_swapped"][name],
                atol=1e-7,
                err_msg=f"{name} {geometric=}",
            )


_all_and_any = jax.jit(lambda x: (softeqx.all(x), softeqx.any(x)))


@given(
    x=soft_bools,
    index=st.integers(0, 5),
    raised=st.floats(0, 1, width=32),
)
def test_all_and_any_are_monotone_in_each_input(x, index, raised):
    higher = x.copy()
    higher[index] = max(x[index], np.float32(raised))
    all_x, any_x = _all_and_any(x)
    all_higher, any_higher = _all_and_any(higher)
    assert all_higher >= all_x
    assert any_higher >= any_x


def test_geometric_mean_does_not_shrink_with_length():
    geometric_all = _jit(softeqx.all, use_geometric_mean=True)
    assert_allclose(geometric_all(np.full((1000,), 0.9, np.float32)), 0.9)
    assert_allclose(geometric_all(np.full((10,), 0.9, np.float32)), 0.9)
