"""The segment tree of centred moments behind softsort's piecewise modes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from softeqx._methods import power_sums


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 33])
def test_range_power_sums_match_a_direct_sum(n, x64):
    """Every range (empty ones included) and every power up to 3, for sizes
    that are and are not powers of two."""
    rng = np.random.default_rng(n)
    y = np.sort(rng.normal(size=(2, n)), -1)
    c = rng.normal(size=(2, n, 2))
    lo, hi = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    lo, hi = np.broadcast_to(lo.ravel(), (2, lo.size)), hi.ravel()
    hi = np.broadcast_to(hi, (2, hi.size))
    x = rng.normal(size=lo.shape)

    @jax.jit
    def sums(y, c, x, lo, hi):
        return power_sums.query(power_sums.build(y, c, 3), x, lo, hi)

    got = sums(*map(jnp.asarray, (y, c, x, lo, hi)))
    want = np.zeros(got.shape)
    for b, i in np.ndindex(*lo.shape):
        for j in range(lo[b, i], hi[b, i]):
            want[b, i] += (y[b, j] - x[b, i]) ** np.arange(4)[:, None] * c[b, j]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_narrow_ranges_stay_accurate_in_float32():
    """Sums over a few close points far from the others: prefix sums of
    `y^3` would lose every digit here; the centred nodes keep float32's."""
    y = np.concatenate([np.linspace(-1e4, -1e3, 500), 1e3 + np.linspace(0, 1, 12)])
    lo, hi, x = 500, 512, 1e3 + 2.0

    @jax.jit
    def sums(y):
        tree = power_sums.build(y[None], jnp.ones((1, y.size, 1), y.dtype), 3)
        ends = jnp.asarray([[lo]]), jnp.asarray([[hi]])
        return power_sums.query(tree, jnp.full((1, 1), x, y.dtype), *ends)

    got = sums(jnp.asarray(y, jnp.float32))[0, 0, :, 0]
    want = [np.sum((y[lo:hi] - x) ** k) for k in range(4)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
