"""Tests of selection with SoftBools and SoftIndices.

`where`, `take_along_axis`, `take`, `choose`, `dynamic_index_in_dim`,
`dynamic_slice_in_dim` and `dynamic_slice`. A one-hot SoftIndex must give exactly
the hard selection of `jax.numpy` / `jax.lax`; any other SoftIndex gives the
expectation of the hard selections under its probabilities.

Each case is compiled as one program (soft and hard together): compiling a
program is far cheaper than compiling every primitive of an eager call.
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


X = np.array([-0.2, -1.0, 0.3, 1.0], np.float32)
Y = np.array([0.2, -0.5, 0.5, -1.0], np.float32)
FUZZY_A = np.array([0.1, 0.2, 0.8, 1.0], np.float32)

# (shape of x, axis, k): every axis, negative ones and `None` included.
TAKE_ALONG_AXIS_CASES = [
    ((5,), 0, 3),
    ((5,), -1, 7),
    ((5,), None, 2),
    ((4, 6), 0, 2),
    ((4, 6), 1, 3),
    ((4, 6), -2, 5),
    ((4, 6), None, 4),
    ((2, 3, 4), 0, 3),
    ((2, 3, 4), 1, 2),
    ((2, 3, 4), -1, 5),
    ((2, 3, 4), -3, 1),
]
TAKE_CASES = [
    ((5,), None),
    ((5,), -1),
    ((4, 6), 0),
    ((4, 6), 1),
    ((4, 6), -2),
    ((4, 6), None),
    ((2, 3, 4), 0),
    ((2, 3, 4), 1),
    ((2, 3, 4), 2),
    ((2, 3, 4), -1),
]
# (shape of the integer index, shape of `choices`): `choices[i]` broadcasts.
CHOOSE_CASES = [
    ((3, 4), (5, 3, 4)),
    ((4,), (5, 3, 4)),
    ((3, 1), (5, 1, 4)),
    ((2, 3, 4), (3, 3, 4)),
    ((6,), (2,)),
]
AXIS_CASES = [
    ((5,), 0),
    ((5,), -1),
    ((4, 6), 0),
    ((4, 6), 1),
    ((4, 6), -2),
    ((2, 3, 4), 0),
    ((2, 3, 4), 1),
    ((2, 3, 4), 2),
    ((2, 3, 4), -1),
]
SLICE_CASES = [((7,), 0), ((7,), -1), ((3, 6, 2), 0), ((3, 6, 2), 1), ((3, 6, 2), -1)]
DYNAMIC_SLICE_CASES = [((4, 5, 3), (2, 3, 1)), ((4, 5, 3), (4, 1, 2)), ((6,), (4,))]


@functools.cache
def _jit(fn, **static):
    """`fn` with `static` keyword arguments bound, compiled once per combination."""
    return jax.jit(functools.partial(fn, **static))


def _normal(seed, shape, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def _simplex(seed, shape, dtype=np.float32):
    """Random SoftIndices: positive, summing to 1 over the last axis."""
    p = np.random.default_rng(seed).uniform(0.05, 1.0, shape)
    return (p / p.sum(-1, keepdims=True)).astype(dtype)


def _one_hot(index, n, dtype=np.float32):
    return np.eye(n, dtype=dtype)[index]


def _clamped_slice(x, start, size, axis):
    """`x[min(start, n - size) : ... + size]` along `axis`, in NumPy."""
    start = min(start, x.shape[axis] - size)
    return np.take(x, np.arange(start, start + size), axis=axis)


@pytest.fixture(params=["float16", "float32", "float64"])
def float_dtype(request):
    """A float dtype, with x64 switched on for float64."""
    if request.param == "float64":
        request.getfixturevalue("x64")
    return jnp.dtype(request.param)


# --- where ---------------------------------------------------------------------


def test_where_matches_softtorch_golden():
    assert_golden(_jit(softeqx.where)(FUZZY_A, X, Y), [0.16, -0.6, 0.34, 1.0])


def test_where_is_the_expectation_of_the_two_branches():
    c = _simplex(0, (3, 4, 2))[..., 0]
    x, y = _normal(1, (3, 4)), _normal(2, (3, 4))
    assert_allclose(_jit(softeqx.where)(c, x, y), c * x + (1 - c) * y)


def test_where_with_boolean_condition_equals_jnp_where():
    rng = np.random.default_rng(3)
    c = rng.integers(0, 2, (64,)).astype(np.float32)
    x, y = _normal(4, (64,)), _normal(5, (64,))
    soft_and_hard = _jit(
        lambda c, x, y: (softeqx.where(c, x, y), jnp.where(c.astype(bool), x, y))
    )
    actual, expected = soft_and_hard(c, x, y)
    np.testing.assert_array_equal(actual, expected)


def test_where_broadcasts_its_three_arguments():
    assert _shape(softeqx.where, (3, 1), (1, 4), ()) == (3, 4)


# --- hard parity with one-hot SoftIndices --------------------------------------


def _take_along_axis_both(x, index, axis, n):
    return (
        softeqx.take_along_axis(x, jax.nn.one_hot(index, n), axis=axis),
        jnp.take_along_axis(x, index, axis=axis),
    )


@pytest.mark.parametrize(("shape", "axis", "k"), TAKE_ALONG_AXIS_CASES)
def test_take_along_axis_with_one_hot_equals_jnp(shape, axis, k):
    x = _normal(0, shape)
    if axis is None:
        n, index_shape = x.size, (k,)
    else:
        a = axis % len(shape)
        n, index_shape = shape[a], (*shape[:a], k, *shape[a + 1 :])
    index = np.random.default_rng(1).integers(0, n, index_shape)
    actual, expected = _jit(_take_along_axis_both, axis=axis, n=n)(x, index)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


def test_take_along_axis_broadcasts_other_axes_like_jnp():
    x = _normal(0, (2, 5, 3))
    index = np.random.default_rng(1).integers(0, 5, (1, 4, 1))
    actual, expected = _jit(_take_along_axis_both, axis=1, n=5)(x, index)
    assert actual.shape == expected.shape == (2, 4, 3)
    np.testing.assert_array_equal(actual, expected)


def _take_both(x, index, axis, n):
    return (
        softeqx.take(x, jax.nn.one_hot(index, n), axis=axis),
        jnp.take(x, index, axis=axis),
    )


@pytest.mark.parametrize(("shape", "axis"), TAKE_CASES)
def test_take_with_one_hot_equals_jnp(shape, axis):
    x = _normal(0, shape)
    n = x.size if axis is None else shape[axis]
    index = np.random.default_rng(1).integers(0, n, (3,))
    actual, expected = _jit(_take_both, axis=axis, n=n)(x, index)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


def _choose_both(index, choices):
    n = choices.shape[0]
    return (
        softeqx.choose(jax.nn.one_hot(index, n), choices),
        jnp.choose(index, choices, mode="clip"),
    )


@pytest.mark.parametrize(("index_shape", "choices_shape"), CHOOSE_CASES)
def test_choose_with_one_hot_equals_jnp(index_shape, choices_shape):
    choices = _normal(0, choices_shape)
    index = np.random.default_rng(1).integers(0, choices_shape[0], index_shape)
    actual, expected = _jit(_choose_both)(index, choices)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


def _dynamic_index_both(x, axis):
    n = x.shape[axis]
    results = {}
    for keepdims in (True, False):
        soft = functools.partial(
            softeqx.dynamic_index_in_dim, axis=axis, keepdims=keepdims
        )
        hard = functools.partial(
            jax.lax.dynamic_index_in_dim, axis=axis % x.ndim, keepdims=keepdims
        )
        results[f"{keepdims}"] = (
            jax.vmap(soft, in_axes=(None, 0))(x, jnp.eye(n, dtype=x.dtype)),
            jax.vmap(hard, in_axes=(None, 0))(x, jnp.arange(n)),
        )
    return results


@pytest.mark.parametrize(("shape", "axis"), AXIS_CASES)
def test_dynamic_index_in_dim_with_one_hot_equals_lax(shape, axis):
    results = _jit(_dynamic_index_both, axis=axis)(_normal(0, shape))
    for keepdims, (actual, expected) in results.items():
        assert actual.shape == expected.shape, keepdims
        np.testing.assert_array_equal(actual, expected, err_msg=f"{keepdims=}")


def _dynamic_slice_in_dim_both(x, axis, sizes):
    n = x.shape[axis]
    results = {}
    for size in sizes:
        soft = jax.vmap(
            lambda p, size=size: softeqx.dynamic_slice_in_dim(x, p, size, axis=axis)
        )(jnp.eye(n, dtype=x.dtype))
        hard = jax.vmap(
            lambda i, size=size: jax.lax.dynamic_slice_in_dim(
                x, i, size, axis=axis % x.ndim
            )
        )(jnp.arange(n))
        results[f"{size}"] = (soft, hard)
    return results


@pytest.mark.parametrize(("shape", "axis"), SLICE_CASES)
def test_dynamic_slice_in_dim_with_one_hot_equals_lax_for_every_start(shape, axis):
    n = shape[axis]
    sizes = tuple(sorted({1, min(3, n), n - 1, n} - {0}))
    # Every start from 0 to n - 1: those past n - size are clamped by lax.
    results = _jit(_dynamic_slice_in_dim_both, axis=axis, sizes=sizes)(
        _normal(0, shape)
    )
    for size, (actual, expected) in results.items():
        assert actual.shape == expected.shape, size
        np.testing.assert_array_equal(actual, expected, err_msg=f"{size=}")


def _dynamic_slice_both(x, starts, sizes):
    soft = jax.vmap(
        lambda s: softeqx.dynamic_slice(
            x,
            [jax.nn.one_hot(s[a], n, dtype=x.dtype) for a, n in enumerate(x.shape)],
            sizes,
        )
    )(starts)
    hard = jax.vmap(lambda s: jax.lax.dynamic_slice(x, tuple(s), sizes))(starts)
    return soft, hard


@pytest.mark.parametrize(("shape", "sizes"), DYNAMIC_SLICE_CASES)
def test_dynamic_slice_with_one_hot_equals_lax_for_every_start(shape, sizes):
    starts = np.array(list(itertools.product(*(range(n) for n in shape))))
    actual, expected = _jit(_dynamic_slice_both, sizes=sizes)(_normal(0, shape), starts)
    assert actual.shape == expected.shape == (len(starts), *sizes)
    np.testing.assert_array_equal(actual, expected)


def test_dynamic_slice_in_dim_clamps_the_start_instead_of_wrapping():
    x = np.arange(6, dtype=np.float32)
    late_start = _one_hot(5, 6)
    half_first_half_last = 0.5 * (_one_hot(0, 6) + _one_hot(5, 6))
    slice3 = _jit(softeqx.dynamic_slice_in_dim, slice_size=3)
    # lax clamps the start 5 to 6 - 3 = 3; wrapping around would give [5, 0, 1].
    np.testing.assert_array_equal(slice3(x, late_start), [3.0, 4.0, 5.0])
    np.testing.assert_array_equal(
        jax.lax.dynamic_slice_in_dim(x, 5, 3), [3.0, 4.0, 5.0]
    )
    assert_allclose(slice3(x, half_first_half_last), [1.5, 2.5, 3.5])


# --- soft SoftIndices: expectations of the hard selection ----------------------


def test_take_along_axis_is_the_expected_value_under_the_soft_index():
    x = _normal(0, (2, 5, 3))
    p = _simplex(1, (2, 4, 3, 5))
    expected = np.einsum("bic,bjci->bjc", x, p)
    assert_allclose(_jit(softeqx.take_along_axis, axis=1)(x, p), expected)


def test_take_is_the_expected_value_under_the_soft_index():
    x = _normal(0, (2, 5, 3))
    p = _simplex(1, (4, 5))
    expected = np.einsum("bic,ji->bjc", x, p)
    assert_allclose(_jit(softeqx.take, axis=1)(x, p), expected)


def test_choose_is_the_expected_value_under_the_soft_index():
    choices = _normal(0, (5, 3, 4))
    p = _simplex(1, (3, 4, 5))
    expected = np.einsum("ijk,jki->jk", choices, p)
    assert_allclose(_jit(softeqx.choose)(p, choices), expected)


def test_dynamic_index_in_dim_is_the_expected_value_under_the_soft_index():
    x = _normal(0, (2, 5, 3))
    p = _simplex(1, (5,))
    expected = np.einsum("bic,i->bc", x, p)
    actual = _jit(softeqx.dynamic_index_in_dim, axis=1, keepdims=False)(x, p)
    assert_allclose(actual, expected)


def test_dynamic_slice_in_dim_is_the_expected_clamped_slice():
    x = _normal(0, (2, 6, 3))
    p = _simplex(1, (6,))
    expected = sum(p[s] * _clamped_slice(x, s, 4, axis=1) for s in range(6))
    actual = _jit(softeqx.dynamic_slice_in_dim, slice_size=4, axis=1)(x, p)
    assert_allclose(actual, expected)


def test_dynamic_slice_is_the_expected_clamped_window():
    x = _normal(0, (4, 5))
    p, q = _simplex(1, (4,)), _simplex(2, (5,))
    expected = sum(
        p[s] * q[t] * _clamped_slice(_clamped_slice(x, s, 3, 0), t, 2, 1)
        for s in range(4)
        for t in range(5)
    )
    actual = _jit(softeqx.dynamic_slice, slice_sizes=(3, 2))(x, [p, q])
    assert_allclose(actual, expected)


# --- shapes (spec 004: the probability axis of a SoftIndex is last) ----------


def _shape(fn, *args, **kwargs):
    arrays = [jax.ShapeDtypeStruct(a, jnp.float32) for a in args]
    return jax.eval_shape(functools.partial(fn, **kwargs), *arrays).shape


def test_take_along_axis_output_shape_replaces_n_by_k():
    # x (..., n, ...) with soft_index (..., k, ..., [n]) -> (..., k, ...).
    assert _shape(softeqx.take_along_axis, (3, 4), (3, 2, 4), axis=1) == (3, 2)
    assert _shape(softeqx.take_along_axis, (3, 4), (5, 4, 3), axis=0) == (5, 4)
    assert _shape(softeqx.take_along_axis, (2, 5, 3), (2, 4, 3, 5), axis=1) == (
        2,
        4,
        3,
    )
    assert _shape(softeqx.take_along_axis, (3, 4), (6, 12), axis=None) == (6,)
    # The keepdims soft argmin of spec 004: (2, 1, [3]) on x of shape (2, 3).
    assert _shape(softeqx.take_along_axis, (2, 3), (2, 1, 3), axis=1) == (2, 1)


def test_take_output_shape_replaces_n_by_k():
    assert _shape(softeqx.take, (3, 4, 5), (2, 4), axis=1) == (3, 2, 5)
    assert _shape(softeqx.take, (3, 4, 5), (2, 5), axis=-1) == (3, 4, 2)
    assert _shape(softeqx.take, (3, 4), (7, 12), axis=None) == (7,)


def test_choose_output_shape_is_the_broadcast_of_index_and_choices():
    assert _shape(softeqx.choose, (3, 4, 5), (5, 3, 4)) == (3, 4)
    assert _shape(softeqx.choose, (4, 5), (5, 3, 4)) == (3, 4)
    assert _shape(softeqx.choose, (3, 1, 5), (5, 4)) == (3, 4)


def test_dynamic_index_in_dim_output_shape_follows_keepdims():
    args = ((3, 5, 2), (5,))
    assert _shape(softeqx.dynamic_index_in_dim, *args, axis=1) == (3, 1, 2)
    assert _shape(softeqx.dynamic_index_in_dim, *args, axis=1, keepdims=False) == (
        3,
        2,
    )
    assert _shape(softeqx.dynamic_index_in_dim, (5, 3), (5,)) == (1, 3)


def test_dynamic_slice_output_shapes_are_the_slice_sizes():
    slice_in_dim = softeqx.dynamic_slice_in_dim
    assert _shape(slice_in_dim, (3, 6, 2), (6,), slice_size=4, axis=1) == (3, 4, 2)
    assert _shape(slice_in_dim, (3, 6, 2), (2,), slice_size=1, axis=-1) == (3, 6, 1)
    assert _shape(slice_in_dim, (6, 2), (6,), slice_size=6) == (6, 2)
    x = jax.ShapeDtypeStruct((4, 5, 3), jnp.float32)
    starts = [jax.ShapeDtypeStruct((n,), jnp.float32) for n in (4, 5, 3)]
    out = jax.eval_shape(lambda x, s: softeqx.dynamic_slice(x, s, (2, 5, 1)), x, starts)
    assert out.shape == (2, 5, 1)


# --- empty inputs ----------------------------------------------------------------


def _every_selection_of_empty_batch(x, p_batch, p_rows, p, c):
    return {
        "where": softeqx.where(c, x[:, 0], x[:, 1]),
        "take_along_axis": softeqx.take_along_axis(x, p_batch, axis=1),
        "take": softeqx.take(x, p_rows, axis=1),
        "choose": softeqx.choose(p_batch[:, 0], x.T),
        "dynamic_index_in_dim": softeqx.dynamic_index_in_dim(x, p, axis=1),
        "dynamic_slice_in_dim": softeqx.dynamic_slice_in_dim(x, p, 2, axis=1),
    }


def test_selection_over_an_empty_batch_is_empty():
    results = _jit(_every_selection_of_empty_batch)(
        np.zeros((0, 3), np.float32),
        _simplex(0, (0, 2, 3)),
        _simplex(1, (2, 3)),
        _simplex(2, (3,)),
        np.zeros((0,), np.float32),
    )
    expected_shapes = {
        "where": (0,),
        "take_along_axis": (0, 2),
        "take": (0, 2),
        "choose": (0,),
        "dynamic_index_in_dim": (0, 1),
        "dynamic_slice_in_dim": (0, 2),
    }
    assert {name: out.shape for name, out in results.items()} == expected_shapes


def test_slicing_an_empty_axis_raises_a_clear_error():
    with pytest.raises(ValueError, match="slice_size"):
        softeqx.dynamic_slice_in_dim(jnp.zeros((0,)), jnp.zeros((0,)), 1)


# --- derivatives ---------------------------------------------------------------


def _every_selection(x, p):
    """Every selection op on `x` (2, 5, 3) with SoftIndices cut from `p` (4, 5)."""
    outputs = [
        softeqx.take_along_axis(x, p[None, :, None], axis=1),
        softeqx.take(x, p, axis=1),
        softeqx.choose(p[:2, None, :], jnp.moveaxis(x, 1, 0)),
        softeqx.dynamic_index_in_dim(x, p[0], axis=1),
        softeqx.dynamic_slice_in_dim(x, p[1], 3, axis=1),
        softeqx.dynamic_slice(x, [p[2, :2], p[3], p[0, :3]], (1, 2, 2)),
        softeqx.where(p[0, 0], x[0], x[1]),
    ]
    return jnp.concatenate([out.reshape(-1) for out in outputs])


def test_derivatives_in_x_and_soft_index_match_finite_differences(x64):
    # Selection is bilinear in (x, soft index): a joint direction checks both
    # partial derivatives, and jacfwd/jacrev compare both Jacobian blocks.
    x = _normal(0, (2, 5, 3), np.float64).reshape(-1)
    p = _simplex(1, (4, 5), np.float64).reshape(-1)
    f = jax.jit(
        lambda v: _every_selection(v[:30].reshape(2, 5, 3), v[30:].reshape(4, 5))
    )
    check_jvp_fd(f, jnp.asarray(np.concatenate([x, p])), jax.random.key(0))


def test_gradient_in_the_soft_index_is_the_selected_values():
    x = _normal(0, (6,))
    p = _simplex(1, (6,))
    grad_p = jax.jit(
        jax.grad(lambda p: softeqx.dynamic_index_in_dim(x, p, keepdims=False))
    )(p)
    assert_allclose(grad_p, x)


# --- transformations and dtypes ------------------------------------------------


def _transformed(xs, p):
    fn = _every_selection
    grad_x = jax.grad(lambda x: jnp.sum(fn(x, p)))
    grad_p = jax.grad(lambda p, x: jnp.sum(fn(x, p)))
    return (
        fn(xs[0], p),
        jax.vmap(fn, in_axes=(0, None))(xs, p),
        grad_x(xs[0]),
        jax.vmap(grad_x)(xs),
        grad_p(p, xs[0]),
    )


def test_jit_vmap_and_grad_are_consistent():
    xs = _normal(0, (3, 2, 5, 3))
    p = _simplex(1, (4, 5))
    value, values, grad, grads, grad_p = jax.jit(_transformed)(xs, p)
    for i, x in enumerate(xs):
        assert_allclose(values[i], _jit(_every_selection)(x, p))
    assert_allclose(values[0], value)
    assert np.all(np.isfinite(grads)) and np.all(np.isfinite(grad_p))
    assert_allclose(grads[0], grad)


def test_output_dtype_follows_input_dtype(float_dtype):
    x = _normal(0, (2, 5, 3))
    p = _simplex(1, (4, 5))
    fn = _jit(_every_selection)
    out = fn(x.astype(float_dtype), p.astype(float_dtype))
    assert out.dtype == float_dtype
    assert_allclose(np.asarray(out, np.float32), fn(x, p), rtol=1e-2, atol=1e-2)


# --- bad inputs ----------------------------------------------------------------

# A SoftIndex of the wrong rank is caught by the shape annotations (jaxtyping's
# TypeCheckError, a TypeError) when those are checked, else by a ValueError.
WRONG_RANK = (ValueError, TypeError)

X_23 = jnp.zeros((2, 3))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (
            lambda: softeqx.take_along_axis(X_23, jnp.ones((2, 2, 4)), axis=1),
            "soft_index",
        ),
        (
            lambda: softeqx.take_along_axis(X_23, jnp.ones((5, 2, 3)), axis=0),
            "soft_index",
        ),
        (lambda: softeqx.take(X_23, jnp.ones((2, 4)), axis=1), "soft_index"),
        (lambda: softeqx.take(X_23, jnp.ones((2, 5)), axis=None), "soft_index"),
        (lambda: softeqx.dynamic_index_in_dim(X_23, jnp.ones((4,)), 1), "soft_index"),
        (lambda: softeqx.dynamic_index_in_dim(X_23, jnp.ones((3,)), 0), "soft_index"),
        (
            lambda: softeqx.dynamic_slice_in_dim(X_23, jnp.ones((4,)), 2, 1),
            "soft_start_index",
        ),
        (
            lambda: softeqx.dynamic_slice(
                X_23, [jnp.ones((2,)), jnp.ones((4,))], (1, 1)
            ),
            "soft_start_index",
        ),
    ],
)
def test_soft_index_whose_last_axis_is_not_n_raises_value_error(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_choose_rejects_a_soft_index_that_does_not_match_the_choices():
    # The annotations tie `n` of `soft_index` to `choices`: either check names them.
    with pytest.raises((ValueError, TypeError), match="soft_index"):
        softeqx.choose(jnp.ones((3, 4)), jnp.ones((3, 3)))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: softeqx.take_along_axis(X_23, jnp.ones((2, 3)), axis=1), "soft_index"),
        (lambda: softeqx.take_along_axis(X_23, jnp.ones(()), axis=1), "soft_index"),
        (lambda: softeqx.take(X_23, jnp.ones((2, 2, 3)), axis=1), "soft_index"),
        (lambda: softeqx.take(X_23, jnp.ones((3,)), axis=1), "soft_index"),
        (lambda: softeqx.dynamic_index_in_dim(X_23, jnp.ones((2, 3)), 1), "soft_index"),
        (
            lambda: softeqx.dynamic_slice_in_dim(X_23, jnp.ones((1, 3)), 2, 1),
            "soft_start_index",
        ),
    ],
)
def test_soft_index_of_wrong_rank_raises_naming_it(call, name):
    with pytest.raises(WRONG_RANK, match=name):
        call()


@pytest.mark.parametrize("size", [0, -1, 4])
def test_slice_size_outside_one_to_n_raises_value_error(size):
    with pytest.raises(ValueError, match="slice_size"):
        softeqx.dynamic_slice_in_dim(X_23, jnp.ones((3,)) / 3, size, axis=1)
    with pytest.raises(ValueError, match="slice_size"):
        softeqx.dynamic_slice(X_23, [jnp.ones((2,)) / 2, jnp.ones((3,)) / 3], (1, size))


@pytest.mark.parametrize("axis", [2, -3])
@pytest.mark.parametrize(
    "call",
    [
        lambda axis: softeqx.take_along_axis(X_23, jnp.ones((2, 3, 3)), axis=axis),
        lambda axis: softeqx.take(X_23, jnp.ones((2, 3)), axis=axis),
        lambda axis: softeqx.dynamic_index_in_dim(X_23, jnp.ones((3,)), axis=axis),
        lambda axis: softeqx.dynamic_slice_in_dim(X_23, jnp.ones((3,)), 1, axis=axis),
    ],
    ids=["take_along_axis", "take", "dynamic_index_in_dim", "dynamic_slice_in_dim"],
)
def test_axis_out_of_range_raises_value_error_naming_axis(call, axis):
    with pytest.raises(ValueError, match="axis"):
        call(axis)


def test_dynamic_slice_needs_one_start_and_one_size_per_axis():
    p2, p3 = jnp.ones((2,)) / 2, jnp.ones((3,)) / 3
    with pytest.raises(ValueError, match="soft_start_indices"):
        softeqx.dynamic_slice(X_23, [p2], (1,))
    with pytest.raises(ValueError, match="soft_start_indices"):
        softeqx.dynamic_slice(X_23, [p2, p3, p3], (1, 1, 1))
    with pytest.raises(ValueError, match="slice_sizes"):
        softeqx.dynamic_slice(X_23, [p2, p3], (1,))


# --- properties ----------------------------------------------------------------

_take_rows = jax.jit(lambda x, p: softeqx.take_along_axis(x, p, axis=1))


@given(
    x=hnp.arrays(np.float32, (3, 5), elements=st.floats(-100, 100, width=32)),
    weights=hnp.arrays(np.float32, (3, 2, 5), elements=st.floats(0, 1, width=32)),
)
def test_take_along_axis_lies_between_min_and_max_along_the_axis(x, weights):
    weights = weights + np.float32(1e-3)
    p = weights / weights.sum(-1, keepdims=True)
    out = np.asarray(_take_rows(x, p))
    low, high = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    slack = 1e-5 * (1 + np.abs(x).max(axis=1, keepdims=True))
    assert np.all(out >= low - slack)
    assert np.all(out <= high + slack)
