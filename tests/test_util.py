"""The sorting helpers of `softeqx._util` against `jax.numpy`."""

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

from softeqx import _util


# Few distinct values (ties), the signed zeros, infinities and NaNs.
SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.5, -2.5, np.inf, -np.inf, np.nan]


def rows(dtype):
    return hnp.arrays(
        dtype,
        st.tuples(st.integers(1, 3), st.integers(1, 40)),
        elements=st.sampled_from(SPECIAL)
        # (No subnormals: XLA on CPU flushes them to zero, numpy does not.)
        | st.floats(width=np.dtype(dtype).itemsize * 8, allow_subnormal=False),
    )


# The properties below draw a new shape at almost every example. Each one's
# computations are jitted together: op by op, every example compiled each of
# its few dozen operations for its shape; jitted, one program per shape.


@jax.jit
def _argsorts(x):
    """`_util.argsort(x)` and the stable `jnp.argsort` it must equal."""
    return _util.argsort(x), jnp.argsort(x, axis=-1, stable=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_argsort_is_jnp_stable_argsort(dtype, data):
    x = data.draw(rows(dtype))
    with jax.enable_x64(dtype == np.float64):
        got, want = _argsorts(jnp.asarray(x))
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@jax.jit
def _sorts_and_key_order(x):
    """`_util.sort(x)`, `jnp.sort(x)` with -0.0 as 0.0, the `sortable` keys,
    and for each pair in a row whether the first key is below the second and
    whether the first float is (NaN equal to NaN and above inf)."""
    want = jnp.sort(x, axis=-1)
    keys = _util.sortable(x)
    a, b = keys[..., :, None], keys[..., None, :]
    nan_a, nan_b = jnp.isnan(x)[..., :, None], jnp.isnan(x)[..., None, :]
    less = jnp.where(nan_a, False, nan_b | (x[..., :, None] < x[..., None, :]))
    return _util.sort(x), jnp.where(want == 0, 0.0, want), keys, a < b, less


@given(x=rows(np.float32))
def test_sort_and_sortable_keys_are_jnp_sort(x):
    got, want, keys, keys_less, less = _sorts_and_key_order(jnp.asarray(x))
    # The same floats, except that a sorted -0.0 comes back as 0.0.
    np.testing.assert_array_equal(got, want)
    assert keys.dtype == jnp.int32
    # The keys compare like the floats (NaN equal to NaN and above inf).
    np.testing.assert_array_equal(keys_less, less)


def test_long_rows_and_other_dtypes_take_jnp_argsort(monkeypatch):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 50)), jnp.float32)
    want = jnp.argsort(x, axis=-1, stable=True)
    monkeypatch.setattr(_util, "PACKED_LIMIT", 10)
    np.testing.assert_array_equal(_util.argsort(x), want)
    ints = jnp.asarray([[3, 1, 2, 1]])
    np.testing.assert_array_equal(_util.argsort(ints), jnp.argsort(ints, axis=-1))
    np.testing.assert_array_equal(_util.sort(ints), jnp.sort(ints, axis=-1))


@pytest.mark.parametrize("n", [1024, 4096])
def test_argsort_and_sort_of_long_rows_with_ties(n):
    rng = np.random.default_rng(n)
    x = jnp.asarray(np.round(rng.normal(size=(3, n)) * 8) / 8, jnp.float32)
    # Unsorted, all rows sorted (no sort at all), and all but one row sorted.
    partly = jnp.sort(x, axis=-1).at[1, :2].set(x[1, 1::-1])
    for rows in (x, jnp.sort(x, axis=-1), partly):
        np.testing.assert_array_equal(
            _util.argsort(rows), jnp.argsort(rows, axis=-1, stable=True)
        )
        np.testing.assert_array_equal(_util.sort(rows), jnp.sort(rows, axis=-1))


_tie_mean = jax.jit(_util.tie_mean)


@given(x=rows(np.float32), data=st.data())
def test_tie_mean_averages_each_run_of_equal_sorted_keys(x, data):
    keys = np.sort(x, axis=-1)
    values = data.draw(
        hnp.arrays(np.float32, x.shape, elements=st.floats(-10, 10, width=32))
    )
    got = np.asarray(_tie_mean(jnp.asarray(keys), jnp.asarray(values)))
    for key_row, value_row, got_row in zip(keys, values, got, strict=True):
        for j, key in enumerate(key_row):
            # A run: the equal keys (NaN equals nothing) next to position j.
            lo = hi = j
            while lo > 0 and key_row[lo - 1] == key:
                lo -= 1
            while hi + 1 < len(key_row) and key_row[hi + 1] == key:
                hi += 1
            np.testing.assert_allclose(
                got_row[j], np.mean(value_row[lo : hi + 1]), rtol=1e-5, atol=1e-5
            )


def test_tie_mean_broadcasts_keys_and_passes_gradients_through_the_mean():
    keys = jnp.array([-0.0, 0.0, 1.0, 2.0, 2.0, 2.0])
    values = jnp.arange(12.0).reshape(2, 6)
    np.testing.assert_allclose(
        _util.tie_mean(keys, values),
        [[0.5, 0.5, 2, 4, 4, 4], [6.5, 6.5, 8, 10, 10, 10]],
    )
    weights = jnp.arange(6.0)
    grad = jax.grad(lambda v: jnp.sum(weights * _util.tie_mean(keys, v)))(values[0])
    np.testing.assert_allclose(grad, [0.5, 0.5, 2, 4, 4, 4])
