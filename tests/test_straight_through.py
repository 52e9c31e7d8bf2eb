"""Tests of straight-through estimation: `st`, `grad_replace` and the `*_st` registry.

A straight-through op returns the hard op's value bit for bit, and the
derivatives of the soft op. The registry must hold one variant for every public
op with a `"hard"` mode, exported at top level with its base op's signature.
"""

import functools
import inspect
import typing

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import softeqx
from helpers import SOFT_MODES, assert_allclose, assert_golden
from softeqx._ops.straight_through import STRAIGHT_THROUGH


X = np.array([-0.2, -1.0, 0.3, 1.0], np.float32)
Y = np.array([0.2, -0.5, 0.5, -1.0], np.float32)

# Required arguments that are not differentiated: the bounds of `clip`, `k` of
# `top_k`. Quantile levels `q`/`p` are given as arrays (see `_array_arguments`).
STATIC_ARGUMENTS = {"a": -0.5, "b": 0.5, "k": 2}
LEVELS = {"q": np.float32(0.3), "p": np.float32(30.0)}

# Inputs on a grid of quarters (so that ties, half-integers and zeros occur),
# with negative zeros and small negatives whose hard results keep a sign.
GRID = np.concatenate(
    [
        np.arange(-2.0, 2.25, 0.25),
        [-0.0, -0.1, -0.4, 0.1, 0.45, -1e-3, 0.5, -0.5, 1.5, -2.5],
    ]
).astype(np.float32)


def _base(name):
    return getattr(softeqx, name.removesuffix("_st"))


def _required(fn):
    return [
        name
        for name, param in inspect.signature(fn).parameters.items()
        if param.default is inspect.Parameter.empty
    ]


def _array_arguments(fn, batch=2):
    """A batch of grid-valued arrays for the required array arguments of `fn`."""
    rng = np.random.default_rng(0)
    arrays = {}
    for i, name in enumerate(_required(fn)):
        if name in LEVELS:
            arrays[name] = np.full((batch,), LEVELS[name])
        elif name not in STATIC_ARGUMENTS:
            rows = [
                GRID if i == 0 and b == 0 else rng.permutation(GRID)
                for b in range(batch)
            ]
            arrays[name] = np.stack(rows)
    return arrays


def _static_arguments(fn):
    return {
        name: STATIC_ARGUMENTS[name]
        for name in _required(fn)
        if name in STATIC_ARGUMENTS
    }


def _weighted_sum(tree):
    """A fixed generic linear functional of every leaf (a plain sum would see
    nothing of a SoftIndex, whose rows always sum to 1)."""
    total = 0.0
    for leaf in jax.tree.leaves(tree):
        weights = jnp.cos(jnp.arange(leaf.size, dtype=leaf.dtype)).reshape(leaf.shape)
        total = total + jnp.sum(leaf * weights)
    return total


@functools.cache
def _straight_through_and_soft(name):
    """Compiled and batched: hard value, st value, st and soft gradients."""
    variant, base = STRAIGHT_THROUGH[name], _base(name)
    static = _static_arguments(base)

    def one(arrays):
        st_loss = lambda a: _weighted_sum(variant(**a, **static))  # noqa: E731
        soft_loss = lambda a: _weighted_sum(base(**a, **static))  # noqa: E731
        return {
            "hard": base(**arrays, **static, mode="hard"),
            "st": variant(**arrays, **static),
            "st_grad": jax.grad(st_loss)(arrays),
            "soft_grad": jax.grad(soft_loss)(arrays),
        }

    return jax.jit(jax.vmap(one))


def _results(name):
    return _straight_through_and_soft(name)(_array_arguments(_base(name)))


def _accepts_hard_mode(fn):
    """Whether the `mode` annotation of `fn` allows `"hard"` (a Literal of modes)."""
    annotation = typing.get_type_hints(fn).get("mode")
    pending, literals = [annotation], set()
    while pending:
        hint = pending.pop()
        if typing.get_origin(hint) is typing.Literal:
            literals.update(typing.get_args(hint))
        else:
            pending.extend(typing.get_args(hint))
    # A mode that is not a Literal (a plain `str`) may be "hard" as well.
    return not literals or "hard" in literals


def _public_functions():
    names = getattr(softeqx, "__all__", None) or [
        name for name in dir(softeqx) if not name.startswith("_")
    ]
    return {
        name: getattr(softeqx, name)
        for name in names
        if inspect.isroutine(getattr(softeqx, name))
    }


# --- the registry --------------------------------------------------------------


def test_registry_is_not_empty_and_holds_only_st_names():
    assert STRAIGHT_THROUGH
    assert all(name.endswith("_st") for name in STRAIGHT_THROUGH)


@pytest.mark.parametrize("name", list(STRAIGHT_THROUGH))
def test_variant_is_exported_at_top_level(name):
    assert getattr(softeqx, name, None) is STRAIGHT_THROUGH[name]


def test_every_public_op_with_a_hard_mode_has_an_st_variant():
    # Every public function with a `mode` that admits "hard" (`sigmoidal` and
    # `softrelu` have no hard mode, so no straight-through variant).
    candidates = [
        name
        for name, fn in _public_functions().items()
        if not name.endswith("_st")
        and "mode" in inspect.signature(fn).parameters
        and _accepts_hard_mode(fn)
    ]
    assert {"relu", "greater", "heaviside"} <= set(candidates)
    missing = sorted(
        name for name in candidates if f"{name}_st" not in STRAIGHT_THROUGH
    )
    assert not missing, f"ops without a `*_st` variant in the registry: {missing}"


@pytest.mark.parametrize("name", list(STRAIGHT_THROUGH))
def test_variant_has_the_signature_of_its_base_op(name):
    variant, base = STRAIGHT_THROUGH[name], _base(name)
    assert inspect.signature(variant) == inspect.signature(base)


@pytest.mark.parametrize("name", list(STRAIGHT_THROUGH))
def test_variant_is_named_and_documented_after_its_base_op(name):
    variant, base = STRAIGHT_THROUGH[name], _base(name)
    assert variant.__name__ == f"{base.__name__}_st" == name
    assert variant.__doc__ and variant.__doc__.strip()
    assert base.__name__ in variant.__doc__
    assert "straight-through" in variant.__doc__.lower()


# --- forward value and gradient of every variant, under jit and vmap ---------


@pytest.mark.parametrize("name", list(STRAIGHT_THROUGH))
def test_variant_has_the_hard_value_and_the_soft_gradient(name):
    results = _results(name)
    for hard, st in zip(
        jax.tree.leaves(results["hard"]), jax.tree.leaves(results["st"]), strict=True
    ):
        assert st.dtype == hard.dtype
        np.testing.assert_array_equal(st, hard)
    st_grad, soft_grad = results["st_grad"], results["soft_grad"]
    assert st_grad.keys() == soft_grad.keys()
    for argument in st_grad:
        assert np.all(np.isfinite(st_grad[argument])), argument
        assert_allclose(st_grad[argument], soft_grad[argument], err_msg=argument)


@pytest.mark.parametrize("name", list(STRAIGHT_THROUGH))
def test_variant_keeps_the_sign_of_zero_of_the_hard_value(name):
    results = _results(name)
    for hard, st in zip(
        jax.tree.leaves(results["hard"]), jax.tree.leaves(results["st"]), strict=True
    ):
        np.testing.assert_array_equal(
            np.signbit(st), np.signbit(hard), err_msg=f"inputs {GRID}"
        )


@pytest.mark.parametrize("name", ["relu_st", "greater_st", "clip_st"])
def test_float64_inputs_give_float64_values_and_gradients(name, x64):
    variant, static = STRAIGHT_THROUGH[name], _static_arguments(_base(name))
    arrays = {
        k: v[0].astype(np.float64) for k, v in _array_arguments(_base(name)).items()
    }
    value, grad = jax.jit(
        lambda a: (
            variant(**a, **static),
            jax.grad(lambda a: _weighted_sum(variant(**a, **static)))(a),
        )
    )(arrays)
    assert value.dtype == jnp.float64
    assert all(g.dtype == jnp.float64 for g in grad.values())


# --- golden values (spec 003) and the ReLU example (spec 004) -----------------


def test_relu_st_and_greater_st_match_softtorch_golden():
    assert_golden(softeqx.relu_st(jnp.asarray(X)), [0.0, 0.0, 0.3, 1.0])
    assert_golden(
        softeqx.greater_st(jnp.asarray(X), jnp.asarray(Y)), [0.0, 0.0, 0.0, 1.0]
    )


def test_relu_st_gradient_is_the_soft_relu_gradient():
    grad = jax.jit(jax.vmap(jax.grad(softeqx.relu_st)))(X)
    # The gradient of softplus(x / s) * s is sigmoid(x / s).
    assert_allclose(grad, 1 / (1 + np.exp(-X / 0.1)))
    assert np.all(grad > 0)


@softeqx.st
def _relu_product(x, y, mode="smooth", softness=0.1):
    return softeqx.relu(x, softness=softness, mode=mode) * softeqx.relu(
        y, softness=softness, mode=mode
    )


def _naive_relu_product(x, y, mode="smooth", softness=0.1):
    return softeqx.relu_st(x, softness=softness, mode=mode) * softeqx.relu_st(
        y, softness=softness, mode=mode
    )


def _soft_relu_product(x, y):
    return softeqx.relu(x) * softeqx.relu(y)


def _relu_products(x, y):
    results = {}
    for name, fn in (
        ("st", _relu_product),
        ("naive", _naive_relu_product),
        ("soft", _soft_relu_product),
    ):
        results[name] = jax.value_and_grad(fn, argnums=(0, 1))(x, y)
    results["hard"] = jax.nn.relu(x) * jax.nn.relu(y)
    return results


def test_st_of_a_composition_has_the_hard_value_and_the_soft_gradient():
    # Third quadrant: both ReLUs are 0, so the naive product has no gradient.
    results = jax.jit(_relu_products)(-0.5, -0.3)
    value, grad = results["st"]
    assert value == results["hard"] == 0.0
    np.testing.assert_array_equal(results["naive"][1], [0.0, 0.0])
    assert np.all(np.asarray(grad) != 0)
    assert_allclose(grad, results["soft"][1])
    # First quadrant: the value is the hard product.
    value, grad = jax.jit(_relu_products)(0.5, 2.0)["st"]
    assert_allclose(value, 1.0)


def test_st_keeps_the_signature_and_name_of_the_function():
    assert _relu_product.__name__ == "_relu_product"
    assert inspect.signature(_relu_product) == inspect.signature(
        _relu_product.__wrapped__
    )


def _heaviside_gradients(x):
    grad_st, grad_soft = jax.grad(softeqx.heaviside_st), jax.grad(softeqx.heaviside)
    results = {"hard_mode": grad_st(x, mode="hard")}
    for mode in SOFT_MODES:
        results[mode] = (
            grad_st(x, 0.2, mode),
            grad_st(x, softness=0.2, mode=mode),
            grad_soft(x, 0.2, mode),
        )
    return results


def test_st_passes_positional_and_keyword_modes_through():
    results = jax.jit(_heaviside_gradients)(np.float32(-0.3))
    for mode in SOFT_MODES:
        positional, keyword, soft = results[mode]
        assert soft > 0, mode
        assert_allclose(positional, soft, err_msg=mode)
        assert_allclose(keyword, soft, err_msg=mode)
    # With mode="hard" the gradient is the hard op's: zero for a step.
    assert results["hard_mode"] == 0.0


@softeqx.st
def _relu_and_sign(x, mode="smooth"):
    return {"relu": softeqx.relu(x, mode=mode), "sign": softeqx.sign(x, mode=mode)}


def test_st_combines_every_leaf_of_a_pytree_output():
    values, grad, soft_grad = jax.jit(
        lambda x: (
            _relu_and_sign(x),
            jax.grad(lambda x: _relu_and_sign(x)["sign"].sum())(x),
            jax.grad(lambda x: softeqx.sign(x).sum())(x),
        )
    )(X)
    np.testing.assert_array_equal(values["relu"], np.maximum(X, 0))
    np.testing.assert_array_equal(values["sign"], np.sign(X))
    assert_allclose(grad, soft_grad)
    assert np.all(grad > 0)


def test_st_of_a_function_without_mode_raises_type_error():
    def no_mode(x, softness=0.1):
        return x

    with pytest.raises(TypeError, match="mode"):
        softeqx.st(no_mode)


# --- grad_replace ---------------------------------------------------------------


@softeqx.grad_replace
def _threshold(x, t, forward=True):
    if forward:
        return (x > t).astype(x.dtype)
    return jax.nn.sigmoid((x - t) / 0.1)


def test_grad_replace_takes_value_from_forward_and_gradient_from_backward():
    x = jnp.asarray(X)
    value, grad = jax.jit(jax.vmap(jax.value_and_grad(_threshold), in_axes=(0, None)))(
        x, 0.25
    )
    np.testing.assert_array_equal(value, (X > 0.25).astype(np.float32))
    sigmoid = 1 / (1 + np.exp(-(X - 0.25) / 0.1))
    assert_allclose(grad, sigmoid * (1 - sigmoid) / 0.1)


def test_grad_replace_ignores_a_forward_argument_from_the_caller():
    x = jnp.asarray(X)
    np.testing.assert_array_equal(
        _threshold(x, 0.25, forward=False), (X > 0.25).astype(np.float32)
    )


def test_grad_replace_keeps_the_name_of_the_function():
    assert _threshold.__name__ == "_threshold"
