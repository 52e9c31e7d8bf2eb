"""Shared test helpers: tolerances per dtype, tree comparison, derivative checks."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from softeqx._checks import MODES, SIGMOIDAL_MODES


SOFT_MODES = SIGMOIDAL_MODES
ALL_MODES = MODES


def tolerance(dtype) -> dict:
    """`rtol`/`atol` for comparing computed values in `dtype`."""
    dtype = jnp.dtype(dtype)
    if dtype == jnp.float64:
        return {"rtol": 1e-10, "atol": 1e-12}
    if dtype == jnp.float32:
        return {"rtol": 2e-5, "atol": 2e-6}
    return {"rtol": 2e-2, "atol": 2e-3}


def assert_allclose(actual, expected, **kw) -> None:
    """`np.testing.assert_allclose` with the tolerance of `actual`'s dtype."""
    actual = jnp.asarray(actual)
    tol = tolerance(actual.dtype)
    tol.update(kw)
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), **tol)


def assert_tree_allclose(actual, expected, **kw) -> None:
    jax.tree_util.tree_map(lambda a, e: assert_allclose(a, e, **kw), actual, expected)


def assert_golden(actual, printed) -> None:
    """Equal to a printed value to its shown precision (4 decimals by default)."""
    np.testing.assert_allclose(np.asarray(actual), np.asarray(printed), atol=6e-5)


def central_difference(f, x, v, h: float = 1e-6):
    """`(f(x + h v) - f(x - h v)) / 2h`, a directional derivative."""
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


def check_jvp_fd(f, x, key, h: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7):
    """Check `jax.jvp` of `f` at `x` against central differences, in float64.

    Also checks `jax.vjp` against the Jacobian (`v @ J`), and `jacfwd` against
    `jacrev`. `x` must be a float64 array and `f` return an array. Each
    transformation is jitted: compiling once beats dispatching the solvers'
    loops op by op.
    """
    v = jax.random.normal(key, x.shape, dtype=x.dtype)
    _, tangent = jax.jit(lambda x, v: jax.jvp(f, (x,), (v,)))(x, v)
    np.testing.assert_allclose(
        tangent, central_difference(jax.jit(f), x, v, h), rtol=rtol, atol=atol
    )
    fwd = jax.jit(jax.jacfwd(f))(x)
    rev = jax.jit(jax.jacrev(f))(x)
    np.testing.assert_allclose(fwd, rev, rtol=1e-10, atol=1e-12)
    w_shape = jax.eval_shape(f, x).shape
    w = jax.random.normal(jax.random.fold_in(key, 1), w_shape, dtype=x.dtype)
    cotangent = jax.jit(lambda x, w: jax.vjp(f, x)[1](w)[0])(x, w)
    expected = jnp.tensordot(w, fwd, axes=w.ndim)
    np.testing.assert_allclose(cotangent, expected, rtol=1e-10, atol=1e-12)


def count_traces(f):
    """Wrap `f` in `jax.jit`, counting how many times it is traced."""
    counter = {"traces": 0}

    def counted(*args, **kwargs):
        counter["traces"] += 1
        return f(*args, **kwargs)

    return jax.jit(counted), counter


# Small arrays keep eagerly dispatched primitives compiled once per test module.
N_POINTS = 8


def grid(low, high, dtype=np.float32, n=N_POINTS):
    """`n` evenly spaced points in `[low, high]`."""
    return jnp.asarray(np.linspace(low, high, n, dtype=dtype))


def points_avoiding(key, kinks, low, high, margin, n=N_POINTS):
    """`n` random float64 points in `[low, high]`, at least `margin` from `kinks`."""
    candidates = np.asarray(jax.random.uniform(key, (256,), jnp.float64, low, high))
    distance = np.min(np.abs(candidates[:, None] - np.ravel(kinks)[None, :]), axis=1)
    points = candidates[distance > margin][:n]
    assert points.size == n
    return jnp.asarray(points)


def rounding(y, scale=1.0):
    """The decrease allowed between neighbouring values of a monotone op: four
    units in the last place of float32, relative to the result or to the size
    `scale` of its intermediates (about 5 softness for the soft ReLUs)."""
    eps = float(np.finfo(np.float32).eps)
    return 4 * eps * np.maximum(np.maximum(1, np.abs(y)), scale)


def slow_unless(default: bool):
    """No marks for a case of the default run, `pytest.mark.slow` otherwise."""
    return () if default else pytest.mark.slow


def slow_params(values, default) -> list:
    """`values` as pytest params, those not in `default` marked slow. A value
    that is a tuple fills several arguments of the parametrisation."""
    return [
        pytest.param(
            *(v if isinstance(v, tuple) else (v,)), marks=slow_unless(v in default)
        )
        for v in values
    ]


def _param_id(value) -> str:
    """A short test id: a dtype's name, a shape as `(3,8)`."""
    if isinstance(value, tuple):
        return str(value).replace(" ", "")
    return str(getattr(value, "__name__", value))


def covering_params(*axes) -> list:
    """The product of `axes` as pytest params (a combination fills several
    arguments), of which only a covering set runs by default: each combination
    of the other axes once, with the value of the last axis taken in turn (the
    `(i + j + ...)`-th, modulo its length, for the `i`-th, `j`-th, ... values
    of the others). With two or more other axes, none shorter than the last,
    each value of the last axis meets every value of every other axis in the
    default run. The rest of the product is marked slow."""
    *others, last = axes
    default = [
        (*combo, last[sum(index) % len(last)])
        for index, combo in zip(
            itertools.product(*(range(len(axis)) for axis in others)),
            itertools.product(*others),
            strict=True,
        )
    ]
    return [
        pytest.param(
            *combo,
            id="-".join(map(_param_id, combo)),
            marks=slow_unless(combo in default),
        )
        for combo in itertools.product(*axes)
    ]
