"""Tests of the regularised simplex projections, `softeqx._projections.simplex`.

Every mode is compared with an independent NumPy reference (softmax, sparsemax,
and a bisection for the p-norm projections), and its Jacobian is checked five
ways in float64, as Optax checks its simplex projection: against the closed
form, `jacfwd` against `jacrev`, JVP against central differences, VJP against
`v @ J` and JVP against `J @ v`.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import SOFT_MODES, assert_allclose, central_difference, check_jvp_fd
from softeqx._projections.simplex import POWERS, project


PIECEWISE_MODES = [mode for mode in SOFT_MODES if mode != "smooth"]
N = 6
# Tiny inputs: compile quickly rather than well.
FAST_COMPILE = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}


@functools.cache
def projector(mode: str):
    """`project(., mode)`, jitted once per mode (eager while-loops recompile)."""
    return jax.jit(lambda theta: project(theta, mode), compiler_options=FAST_COMPILE)


@functools.cache
def projection(mode: str):
    """`project(., mode)` for transformations (`compiler_options` must be outermost)."""
    return jax.jit(lambda theta: project(theta, mode))


@functools.cache
def jacobians(mode: str):
    """`(jacfwd, jacrev)` of the projection, compiled once per mode."""
    f = functools.partial(project, mode=mode)
    return jax.jit(
        lambda theta: (jax.jacfwd(f)(theta), jax.jacrev(f)(theta)),
        compiler_options=FAST_COMPILE,
    )


def power(mode: str) -> int:
    """The exponent q of `p = [theta - lam]_+^q` (1 for softmax, by convention)."""
    return POWERS.get(mode, 1)


def reference(theta: np.ndarray, mode: str) -> np.ndarray:
    """The projection of each row of `theta`, in float64 NumPy."""
    theta = np.asarray(theta, np.float64)
    if mode == "smooth":
        e = np.exp(theta - theta.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    q = power(mode)
    flat = theta.reshape(-1, theta.shape[-1])
    out = np.empty_like(flat)
    for r, row in enumerate(flat):
        # f(lam) = sum [row - lam]_+^q - 1 decreases from >= 0 at max - 1 to -1.
        lo, hi = row.max() - 1.0, row.max()
        for _ in range(200):
            mid = (lo + hi) / 2
            if np.sum(np.maximum(row - mid, 0) ** q) > 1:
                lo = mid
            else:
                hi = mid
        out[r] = np.maximum(row - (lo + hi) / 2, 0) ** q
    return (out / out.sum(-1, keepdims=True)).reshape(theta.shape)


def sparsemax(theta: np.ndarray) -> np.ndarray:
    """Martins & Astudillo's sort-based sparsemax of a vector."""
    z = np.sort(theta)[::-1]
    cumulative = np.cumsum(z)
    k = np.arange(1, z.size + 1)
    support = k[1 + k * z > cumulative].max()
    tau = (cumulative[support - 1] - 1) / support
    return np.maximum(theta - tau, 0)


def closed_form_jacobian(theta: np.ndarray, mode: str) -> np.ndarray:
    """The Jacobian of the projection at `theta` (a vector), from `p` alone.

    Softmax: `diag(p) - p p^T`. Sparsemax: `I - 1 1^T / |S|` on the support `S`,
    zero elsewhere. p-norm (q = 2, 3): with `w = q p^((q-1)/q)`,
    `diag(w) - w w^T / sum(w)` (implicit differentiation of the threshold).
    """
    p = reference(theta, mode)
    if mode == "smooth":
        return np.diag(p) - np.outer(p, p)
    if mode == "c0":
        support = (p > 0).astype(np.float64)
        return np.diag(support) - np.outer(support, support) / support.sum()
    q = power(mode)
    w = q * p ** ((q - 1) / q)
    return np.diag(w) - np.outer(w, w) / w.sum()


def threshold(theta: np.ndarray, mode: str) -> float:
    """The `lam` of a p-norm projection: `theta_i - p_i^(1/q)` on the support."""
    p = reference(theta, mode)
    support = p > 0
    return float(np.mean(theta[support] - p[support] ** (1 / power(mode))))


def generic_theta(key, mode: str) -> jax.Array:
    """Float64 scores away from every kink of `mode`'s projection.

    For the piecewise modes the support has between 2 and N - 1 elements and no
    score lies within 1e-3 of the threshold, so finite differences see one piece.
    """
    for _ in range(100):
        key, sub = jax.random.split(key)
        theta = 1.5 * jax.random.normal(sub, (N,), jnp.float64)
        if mode == "smooth":
            return theta
        values = np.asarray(theta)
        support = np.sum(reference(values, mode) > 0)
        distance = np.min(np.abs(values - threshold(values, mode)))
        if 2 <= support < N and distance > 1e-3:
            return theta
    raise AssertionError("no generic scores found")


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_matches_reference(mode, getkey):
    theta = 2.0 * jax.random.normal(getkey(), (3, N))
    assert_allclose(projector(mode)(theta), reference(np.asarray(theta), mode))


def test_smooth_is_softmax(getkey):
    theta = jax.random.normal(getkey(), (3, N))
    assert_allclose(projector("smooth")(theta), jax.nn.softmax(theta, axis=-1))


def test_c0_is_sparsemax(getkey, x64):
    theta = 2.0 * jax.random.normal(getkey(), (3, N), jnp.float64)
    expected = np.stack([sparsemax(row) for row in np.asarray(theta)])
    assert_allclose(projector("c0")(theta), expected)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_is_a_distribution(mode, getkey):
    theta = 3.0 * jax.random.normal(getkey(), (2, 3, N))
    p = projector(mode)(theta)
    assert p.shape == theta.shape
    assert p.dtype == jnp.float32
    assert np.all(np.asarray(p) >= 0)
    assert_allclose(p.sum(-1), np.ones((2, 3)))


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_shift_invariant_and_order_preserving(mode, getkey):
    theta = 2.0 * jax.random.normal(getkey(), (N,))
    p = projector(mode)(theta)
    assert_allclose(projector(mode)(theta + 3.25), p, atol=1e-6)
    order = np.argsort(np.asarray(theta))
    assert np.all(np.diff(np.asarray(p)[order]) >= 0)


@pytest.mark.parametrize("mode", PIECEWISE_MODES)
def test_piecewise_modes_are_sparse(mode):
    theta = jnp.array([0.0, -0.1, -1.5, -5.0, -30.0, -1e3])
    p = np.asarray(projector(mode)(theta))
    np.testing.assert_array_equal(p[2:], 0.0)
    assert np.all(p[:2] > 0)
    assert_allclose(p.sum(), 1.0)


def test_smooth_is_dense():
    p = np.asarray(projector("smooth")(jnp.array([0.0, -0.1, -1.5, -5.0, -10.0])))
    assert np.all(p > 0)


@pytest.mark.parametrize("mode", SOFT_MODES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huge_spread_is_finite(mode, dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    theta = jnp.array([0.0, -1e7, 5e6, 1e-3, -3e6, 5e6 - 0.5], dtype)
    p, tangent = jax.jvp(
        projection(mode), (theta,), (jnp.ones_like(theta).at[2].set(-2.0),)
    )
    assert p.dtype == jnp.dtype(dtype)
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(tangent))
    assert_allclose(p.sum(), 1.0)
    assert float(p[2]) > float(p[5]) > 0
    np.testing.assert_array_equal(np.asarray(p)[[0, 1, 3, 4]], 0.0)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_single_element(mode):
    p, tangent = jax.jvp(projection(mode), (jnp.array([-4.0]),), (jnp.array([1.0]),))
    np.testing.assert_array_equal(p, [1.0])
    np.testing.assert_array_equal(tangent, [0.0])


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_ties_share_mass(mode):
    p = projector(mode)(jnp.array([1.0, 1.0, 1.0, -0.5]))
    assert_allclose(p[:3], np.full(3, p[0]))
    assert float(p[0]) > float(p[3])


# ---------------------------------------------------------------- derivatives


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_jacobian_closed_form(mode, getkey, x64):
    theta = generic_theta(getkey(), mode)
    expected = closed_form_jacobian(np.asarray(theta), mode)
    forward, reverse = jacobians(mode)(theta)
    np.testing.assert_allclose(forward, expected, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(reverse, expected, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_jacobian_rows_and_columns_sum_to_zero(mode, getkey, x64):
    # The output stays on the simplex, and adding a constant changes nothing.
    theta = generic_theta(getkey(), mode)
    jacobian = np.asarray(jacobians(mode)(theta)[0])
    np.testing.assert_allclose(jacobian.sum(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(jacobian.sum(1), 0.0, atol=1e-12)
    np.testing.assert_allclose(jacobian, jacobian.T, atol=1e-12)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_jvp_vjp_against_finite_differences(mode, getkey, x64):
    # jacfwd vs jacrev, JVP vs central differences, VJP vs w @ J.
    theta = generic_theta(getkey(), mode)
    check_jvp_fd(projection(mode), theta, getkey())


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_jvp_is_jacobian_times_tangent(mode, getkey, x64):
    theta = generic_theta(getkey(), mode)
    v = jax.random.normal(getkey(), theta.shape, jnp.float64)
    _, tangent = jax.jvp(projection(mode), (theta,), (v,))
    jacobian = closed_form_jacobian(np.asarray(theta), mode)
    np.testing.assert_allclose(tangent, jacobian @ np.asarray(v), atol=1e-11)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_batched_jvp_against_finite_differences(mode, getkey, x64):
    theta = jnp.stack([generic_theta(getkey(), mode) for _ in range(3)])
    v = jax.random.normal(getkey(), theta.shape, jnp.float64)
    _, tangent = jax.jvp(projection(mode), (theta,), (v,))
    expected = central_difference(projection(mode), theta, v)
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_jit_and_vmap(mode, getkey):
    theta = 2.0 * jax.random.normal(getkey(), (3, N))
    eager = project(theta, mode)
    assert_allclose(jax.jit(project, static_argnums=1)(theta, mode), eager)
    assert_allclose(jax.vmap(lambda t: project(t, mode))(theta), eager)
