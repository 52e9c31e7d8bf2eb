"""The contract every ordering method honours, in every soft mode.

One suite, parametrised over `softeqx._methods.registry.METHODS` and every soft
mode, so that a method added to the registry is tested at once: SoftIndex rows
are distributions, values stay in the input's range, ranks lie in `[1, n]`,
descending orders mirror ascending ones, outputs converge to the hard op as
`softness -> 0`, permuting the input permutes the output, gradients are finite
at ties and extreme inputs and agree with finite differences, and jit/vmap/grad
work without recompiling when the softness changes.

Compiling is the expensive part, so each `(method, mode)` gets a few jitted
functions that evaluate many ops at once (`forward`, `gradients`, `derivatives`,
`interface`), built once per process and shared by the tests. The `(method,
mode)` pair is a module-scoped fixture, so pytest runs the tests of one pair
together and each bundle is compiled about once.
"""

import functools

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

import softeqx
from helpers import SOFT_MODES, assert_allclose, count_traces, slow_params, slow_unless
from softeqx._methods.registry import METHODS
from softeqx.methods import AbstractOrderingMethod, SoftSort


CASES = [
    (method, mode)
    for method, cls in METHODS.items()
    for mode in SOFT_MODES
    if mode in cls.modes
]


def by_default(method: str, mode: str) -> bool:
    """Whether the default run checks `(method, mode)`: every method in
    `"smooth"` and the default method in `"c1"`. The other pairs (each compiles
    its own bundles) run with the slow tests."""
    return mode == "smooth" or (method, mode) == ("neuralsort", "c1")


def case_params(cases):
    """Each `(method, mode)` as a pytest param, marked slow unless `by_default`."""
    return [
        pytest.param(
            (method, mode),
            id=f"{method}-{mode}",
            marks=slow_unless(by_default(method, mode)),
        )
        for method, mode in cases
    ]


def one_mode(method: str, preferred: str) -> str:
    """`preferred` if `method` supports it, else `"smooth"` (which all do)."""
    return preferred if preferred in METHODS[method].modes else "smooth"


@pytest.fixture(scope="module", params=case_params(CASES))
def case(request):
    """`(method, mode)`: every registered method in every soft mode."""
    return request.param


# A soft sorting network mixes elements by their position in the network, so its
# output depends on the input's order (as in the reference, whose golden values
# it reproduces); every other method treats the elements symmetrically.
ORDER_DEPENDENT = {"sorting_network"}
SYMMETRIC_CASES = [c for c in CASES if c[0] not in ORDER_DEPENDENT]


@pytest.fixture(scope="module", params=case_params(SYMMETRIC_CASES))
def symmetric_case(request):
    """`(method, mode)` for the methods that do not depend on the input's order."""
    return request.param


N = 7  # length of the ordered axis: not a power of two
AXIS = 1
SHAPE = (2, N, 3)  # the ordered axis in the middle of a batch
K = 3
Q = (0.1, 0.5, 0.85)
TRIANGLE = N * (N + 1) / 2

INDEX_OUTPUTS = ("argsort", "top_k_index", "argmax")
VALUE_OUTPUTS = ("sort", "sort_desc", "top_k", "quantile")


# ---------------------------------------------------------------- compiled bundles

# The bundles run on a few dozen numbers: compile them quickly rather than well.
FAST_COMPILE = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}
fast_jit = functools.partial(jax.jit, compiler_options=FAST_COMPILE)
SOFTNESS_BATCH = 2  # every call of `forward` takes this many softnesses


def soft_ops(x, softness, q, *, method, mode, axis=AXIS, k=K):
    """Every ordering and quantile op of `x` along `axis`, in one dict."""
    kw = dict(axis=axis, softness=softness, mode=mode, method=method)
    values, index = softeqx.top_k(x, k, **kw)
    return {
        "sort": softeqx.sort(x, **kw),
        "sort_desc": softeqx.sort(x, descending=True, **kw),
        "rank": softeqx.rank(x, **kw),
        "rank_desc": softeqx.rank(x, descending=True, **kw),
        "argsort": softeqx.argsort(x, **kw),
        "top_k": values,
        "top_k_index": index,
        "argmax": softeqx.argmax(x, **kw),
        "quantile": softeqx.quantile(x, q, **kw),
        "argquantile": softeqx.argquantile(x, q, **kw),
    }


def hard_ops(x, q):
    """The same ops with `mode="hard"` (their parity with jnp is tested elsewhere)."""
    return soft_ops(x, 1.0, q, method="softsort", mode="hard")


@functools.cache
def forward(method: str, mode: str):
    """`soft_ops` on `SHAPE` inputs, jitted and vmapped over `SOFTNESS_BATCH`
    softnesses. Returns the function and a count of its traces (as
    `helpers.count_traces`, with the quick compiler options)."""
    ops = jax.vmap(
        functools.partial(soft_ops, method=method, mode=mode), in_axes=(None, 0, None)
    )
    counter = {"traces": 0}

    def counted(*args):
        counter["traces"] += 1
        return ops(*args)

    return fast_jit(counted), counter


def run_both(method, mode, x, softnesses, q=Q):
    """`forward` at two softnesses: a dict of outputs with a leading axis of 2."""
    assert len(softnesses) == SOFTNESS_BATCH
    f, _ = forward(method, mode)
    out = f(
        jnp.asarray(x, jnp.float32),
        jnp.asarray(softnesses, jnp.float32),
        jnp.asarray(q, jnp.float32),
    )
    return {name: np.asarray(value) for name, value in out.items()}


def run(method, mode, x, softness, q=Q):
    """`forward` at one softness: the dict of outputs, as NumPy arrays."""
    out = run_both(method, mode, x, (softness, softness), q)
    return {name: value[0] for name, value in out.items()}


LOSSES = ("sort", "rank", "top_k", "argsort", "quantile")


def losses(x, softness, *, method, mode):
    """Scalar losses of a 1-D `x` through each op (`LOSSES`), with fixed weights."""
    n = x.shape[0]
    kw = dict(softness=softness, mode=mode, method=method)
    w = jnp.linspace(-1.0, 2.0, n, dtype=x.dtype)
    k = min(K, n)
    q = jnp.array([0.3, 0.5], x.dtype)
    return jnp.stack(
        [
            jnp.sum(w * softeqx.sort(x, **kw)),
            jnp.sum(w * softeqx.rank(x, **kw)),
            jnp.sum(w[:k] * softeqx.top_k(x, k, **kw)[0]),
            jnp.sum(w * (softeqx.argsort(x, **kw) @ w)),
            jnp.sum(softeqx.quantile(x, q, **kw)),
        ]
    )


@functools.cache
def gradients(method: str, mode: str):
    """Jacobians `(d/dx, d/dsoftness)` of `losses`, for each row of `rows`.

    Row `i` of each Jacobian is the gradient of `LOSSES[i]`.
    """
    jacobian = jax.jacrev(
        functools.partial(losses, method=method, mode=mode), argnums=(0, 1)
    )
    return fast_jit(jax.vmap(jacobian, in_axes=(0, None)))


@functools.cache
def single_element(method: str, mode: str):
    """Values and gradients of sort, rank, top-1 and median of one element."""

    def ops(x, softness):
        kw = dict(softness=softness, mode=mode, method=method)
        return jnp.concatenate(
            [
                softeqx.sort(x, **kw),
                softeqx.rank(x, **kw),
                softeqx.top_k(x, 1, **kw)[0],
                softeqx.quantile(x, jnp.array([0.5], x.dtype), **kw),
            ]
        )

    return fast_jit(lambda x, s: (ops(x, s), jax.jacrev(ops, argnums=(0, 1))(x, s)))


def derivative_ops(x, softness, q, *, method, mode):
    """Sort, rank, top-k values and quantiles of a 1-D `x`, concatenated."""
    kw = dict(softness=softness, mode=mode, method=method)
    return jnp.concatenate(
        [
            softeqx.sort(x, **kw),
            softeqx.rank(x, **kw),
            softeqx.top_k(x, K, **kw)[0],
            softeqx.quantile(x, q, **kw),
        ]
    )


@functools.cache
def derivatives(method: str, mode: str):
    """Reverse-mode Jacobians of `derivative_ops`, and central differences.

    Returns `(output, jacobian_x, d_softness, fd_jacobian_x, fd_softness)`.
    """
    ops = functools.partial(derivative_ops, method=method, mode=mode)

    def f(x, softness, q, h):
        n = x.shape[0]
        jac_x, d_softness = jax.jacrev(ops, argnums=(0, 1))(x, softness, q)
        # One batch of evaluations: x, x +- h e_i, softness +- h.
        steps = h * jnp.eye(n, dtype=x.dtype)
        xs = jnp.concatenate([x[None], x + steps, x - steps, x[None], x[None]])
        ss = jnp.full(2 * n + 3, softness).at[-2].add(h).at[-1].add(-h)
        values = jax.vmap(ops, in_axes=(0, 0, None))(xs, ss, q)
        fd_x = ((values[1 : n + 1] - values[n + 1 : 2 * n + 1]) / (2 * h)).T
        fd_softness = (values[-2] - values[-1]) / (2 * h)
        return values[0], jac_x, d_softness, fd_x, fd_softness

    return fast_jit(f)


@functools.cache
def interface(method: str, mode: str):
    """The three questions a method answers, and the whole matrix, for `a`."""
    instance = METHODS[method]()

    def f(a, v, u, softness):
        n = a.shape[-1]
        everything = jnp.arange(n)
        some = jnp.array([n - 1, 0, n // 2])
        return {
            "matrix": instance.rows(a, everything, softness, mode),
            "rows": instance.rows(a, some, softness, mode),
            "sorted_values": instance.sorted_values(a, v, some, softness, mode),
            "transpose_apply": instance.transpose_apply(a, u, softness, mode),
        }

    return fast_jit(f)


# ---------------------------------------------------------------- inputs


def random_x(key, scale=1.0):
    return scale * jax.random.normal(key, SHAPE, jnp.float32)


def separated_x(key):
    """Each slice along the axis a permutation of an evenly spaced grid.

    Slices get their own offset and scale: standardisation makes them alike.
    """
    keys = jax.random.split(key, 3)
    grid = jnp.linspace(-2.0, 2.0, N)
    order = jax.vmap(lambda k: jax.random.permutation(k, N))(
        jax.random.split(keys[0], 6)
    )
    slices = grid[order].reshape(2, 3, N)
    scale = jax.random.uniform(keys[1], (2, 3, 1), minval=0.5, maxval=4.0)
    offset = jax.random.uniform(keys[2], (2, 3, 1), minval=-5.0, maxval=5.0)
    return jnp.moveaxis(slices * scale + offset, -1, AXIS)


def hazard_rows() -> jax.Array:
    """Inputs that break naive implementations, one per row (length N)."""
    generic = np.array([0.3, -1.2, 2.5, 0.9, -0.4, 1.7, -2.2])
    return jnp.asarray(
        np.stack(
            [
                np.full(N, 3.0),  # constant: every element tied
                np.array([1.0, 2.0, 2.0, 3.0, 1.0, 3.0, 2.0]),  # repeated values
                1e6 * generic,  # huge magnitude
                -2e6 + 1e6 * generic,  # huge offset
                1.0 + 1e-4 * generic,  # spread below 1e-3
                generic,
            ]
        ),
        jnp.float32,
    )


HAZARDS = ("constant", "repeated", "huge", "offset", "tiny_spread", "generic")


# ---------------------------------------------------------------- invariants


def test_soft_indices_are_distributions(case, getkey):
    method, mode = case
    out = run_both(method, mode, random_x(getkey()), (0.1, 1.0))
    for name in (*INDEX_OUTPUTS, "argquantile"):
        p = out[name]
        assert np.all(p >= 0), name
        np.testing.assert_allclose(p.sum(-1), 1.0, atol=2e-5, err_msg=name)


@pytest.mark.parametrize("method", list(METHODS))
def test_soft_index_shapes(method):
    # Shapes are set by the ops, not by the family: one mode is enough.
    mode = one_mode(method, "c1")
    shapes = jax.eval_shape(
        functools.partial(soft_ops, method=method, mode=mode),
        jax.ShapeDtypeStruct(SHAPE, jnp.float32),
        0.1,
        jnp.asarray(Q),
    )
    expected = {
        "sort": SHAPE,
        "sort_desc": SHAPE,
        "rank": SHAPE,
        "rank_desc": SHAPE,
        "argsort": (*SHAPE, N),
        "top_k": (2, K, 3),
        "top_k_index": (2, K, 3, N),
        "argmax": (2, 3, N),
        "quantile": (len(Q), 2, 3),
        "argquantile": (len(Q), 2, 3, N),
    }
    assert {name: s.shape for name, s in shapes.items()} == expected


def test_values_lie_within_the_input_range(case, getkey):
    method, mode = case
    x = random_x(getkey(), scale=3.0)
    out = run_both(method, mode, x, (0.1, 1.0))  # a leading softness axis
    low = np.min(x, axis=AXIS, keepdims=True)
    high = np.max(x, axis=AXIS, keepdims=True)
    eps = 1e-5 * np.max(np.abs(x))
    for name in ("sort", "sort_desc", "top_k", "quantile"):
        # Quantiles have q's axis in front; the reduced axis is gone.
        lo, hi = (low[:, 0], high[:, 0]) if name == "quantile" else (low, high)
        assert np.all(out[name] >= lo - eps), name
        assert np.all(out[name] <= hi + eps), name


def test_ranks_lie_between_1_and_n(case, getkey):
    method, mode = case
    out = run_both(method, mode, random_x(getkey()), (0.1, 1.0))
    for name in ("rank", "rank_desc"):
        assert np.all(out[name] >= 1) and np.all(out[name] <= N), name


def test_rank_sum_is_close_to_triangular_number(case, getkey):
    method, mode = case
    out = run(method, mode, separated_x(getkey()), 0.01)
    for name in ("rank", "rank_desc"):
        np.testing.assert_allclose(
            out[name].sum(AXIS), TRIANGLE, rtol=1e-3, err_msg=name
        )


def test_extremes_are_the_ends_of_the_sort(case, getkey):
    method, mode = case
    # argmax and top-k are rows of the same soft permutation as sort.
    out = run(method, mode, random_x(getkey()), 0.3)
    assert_allclose(out["top_k"], np.flip(out["sort"], AXIS)[:, :K], atol=1e-5)
    assert_allclose(out["argmax"], out["argsort"][:, -1], atol=1e-5)
    assert_allclose(out["top_k_index"], np.flip(out["argsort"], AXIS)[:, :K], atol=1e-5)


def test_converges_to_hard_as_softness_vanishes(case, getkey):
    method, mode = case
    x = separated_x(getkey())
    soft = run(method, mode, x, 1e-3)
    hard = hard_ops(x, jnp.asarray(Q))
    scale = float(np.max(np.abs(x)))
    for name, expected in hard.items():
        atol = 1e-4 * scale if name in VALUE_OUTPUTS else 1e-4
        np.testing.assert_allclose(soft[name], expected, atol=atol, err_msg=name)


# ---------------------------------------------------------------- properties


finite_inputs = hnp.arrays(
    np.float32,
    SHAPE,
    elements=st.floats(-100, 100, width=32, allow_subnormal=False),
)


@given(x=finite_inputs, permutation=st.permutations(range(N)))
def test_permuting_the_input_permutes_the_output(symmetric_case, x, permutation):
    method, mode = symmetric_case
    perm = np.asarray(permutation)
    out = run(method, mode, x, 0.1)
    permuted = run(method, mode, x[:, perm], 0.1)
    atol = 1e-4 * max(1.0, float(np.max(np.abs(x))))
    # Values: invariant.
    for name in (*VALUE_OUTPUTS, "rank"):
        expected = out[name][:, perm] if name == "rank" else out[name]
        # Ranks divide by column masses: float32 rounding of near-ties in the
        # sparse modes' thresholds reaches a few 1e-4.
        tol = 3e-3 if name == "rank" else atol
        np.testing.assert_allclose(permuted[name], expected, atol=tol, err_msg=name)
    # Soft indices: the probability axis is permuted.
    for name in (*INDEX_OUTPUTS, "argquantile"):
        np.testing.assert_allclose(
            permuted[name], out[name][..., perm], atol=1e-3, err_msg=name
        )


@given(x=finite_inputs)
def test_descending_mirrors_ascending(case, x):
    method, mode = case
    out = run(method, mode, x, 0.3)
    atol = 1e-5 * max(1.0, float(np.max(np.abs(x))))
    np.testing.assert_allclose(out["sort_desc"], np.flip(out["sort"], AXIS), atol=atol)
    np.testing.assert_allclose(out["rank_desc"], N + 1 - out["rank"], atol=1e-4)


spread_inputs = hnp.arrays(
    np.float32, SHAPE, elements=st.floats(-3, 3, width=32, allow_subnormal=False)
)


@given(
    x=spread_inputs,
    permutation=st.permutations(range(N)),
    scale=st.floats(0.5, 50.0),
    shift=st.floats(-10.0, 10.0),
)
def test_shift_and_scale_invariance(case, x, permutation, scale, shift):
    method, mode = case
    # standardize=True: sort(c x + b) = c sort(x) + b and rank(c x + b) = rank(x).
    # An evenly spaced grid under the noise keeps every slice well spread.
    grid = np.linspace(-4.0, 4.0, N, dtype=np.float32)[np.asarray(permutation)]
    x = x + grid[None, :, None]
    y = (np.float32(scale) * x + np.float32(shift)).astype(np.float32)
    out, moved = run(method, mode, x, 0.2), run(method, mode, y, 0.2)
    np.testing.assert_allclose(
        moved["sort"], scale * out["sort"] + shift, atol=2e-4 * scale * 8
    )
    np.testing.assert_allclose(moved["rank"], out["rank"], atol=2e-3)
    np.testing.assert_allclose(moved["argsort"], out["argsort"], atol=2e-3)


def test_tied_elements_get_equal_ranks(symmetric_case):
    method, mode = symmetric_case
    x = np.tile(
        np.array([0.5, -1.0, 0.5, 2.0, -1.0, 0.5, 3.0])[None, :, None], (2, 1, 3)
    )
    out = run(method, mode, x.astype(np.float32), 0.2)
    rank = out["rank"]
    assert_allclose(rank[:, 0], rank[:, 2], atol=1e-4)
    assert_allclose(rank[:, 0], rank[:, 5], atol=1e-4)
    assert_allclose(rank[:, 1], rank[:, 4], atol=1e-4)


def test_tied_elements_are_exchangeable(symmetric_case):
    # Exact ties (+-0 among them) next to near-ties and an outlier: swapping
    # tied elements must swap their soft-index columns and nothing else. This
    # input found smooth_sort's tied columns differing by 1e-3 in float32.
    method, mode = symmetric_case
    row = np.array([-0.0, 47.0, 0.0, 47.0, -1.0, -0.0, -6e-8], np.float32)
    x = np.tile(row[None, :, None], (2, 1, 3))
    swap = np.array([2, 3, 0, 1, 4, 5, 6])  # 0 <-> 2 and 1 <-> 3 are tied
    out, swapped = run(method, mode, x, 0.1), run(method, mode, x[:, swap], 0.1)
    for name in (*INDEX_OUTPUTS, "argquantile"):
        assert_allclose(swapped[name], out[name][..., swap], atol=1e-6)
    assert_allclose(out["argsort"][..., 0], out["argsort"][..., 2], atol=1e-6)


# ---------------------------------------------------------------- transformations


def test_softness_change_does_not_recompile(case, getkey):
    method, mode = case
    x = random_x(getkey())
    first = run_both(method, mode, x, (0.1, 0.2))
    _, counter = forward(method, mode)
    traces = counter["traces"]
    second = run_both(method, mode, x, (0.37, 0.05))
    assert counter["traces"] == traces
    # Ranks respond to the softness for every method (fast_soft_sort's sort of
    # seven standardised scores is still exact at both of these softnesses).
    assert not np.allclose(first["rank"], second["rank"])


@pytest.mark.parametrize("method", list(METHODS))
def test_softness_change_does_not_retrace_a_jitted_op(method, getkey):
    f, counter = count_traces(
        lambda x, softness: softeqx.rank(x, softness=softness, method=method)
    )
    x = random_x(getkey())[0, :, 0]
    first, second = f(x, jnp.float32(0.1)), f(x, jnp.float32(0.37))
    assert counter["traces"] == 1
    assert not np.allclose(first, second)
    assert_allclose(first, softeqx.rank(x, softness=0.1, method=method), atol=1e-6)


def test_vmap_over_softness(case, getkey):
    method, mode = case
    x = random_x(getkey())
    both = run_both(method, mode, x, (0.05, 0.5))
    swapped = run_both(method, mode, x, (0.5, 0.05))
    for name in both:
        assert_allclose(both[name][0], swapped[name][1], atol=1e-6)
        assert_allclose(both[name][1], swapped[name][0], atol=1e-6)
    assert not np.allclose(both["rank"][0], both["rank"][1])


def test_float32_stays_float32(case, getkey):
    method, mode = case
    out = run_both(method, mode, random_x(getkey()), (0.1, 0.2))
    assert {name: value.dtype for name, value in out.items()} == dict.fromkeys(
        out, np.dtype(np.float32)
    )


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float64"])
def test_output_dtype_is_the_input_dtype(method, dtype, request):
    # The dtype handling is the ops', shared by every family: one mode is enough.
    mode = one_mode(method, "c2")
    if dtype == "float64":
        request.getfixturevalue("x64")
    shapes = jax.eval_shape(
        functools.partial(soft_ops, method=method, mode=mode),
        jax.ShapeDtypeStruct(SHAPE, jnp.dtype(dtype)),
        0.1,
        jnp.asarray(Q),
    )
    assert {name: s.dtype for name, s in shapes.items()} == dict.fromkeys(
        shapes, jnp.dtype(dtype)
    )


# ---------------------------------------------------------------- gradients


def hazard_gradients(method, mode):
    """`(d_x, d_softness)` for the hazard rows: `(R, len(LOSSES), N)`, `(R, 5)`."""
    out = gradients(method, mode)(hazard_rows(), jnp.float32(0.1))
    return jax.tree_util.tree_map(np.asarray, out)


# A compiled gradient of five ops per case: the smooth family of every method
# runs by default, the other families with the slow tests.
GRADIENT_CASES = [
    pytest.param(
        method,
        mode,
        id=f"{method}-{mode}",
        marks=() if mode == "smooth" else pytest.mark.slow,
    )
    for method, mode in CASES
]


@pytest.mark.parametrize(("method", "mode"), GRADIENT_CASES)
def test_gradients_are_finite_at_ties_and_extremes(method, mode):
    d_x, d_softness = hazard_gradients(method, mode)
    for row, hazard in enumerate(HAZARDS):
        for i, op in enumerate(LOSSES):
            assert np.all(np.isfinite(d_x[row, i])), (op, hazard, d_x[row, i])
            assert np.isfinite(d_softness[row, i]), (op, hazard, d_softness[row, i])


@pytest.mark.parametrize(("method", "mode"), GRADIENT_CASES)
def test_constant_input_has_bounded_gradients(method, mode):
    # standardize=True: the scale floor keeps the spread of a constant input
    # from being magnified without bound.
    d_x, _ = hazard_gradients(method, mode)
    d_sort = d_x[HAZARDS.index("constant"), LOSSES.index("sort")]
    assert np.all(np.abs(d_sort) < 1e4), d_sort
    d_rank = d_x[HAZARDS.index("constant"), LOSSES.index("rank")]
    assert np.all(np.isfinite(d_rank)), d_rank


@pytest.mark.parametrize("method", list(METHODS))
def test_single_element_is_its_own_order(method):
    # n = 1: sort, top-1 and median are the identity, the rank is 1. (What
    # depends on the mode at n = 1, the projection of one score, is tested in
    # test_projections.py.)
    values, (d_x, d_softness) = single_element(method, "smooth")(
        jnp.array([0.7], jnp.float32), jnp.float32(0.1)
    )
    np.testing.assert_allclose(values, [0.7, 1.0, 0.7, 0.7], rtol=1e-6)
    np.testing.assert_allclose(d_x[:, 0], [1.0, 0.0, 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(d_softness, 0.0, atol=1e-6)


def test_tiny_spread_is_well_behaved(case, getkey):
    method, mode = case
    x = 5.0 + 1e-4 * random_x(getkey())
    out = run(method, mode, x, 0.1)
    for name in ("sort", "top_k", "quantile"):
        value = out[name]
        assert np.all(np.isfinite(value)), name
        assert np.all(value >= float(np.min(x)) - 1e-6), name
        assert np.all(value <= float(np.max(x)) + 1e-6), name
    assert np.all((out["rank"] >= 1) & (out["rank"] <= N))


@pytest.mark.slow
def test_derivatives_match_finite_differences(case, getkey, x64):
    method, mode = case
    # Generic, well-spread float64 input: every op is smooth there.
    x = jnp.asarray(np.random.default_rng(7).permutation(np.linspace(-1.5, 2.0, 6)))
    x = x + 0.05 * jax.random.normal(getkey(), (6,), jnp.float64)
    q = jnp.array([0.3, 0.75], jnp.float64)
    out, jac_x, d_softness, fd_x, fd_softness = derivatives(method, mode)(
        x, jnp.float64(0.3), q, 1e-6
    )
    assert out.dtype == jnp.float64
    np.testing.assert_allclose(jac_x, fd_x, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(d_softness, fd_softness, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- the interface


@pytest.mark.slow
def test_method_answers_agree_with_its_matrix(case, getkey):
    method, mode = case
    a = jax.nn.sigmoid(jax.random.normal(getkey(), (2, N)))
    v = jax.random.normal(getkey(), (2, N, 2))
    u = jax.random.normal(getkey(), (2, N, 2))
    out = interface(method, mode)(a, v, u, jnp.float32(0.1))
    matrix = np.asarray(out["matrix"])
    some = [N - 1, 0, N // 2]
    assert_allclose(out["rows"], matrix[:, some], atol=1e-6)
    assert_allclose(out["sorted_values"], matrix[:, some] @ np.asarray(v), atol=1e-5)
    assert_allclose(
        out["transpose_apply"], np.swapaxes(matrix, -1, -2) @ np.asarray(u), atol=1e-5
    )
    # Ascending: the first row leans to small scores, the last to large ones.
    picked = (matrix @ np.asarray(a)[..., None])[..., 0]
    assert np.all(picked[:, 0] < picked[:, -1])


@pytest.mark.parametrize("name", list(METHODS))
def test_method_objects_equal_method_names(name, getkey):
    by_object, by_name = fast_jit(
        lambda x: [softeqx.argmax(x, method=m) for m in (METHODS[name](), name)]
    )(random_x(getkey())[0, :, 0])
    assert_allclose(by_object, by_name, atol=1e-6)
    assert isinstance(METHODS[name](), AbstractOrderingMethod)


class SmoothOnly(AbstractOrderingMethod):
    """A method supporting only `"smooth"`, built on SoftSort."""

    modes = ("smooth",)

    def rows(self, a, positions, softness, mode):
        return SoftSort().rows(a, positions, softness, mode)

    def sorted_values(self, a, v, positions, softness, mode):
        return SoftSort().sorted_values(a, v, positions, softness, mode)

    def transpose_apply(self, a, u, softness, mode):
        return SoftSort().transpose_apply(a, u, softness, mode)


def test_custom_method_objects_are_used():
    x = jnp.array([-0.2, -1.0, 0.3, 1.0])
    assert_allclose(
        softeqx.sort(x, method=SmoothOnly()), softeqx.sort(x, method="softsort")
    )


@pytest.mark.parametrize("mode", [m for m in SOFT_MODES if m != "smooth"])
def test_mode_not_supported_by_the_method_raises(mode):
    with pytest.raises(ValueError, match="`mode`"):
        softeqx.sort(jnp.arange(4.0), mode=mode, method=SmoothOnly())


# ---------------------------------------------------------------- method-specific


ORDERED_SORT_METHODS = ("neuralsort", "sorting_network")


@pytest.mark.parametrize(
    ("method", "mode"),
    [
        pytest.param(method, mode, marks=slow_unless(by_default(method, mode)))
        for method in ORDERED_SORT_METHODS
        for mode in SOFT_MODES
    ],
)
def test_soft_sort_is_non_decreasing(method, mode, getkey):
    assert method in METHODS
    for _ in range(3):
        out = run_both(method, mode, random_x(getkey(), scale=2.0), (0.1, 1.0))
        assert np.all(np.diff(out["sort"], axis=1 + AXIS) >= -1e-6)
        assert np.all(np.diff(out["sort_desc"], axis=1 + AXIS) <= 1e-6)


NETWORK_SIZES = (1, 2, 3, 5, 7, 100)
PADDED_SIZES = (5,)  # not a power of two: the network pads it


@functools.cache
def network_sort(mode: str, standardize: bool):
    """Soft sorts through the sorting network of a list of 1-D inputs."""

    def f(xs, softness):
        kw = dict(softness=softness, mode=mode, standardize=standardize)
        return [softeqx.sort(x, method="sorting_network", **kw) for x in xs]

    return fast_jit(f)


def network_inputs(key, sizes, shift=0.0):
    keys = jax.random.split(key, len(sizes))
    return [
        shift + jax.random.normal(k, (n,), jnp.float32)
        for k, n in zip(keys, sizes, strict=True)
    ]


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_sorting_network_preserves_the_sum(mode, getkey):
    # On the raw values (standardize=False) every output is a convex
    # combination of the inputs, and the network only mixes pairs.
    xs = network_inputs(getkey(), NETWORK_SIZES)
    for x, y in zip(xs, network_sort(mode, False)(xs, 0.5), strict=True):
        assert y.shape == x.shape
        np.testing.assert_allclose(y.sum(), x.sum(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("mode", SOFT_MODES)
@pytest.mark.parametrize("standardize", [True, False])
def test_sorting_network_padding_does_not_leak(mode, standardize, getkey):
    # All-negative and all-positive inputs: a padding element taking part in a
    # comparison would pull the soft max (the last sorted value) above max(x),
    # or the soft min below min(x).
    sizes = PADDED_SIZES if standardize else NETWORK_SIZES
    f = network_sort(mode, standardize)
    for shift in (-50.0, 50.0):
        xs = network_inputs(getkey(), sizes, shift)
        for x, y in zip(xs, f(xs, 2.0), strict=True):
            top, bottom, eps = float(jnp.max(x)), float(jnp.min(x)), 1e-4
            assert float(y[-1]) <= top + eps, (x.shape, float(y[-1]), top)
            assert float(y[0]) >= bottom - eps, (x.shape, float(y[0]), bottom)
            assert np.all(np.asarray(y) <= top + eps)
            assert np.all(np.asarray(y) >= bottom - eps)


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param(m, marks=slow_unless(by_default("sorting_network", m)))
        for m in SOFT_MODES
    ],
)
def test_sorting_network_is_doubly_stochastic(mode, getkey):
    out = run("sorting_network", mode, random_x(getkey()), 0.5)
    np.testing.assert_allclose(out["argsort"].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out["argsort"].sum(AXIS), 1.0, atol=1e-5)
    np.testing.assert_allclose(out["rank"].sum(AXIS), TRIANGLE, rtol=1e-6)
    np.testing.assert_allclose(out["rank_desc"].sum(AXIS), TRIANGLE, rtol=1e-6)


# ------------------------------------------------- softsort's O(n log n) products


def _assert_softsort_products_equal_dense(
    n: int, softness: float, mode: str, ties: bool = True
):
    """SoftSort's `sorted_values` and `transpose_apply` against the generic
    dense path of `score.py`: values and derivatives in all three arguments
    and the softness, at exact ties too (unless `ties=False`), in float64."""
    from softeqx._methods.score import AbstractScoreMethod

    method, rng = SoftSort(), np.random.default_rng(n)
    a = rng.uniform(size=(2, n))
    if ties:
        a[0, n // 2 :: 3] = a[0, 0]  # ties in the first row (none for n < 3)
    a = jnp.asarray(a)
    v = jnp.asarray(rng.normal(size=(2, n, 2)))
    tau = jnp.float64(softness)
    positions = jnp.arange(n)[::-2]

    def products(generic: bool):
        owner = AbstractScoreMethod if generic else SoftSort

        def f(a, v, tau):
            fwd = owner.sorted_values(method, a, v, positions, tau, mode)
            back = owner.transpose_apply(method, a, v, tau, mode)
            return fwd, back

        def loss(a, v, tau):
            fwd, back = f(a, v, tau)
            return jnp.sum(jnp.sin(fwd)) + jnp.sum(jnp.cos(back))

        return jax.jit(lambda *args: (f(*args), jax.grad(loss, (0, 1, 2))(*args)))

    fast, dense = products(False)(a, v, tau), products(True)(a, v, tau)
    for got, want in zip(jax.tree.leaves(fast), jax.tree.leaves(dense), strict=True):
        assert np.all(np.isfinite(got))
        # Entries that are 0 (tied elements' derivatives) may come out as a
        # rounding error of the others' size.
        scale = max(1.0, float(np.max(np.abs(want))))
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * scale)


@pytest.mark.parametrize(
    ("n", "softness"), [(1, 0.3), (2, 1e-3), (9, 0.3), (300, 1e-3), (300, 5.0)]
)
def test_softsort_smooth_products_equal_the_dense_kernel(n, softness, x64):
    """`sorted_values` and `transpose_apply` of softsort in `"smooth"` run two
    linear recurrences; they must equal the products with the dense matrix,
    values and derivatives (in all three arguments and the softness), also at
    exact ties (the symmetric derivative of the kernel's kink)."""
    _assert_softsort_products_equal_dense(n, softness, "smooth")


PIECEWISE_SIZES = [
    (1, 0.3),
    (2, 0.3),
    (9, 0.3),
    (40, 0.05),
    (300, 1e-3),
    (300, 0.02),
    (300, 5.0),
]


@pytest.mark.parametrize(
    ("n", "softness", "mode"),
    slow_params(
        [
            (n, softness, mode)
            for n, softness in PIECEWISE_SIZES
            for mode in ("c0", "c1", "c2")
        ],
        default=[(300, 1e-3, "c2"), (300, 5.0, "c1")],
    ),
)
def test_softsort_piecewise_products_equal_the_dense_projections(
    n, softness, mode, x64, monkeypatch
):
    """In the piecewise modes, softsort's `sorted_values` and `transpose_apply`
    sum truncated powers over a segment tree (`softsort_piecewise`); they must
    equal the products with the dense projected rows of `score.py`, values and
    derivatives in all three arguments and the softness, at exact ties too,
    for supports of one element (tiny softness) up to the whole row."""
    from softeqx._methods import softsort_piecewise

    # Short rows take the dense path by default: force the tree path.
    monkeypatch.setattr(softsort_piecewise, "MIN_SIZE", 1)
    _assert_softsort_products_equal_dense(n, softness, mode)


@pytest.mark.parametrize("mode", slow_params(["c0", "c1", "c2"], default=["c1"]))
def test_softsort_piecewise_rows_solved_a_few_at_a_time(mode, x64, monkeypatch):
    """After its full rounds, the radius solver evaluates only unsolved rows,
    a few per round. With no full round and an eighth of the rows per round,
    every row goes through that path, several rounds each; the products must
    still equal the dense ones."""
    from softeqx._methods import softsort_piecewise

    monkeypatch.setattr(softsort_piecewise, "MIN_SIZE", 1)
    monkeypatch.setattr(softsort_piecewise, "FULL_ROUNDS", 0)
    monkeypatch.setattr(softsort_piecewise, "STRAGGLERS", 8)
    _assert_softsort_products_equal_dense(64, 0.05, mode)


@pytest.mark.parametrize("mode", slow_params(["c0", "c1", "c2"], default=["c2"]))
def test_softsort_piecewise_one_evaluation_takes_in_entering_elements(
    mode, x64, monkeypatch
):
    """Started 10 % short of the radius, a support lacks up to three elements
    at its ends; the refinement takes the nearest few outside it in as they
    enter, so one evaluation solves every row: with no round after the first,
    the products must still equal the dense ones. (Not so for a run of ties
    longer than `OUTSIDE` entering at once: those rows take another round.)"""
    from softeqx._methods import softsort_piecewise
    from softeqx._projections.simplex import _threshold

    def short_start(u, positions, q):
        rows = jnp.take(u, positions, axis=-1)
        theta = -jnp.abs(rows[..., :, None] - u[..., None, :])
        return -0.9 * _threshold(theta, q)[..., 0]

    monkeypatch.setattr(softsort_piecewise, "MIN_SIZE", 1)
    monkeypatch.setattr(softsort_piecewise, "FULL_ROUNDS", 1)
    monkeypatch.setattr(softsort_piecewise, "MAX_NEWTON_STEPS", 0)
    monkeypatch.setattr(softsort_piecewise, "_start_radius", short_start)
    _assert_softsort_products_equal_dense(64, 0.05, mode, ties=False)


def test_softsort_piecewise_path_in_float32_at_scale():
    """The tree path in float32 (taken by default at this size), ties
    included: close to the float64 dense products, although the range sums are
    narrow next to the spread of the scores (the tree's moments are centred
    locally, not prefix sums); batched, vmapped and per-row calls agree."""
    from softeqx._methods.score import AbstractScoreMethod

    n, method = 300, SoftSort()
    x = np.random.default_rng(0).normal(size=(3, n))
    x[1, ::7] = x[1, 3]  # many ties
    positions = jnp.arange(n)
    payload = np.stack([x, np.broadcast_to(np.arange(1.0, n + 1), x.shape)], -1)

    # Jitted: op by op, the tree code dispatches and compiles hundreds of ops.
    @functools.partial(jax.jit, static_argnums=(0, 1, 2))
    def products(owner, dtype, mode):
        a, v = jnp.asarray(x, dtype), jnp.asarray(payload, dtype)
        tau = jnp.asarray(0.05, dtype)
        fwd = owner.sorted_values(method, a, v, positions, tau, mode)
        return fwd, owner.transpose_apply(method, a, v, tau, mode)

    for mode in ("c2",):
        got = products(SoftSort, jnp.float32, mode)
        with jax.enable_x64(True):
            want = [
                np.asarray(w) for w in products(AbstractScoreMethod, jnp.float64, mode)
            ]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5)
    sort = jax.jit(
        functools.partial(softeqx.sort, axis=-1, mode="c1", method="softsort")
    )
    xs = jnp.asarray(x, jnp.float32)
    batched, mapped = sort(xs), jax.vmap(sort)(xs)
    np.testing.assert_allclose(mapped, batched, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sort(xs[2]), batched[2], rtol=1e-6, atol=1e-6)


def test_softsort_piecewise_ties_at_a_huge_spread_keep_their_columns():
    """Scores / softness of 1e9 in float32, where `u + r` rounds to `u`, with
    tied groups: every row still covers its tied columns, so each column of
    the soft permutation (well-separated values, ties shared evenly) sums to 1
    and each row spreads evenly over its ties."""
    from softeqx._methods import softsort_piecewise

    n = 300
    x = jnp.linspace(0.0, 1e4, n, dtype=jnp.float32)
    x = x.at[-3:].set(1e4).at[:3].set(0.0)
    u = (x / 1e-5)[None]
    apply_columns = jax.jit(softsort_piecewise.apply_columns, static_argnums=2)
    apply_rows = jax.jit(softsort_piecewise.apply_rows, static_argnums=3)
    for q in (1, 3):
        columns = apply_columns(u, jnp.ones((1, n, 1)), q)
        np.testing.assert_allclose(columns[0, :, 0], np.ones(n), rtol=1e-5)
        v = jnp.arange(n, dtype=jnp.float32)[None, :, None]
        rows = apply_rows(u, v, jnp.arange(n), q)[0, :, 0]
        want = np.arange(n, dtype=np.float32)
        want[:3], want[-3:] = 1.0, n - 2.0
        np.testing.assert_allclose(rows, want, rtol=1e-5)


def test_softsort_piecewise_ties_and_counts_match_searches():
    """The runs of equal sorted scores (`_tie_bounds`) equal the left and right
    binary searches of each score, runs at both ends included; the counts the
    column ranges come from (`_counts_at_most`) equal direct comparisons."""
    from softeqx._methods import softsort_piecewise

    rng = np.random.default_rng(7)
    for n in (1, 2, 9, 50):
        s = np.sort(rng.integers(0, max(1, n // 3), size=(3, n)), -1).astype(np.float32)
        tie_lo, tie_hi = softsort_piecewise._tie_bounds(jnp.asarray(s))
        for row, lo, hi in zip(s, np.asarray(tie_lo), np.asarray(tie_hi), strict=True):
            np.testing.assert_array_equal(lo, np.searchsorted(row, row, "left"))
            np.testing.assert_array_equal(hi, np.searchsorted(row, row, "right"))
        values = rng.integers(0, n + 1, size=(3, 2 * n + 1)).astype(np.int32)
        counts = softsort_piecewise._counts_at_most(jnp.asarray(values), n)
        want = np.sum(values[:, None, :] <= np.arange(n)[:, None], -1)
        np.testing.assert_array_equal(counts, want)


@pytest.mark.parametrize("mode", slow_params(["c1", "c2"], default=["c2"]))
def test_softsort_piecewise_path_with_a_huge_spread(mode):
    """Scores / softness spanning 1e10 in float32: the tree's wide nodes
    overflow, but no narrow range uses them; the result is the hard sort and
    the gradient finite."""
    n = 300
    x = jnp.concatenate(
        [jnp.linspace(0.0, 1e4, n - 2), jnp.asarray([1e6, -1e6])]
    ).astype(jnp.float32)
    f = functools.partial(
        softeqx.sort, softness=1e-4, mode=mode, method="softsort", standardize=False
    )
    np.testing.assert_allclose(f(x), jnp.sort(x), rtol=1e-6)
    # Jitted: differentiated op by op, the forward and backward passes compile
    # apart.
    grad = jax.jit(jax.grad(lambda x: jnp.sum(f(x) * jnp.arange(n, dtype=x.dtype))))(x)
    assert np.all(np.isfinite(grad))
