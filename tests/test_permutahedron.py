"""Permutahedron projections (PAV), the fast_soft_sort and smooth_sort methods."""

import functools
import itertools
import re

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

import softeqx
from helpers import assert_golden, central_difference, slow_params
from softeqx._methods.registry import METHODS
from softeqx._methods.smooth_sort import soft_permutation
from softeqx._projections import permutahedron
from softeqx.methods import FastSoftSort, SmoothSort


PAV_MODES = permutahedron.PAV_MODES
X = jnp.array([-0.2, -1.0, 0.3, 1.0])  # the input of spec 003


# ---------------------------------------------------------------- a reference


def _block_value(s: np.ndarray, w: np.ndarray, mode: str) -> float:
    """The block value by definition: bisection for the p-norm modes."""
    if mode == "c0":
        return float(np.mean(s - w))
    if mode == "smooth":
        return float(np.logaddexp.reduce(s) - np.logaddexp.reduce(w))
    q = {"c1": 2, "c2": 3}[mode]
    lo, hi = float(np.min(s)) - 10 * (1 + np.max(np.abs(w))), float(np.min(s))
    for _ in range(200):
        mid = (lo + hi) / 2
        if np.sum((s - mid) ** q) > np.sum(w):
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def reference_projection(u, w, eps, mode) -> np.ndarray:
    """Textbook PAV: a list of blocks, each value recomputed from scratch."""
    s = np.asarray(u, np.float64) / eps
    w = np.asarray(w, np.float64)
    offset = 0.0
    if mode in ("c1", "c2"):
        offset = w[-1] - 1
        w = w - offset
    blocks: list[list[int]] = []
    for i in range(len(s)):
        blocks.append([i])
        while len(blocks) > 1 and _block_value(
            s[blocks[-2]], w[blocks[-2]], mode
        ) <= _block_value(s[blocks[-1]], w[blocks[-1]], mode):
            last = blocks.pop()
            blocks[-1] += last
    out = np.zeros(len(s))
    for block in blocks:
        gamma = _block_value(s[block], w[block], mode)
        gap = s[block] - gamma
        out[block] = (
            gap if mode in ("c0", "smooth") else gap ** {"c1": 2, "c2": 3}[mode]
        )
    return out + offset


def brute_force_c0(u, w, eps) -> np.ndarray:
    """The Euclidean projection onto the permutahedron, by its definition.

    Minimises `|mu - u / eps|^2` over the convex hull of the permutations of
    `w` with Frank-Wolfe on the vertices (the linear minimiser over the
    permutahedron is `w` sorted against the gradient), exactly line-searched.
    """
    z = np.asarray(u, np.float64) / eps
    w = np.asarray(w, np.float64)
    mu = w.copy()
    for _ in range(20000):
        grad = mu - z
        vertex = np.empty_like(w)
        vertex[np.argsort(-grad)] = np.sort(w)  # smallest w where grad is largest
        step = mu - vertex
        denominator = step @ step
        if denominator < 1e-30:
            break
        gamma = np.clip((grad @ step) / denominator, 0.0, 1.0)
        mu = mu - gamma * step
    return mu


decreasing = hnp.arrays(
    np.float64, st.integers(1, 7), elements=st.floats(-3, 3, allow_subnormal=False)
).map(lambda a: np.sort(a)[::-1].copy())


@functools.cache
def jitted_project(mode: str, rounds: int = permutahedron.POOLING_ROUNDS):
    """`project`, jitted, with at most `rounds` parallel pooling rounds (0: the
    stack algorithm alone)."""

    def project(u, w, eps):
        saved = permutahedron.POOLING_ROUNDS
        permutahedron.POOLING_ROUNDS = rounds  # read while tracing
        try:
            return permutahedron.project(u, w, eps, mode)
        finally:
            permutahedron.POOLING_ROUNDS = saved

    return jax.jit(project)


@pytest.mark.parametrize("rounds", [0, permutahedron.POOLING_ROUNDS])
@pytest.mark.parametrize("mode", PAV_MODES)
@settings(max_examples=25)
@given(u=decreasing, data=st.data(), eps=st.sampled_from([0.05, 0.4, 3.0]))
def test_pav_matches_textbook_pav(mode, rounds, u, data, eps):
    w = data.draw(
        hnp.arrays(
            np.float64, u.shape, elements=st.floats(-3, 3, allow_subnormal=False)
        ).map(lambda a: np.sort(a)[::-1].copy())
    )
    with jax.enable_x64(True):
        project = jitted_project(mode, rounds)
        got = project(jnp.asarray(u), jnp.asarray(w), jnp.asarray(eps))
    np.testing.assert_allclose(got, reference_projection(u, w, eps, mode), atol=1e-9)


@pytest.mark.parametrize(
    ("mode", "eps"),
    slow_params(
        [("smooth", 0.01), ("c0", 0.03), ("c1", 0.3), ("c2", 0.3)],
        default=[("smooth", 0.01), ("c0", 0.03)],
    ),
)
def test_long_merge_chains_finish_on_the_stack(mode, eps, x64):
    """Widely spread `w` against a fine grid: pooling cascades far beyond the
    parallel rounds in some rows; the stack algorithm must finish them, all
    rows in step, with the textbook answer."""
    n = 300
    rng = np.random.default_rng(3)
    w = np.sort(10 * rng.normal(size=(3, n)), axis=-1)[:, ::-1].copy()
    u = np.broadcast_to(np.linspace(1, 0, n), (3, n)).copy()
    shifted = w - (w[:, -1:] - 1) if mode in ("c1", "c2") else w
    _, final = jax.vmap(permutahedron._pooling_rounds, (0, 0, None, None))(
        jnp.asarray(u), jnp.asarray(shifted), jnp.float64(eps), mode
    )
    assert not np.all(final)  # the case this test is about
    got = jitted_project(mode)(jnp.asarray(u), jnp.asarray(w), jnp.float64(eps))
    for row in range(3):
        want = reference_projection(u[row], w[row], eps, mode)
        np.testing.assert_allclose(got[row], want, atol=1e-9)


@pytest.mark.parametrize("mode", slow_params(["smooth", "c1"], default=["smooth"]))
def test_vmap_folds_into_the_rows_of_one_loop(mode, x64):
    """Under `jax.vmap` (nested, with one softness per instance) the projection
    equals the per-instance textbook answer, and the stack loop runs once over
    all rows (`size * rows` of them) instead of as a batched loop that would
    select its whole stack at every step."""
    n, rows, outer, inner = 40, 2, 2, 3
    rng = np.random.default_rng(5)
    w = np.sort(10 * rng.normal(size=(outer, inner, rows, n)), axis=-1)[..., ::-1]
    u = np.broadcast_to(np.linspace(1, 0, n), w.shape)
    eps = np.array([[0.01, 0.3, 2.0], [0.05, 0.1, 1.0]])

    def project(u, w, eps):
        return permutahedron.project(u, w, eps, mode)

    def check(batched, eps_in, eps_of):
        got = jax.jit(batched)(jnp.asarray(u), jnp.asarray(w), jnp.asarray(eps_in))
        for i, j, r in itertools.product(range(outer), range(inner), range(rows)):
            want = reference_projection(u[i, j, r], w[i, j, r], eps_of(i, j), mode)
            np.testing.assert_allclose(got[i, j, r], want, atol=1e-9)

    batched = jax.vmap(jax.vmap(project))
    check(batched, eps, lambda i, j: eps[i, j])
    program = str(jax.make_jaxpr(batched)(u, w, eps))
    assert f"[{outer * inner * rows},{n}," in program  # one stack for all rows
    # A softness mapped by the inner vmap only.
    check(jax.vmap(jax.vmap(project), (0, 0, None)), eps[0], lambda i, j: eps[0, j])


def test_second_derivatives(x64):
    """Hessians run (forward over reverse and reverse over forward agree), and
    so do gradients under `vmap` with one softness per instance.

    Each transform is jitted: run eagerly, they dispatch (and compile) every
    primitive of the PAV loops one by one, which took several seconds. The
    jitted per-instance gradient compiles once for both softnesses."""
    x = jnp.array([0.3, -1.0, 2.0, 0.5, 0.45])

    def loss(x, softness):
        out = softeqx.sort(x, softness=softness, method="fast_soft_sort")
        return jnp.sum(out * jnp.arange(5.0) ** 2)

    forward_over_reverse = jax.jit(jax.jacfwd(jax.grad(loss)))(x, 0.7)
    reverse_over_forward = jax.jit(jax.jacrev(jax.jacfwd(loss)))(x, 0.7)
    assert np.all(np.isfinite(forward_over_reverse))
    assert np.any(forward_over_reverse != 0)
    np.testing.assert_allclose(forward_over_reverse, reverse_over_forward, atol=1e-10)
    softnesses = jnp.array([0.1, 0.7])
    per_instance = jax.jit(jax.vmap(jax.grad(loss), (None, 0)))(x, softnesses)
    gradient = jax.jit(jax.grad(loss))
    for row, softness in zip(per_instance, softnesses, strict=True):
        np.testing.assert_allclose(row, gradient(x, softness), atol=1e-12)


@pytest.mark.parametrize("batch", [1, 3])
def test_the_stack_is_updated_in_place(batch):
    """The stack loop reads and writes its `(batch, n)` stack at one position
    per iteration; if XLA had to keep a read for after a write, it would copy
    the whole stack every iteration (`O(n^2)` per row: a flattened input of
    32768 elements took 1.6 s instead of 30 ms). Loop-carried copies show in
    the compiled program as copies of the loop's tuple elements."""
    n = 64
    u = jnp.zeros((batch, n))
    program = (
        jax.jit(functools.partial(permutahedron._pav, mode="smooth"))
        .lower(u, u, jnp.float32(0.1))
        .compile()
        .as_text()
    )
    stack_copy = re.compile(
        rf"[fs]32\[{batch},{n}(,\d+)?\]\S* copy\(%get-tuple-element"
    )
    assert program.count("while(") >= 2  # pooling rounds, then the stack
    assert not stack_copy.search(program)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_c0_is_the_euclidean_projection(n, x64):
    rng = np.random.default_rng(n)
    for eps in (0.3, 1.0):
        u = np.sort(rng.normal(size=n))[::-1]
        w = np.sort(rng.normal(size=n))[::-1]
        got = jitted_project("c0")(jnp.asarray(u), jnp.asarray(w), jnp.asarray(eps))
        np.testing.assert_allclose(got, brute_force_c0(u, w, eps), atol=1e-5)


@pytest.mark.parametrize("mode", PAV_MODES)
def test_projection_lies_in_the_permutahedron(mode, x64):
    # Majorisation: the sorted prefix sums of mu are at most those of w.
    rng = np.random.default_rng(3)
    for eps in (0.05, 0.5, 5.0):
        u = np.sort(rng.normal(size=8))[::-1]
        w = np.sort(rng.normal(size=8))[::-1]
        mu = np.asarray(
            jitted_project(mode)(jnp.asarray(u), jnp.asarray(w), jnp.asarray(eps))
        )
        assert np.all(mu >= w[-1] - 1e-9) and np.all(mu <= w[0] + 1e-9)
        if mode == "smooth":  # log-space KL: exp(mu) lies in P(exp(w))
            mu, w = np.exp(mu), np.exp(w)
        prefix_mu = np.cumsum(np.sort(mu)[::-1])
        prefix_w = np.cumsum(w)
        assert np.all(prefix_mu <= prefix_w + 1e-9)
        np.testing.assert_allclose(prefix_mu[-1], prefix_w[-1], atol=1e-9)


# ---------------------------------------------------------------- derivatives


def _ops(mode):
    return {
        "sort": lambda a, e: permutahedron.soft_sort(a, e, mode),
        "rank": lambda a, e: permutahedron.soft_rank(a, e, mode),
    }


@pytest.mark.parametrize(
    ("op", "mode"),
    slow_params(
        [(op, mode) for op in ("sort", "rank") for mode in PAV_MODES],
        default={("sort", "c0"), ("rank", "c1")},
    ),
)
def test_jacobians_five_ways(op, mode, x64):
    f = _ops(mode)[op]
    rng = np.random.default_rng(11)
    a = jnp.asarray(rng.uniform(0, 1, size=(2, 7)))
    eps = jnp.asarray(0.4 if op == "sort" else 0.15)
    v = jnp.asarray(rng.normal(size=a.shape))
    g = jnp.asarray(rng.normal(size=a.shape))
    # 1. jacfwd = jacrev
    fwd = jax.jit(jax.jacfwd(f))(a, eps)
    rev = jax.jit(jax.jacrev(f))(a, eps)
    np.testing.assert_allclose(fwd, rev, atol=1e-12)
    # 2. JVP = central finite difference (inputs and softness)
    _, tangent = jax.jit(lambda a, v: jax.jvp(lambda a: f(a, eps), (a,), (v,)))(a, v)
    value = jax.jit(f)
    np.testing.assert_allclose(
        tangent, central_difference(lambda a: value(a, eps), a, v), atol=1e-7
    )
    d_eps = jax.jit(jax.jacrev(f, argnums=1))(a, eps)
    fd_eps = central_difference(lambda e: value(a, e), eps, jnp.ones(()))
    np.testing.assert_allclose(d_eps, fd_eps, atol=1e-7)
    # 3. VJP = g @ J
    cotangent = jax.jit(lambda a, g: jax.vjp(lambda a: f(a, eps), a)[1](g)[0])(a, g)
    expected = jnp.einsum("bi,bicd->cd", g, fwd)
    np.testing.assert_allclose(cotangent, expected, atol=1e-12)
    # 4. the Jacobian is block-constant: rows of one block are proportional
    # (c0: the rows of a block are equal). 5. closed form for c0: the sort's
    # Jacobian w.r.t. the sorted values is the block-averaging matrix.
    if mode == "c0" and op == "sort":
        values = jnp.sort(a, axis=-1)
        # Jitted: op by op, the PAV loops dispatch and compile a hundred ops.
        jac = jax.jit(jax.jacfwd(lambda s: permutahedron.soft_sort(s, eps, "c0")))(
            values
        )
        for b in range(2):
            block = np.asarray(jac[b, :, b, :])
            np.testing.assert_allclose(block, block.T, atol=1e-12)  # symmetric
            np.testing.assert_allclose(block.sum(0), 1.0, atol=1e-12)
            np.testing.assert_allclose(block @ block, block, atol=1e-12)  # projector


def test_rank_jacobian_is_block_constant_for_c0(x64):
    # Tied scores pool into one block B with 0.52: there the Jacobian is
    # (identity - 1/|B|) / eps, constant off the diagonal; zero elsewhere.
    a = jnp.array([0.1, 0.5, 0.5, 0.9, 0.52])
    eps = 0.1
    jac = jax.jit(
        jax.jacfwd(lambda a: permutahedron.soft_rank(a, jnp.asarray(eps), "c0"))
    )(a)
    block = [1, 2, 4]
    expected = np.zeros((5, 5))
    expected[np.ix_(block, block)] = (np.eye(3) - 1 / 3) / eps
    np.testing.assert_allclose(jac, expected, atol=1e-12)


# ---------------------------------------------------------------- the ops


def test_golden_fast_soft_sort():
    out = softeqx.sort(X, method="fast_soft_sort", softness=2.0)
    assert_golden(out, [-0.7462, -0.1971, 0.2938, 0.8569])


@pytest.mark.parametrize("method", ["fast_soft_sort", "smooth_sort"])
def test_hard_parity(method):
    x = jnp.array([[0.3, -1.2, 2.5, 0.9], [1.0, 1.0, -3.0, 0.0]])
    kw = dict(method=method, mode="hard", axis=-1)
    np.testing.assert_array_equal(softeqx.sort(x, **kw), jnp.sort(x, axis=-1))
    np.testing.assert_array_equal(
        softeqx.rank(x, **kw), jnp.array([[2.0, 1.0, 4.0, 3.0], [3.5, 3.5, 1.0, 2.0]])
    )


def _modes(method):
    return METHODS[method].modes


# The default run covers smooth_sort and fast_soft_sort in "c1" (a p-norm mode;
# the contract suite of test_methods covers both methods in "smooth"); the
# other pairs run with the slow tests.
DEFAULT_CASES = {("fast_soft_sort", "c1")}
CASES = slow_params(
    [(m, mode) for m in ("fast_soft_sort", "smooth_sort") for mode in _modes(m)],
    default={*DEFAULT_CASES, ("smooth_sort", "smooth")},
)


@pytest.mark.parametrize(("method", "mode"), CASES)
def test_soft_sort_is_monotone_and_in_range(method, mode, getkey):
    x = 3 * jax.random.normal(getkey(), (5, 9))
    for softness in (0.05, 0.5, 5.0):
        out = softeqx.sort(x, axis=-1, method=method, mode=mode, softness=softness)
        assert np.all(np.diff(np.asarray(out), axis=-1) >= -1e-5)
        assert np.all(out >= x.min(-1, keepdims=True) - 1e-5)
        assert np.all(out <= x.max(-1, keepdims=True) + 1e-5)


@pytest.mark.parametrize(("method", "mode"), CASES)
def test_converges_to_hard_sort(method, mode):
    x = jnp.array([0.3, -1.2, 2.5, 0.9, -0.4, 1.7, -2.2])
    kw = dict(method=method, mode=mode)
    errors = [
        float(jnp.max(jnp.abs(softeqx.sort(x, softness=s, **kw) - jnp.sort(x))))
        for s in (1.0, 0.1, 1e-2, 1e-3)
    ]
    assert errors[-1] < 1e-4
    assert all(b <= a + 1e-6 for a, b in itertools.pairwise(errors))
    ranks = softeqx.rank(x, softness=1e-3, **kw)
    np.testing.assert_allclose(ranks, softeqx.rank(x, mode="hard"), atol=1e-4)


@pytest.mark.parametrize("mode", ["c1", "c2"])
@pytest.mark.parametrize("softness", [1e-3, 1e-4])
def test_tiny_softness_gives_correct_values(mode, softness):
    # The reference returns a "sort" of [-0.5, 8.35, 8.35, 8.35, 8.35] and a
    # rank of -252 here (float32, the user's default).
    x = jnp.array([-0.5, 8.35, 3.0, 1.0, 2.0])
    kw = dict(method="fast_soft_sort", mode=mode, softness=softness)
    np.testing.assert_allclose(softeqx.sort(x, **kw), jnp.sort(x), atol=1e-5)
    np.testing.assert_allclose(softeqx.rank(x, **kw), [1, 5, 4, 2, 3], atol=1e-5)
    raw = dict(kw, standardize=False)
    np.testing.assert_allclose(softeqx.sort(x, **raw), jnp.sort(x), atol=1e-5)
    np.testing.assert_allclose(softeqx.rank(x, **raw), [1, 5, 4, 2, 3], atol=1e-5)


def _losses(x, softness, method, mode):
    kw = dict(method=method, mode=mode, softness=softness)
    w = jnp.linspace(-1.0, 2.0, x.shape[0])
    return jnp.stack(
        [
            w @ softeqx.sort(x, **kw),
            w @ softeqx.rank(x, **kw),
            jnp.sum(softeqx.top_k(x, 1, **kw)[0]),
            jnp.sum(w * (softeqx.argsort(x, **kw) @ w)),
        ]
    )


HAZARDS = {
    "constant": jnp.full(6, 3.0),
    "ties": jnp.array([1.0, 2.0, 2.0, 3.0, 1.0, 3.0]),
    "huge": 1e6 * jnp.array([0.3, -1.2, 2.5, 0.9, -0.4, 1.7]),
    "single": jnp.array([0.7]),
}


@functools.cache
def _loss_jacobians(method, mode):
    """`jacrev` of `_losses` in `x` and the softness, jitted once per case."""
    losses = functools.partial(_losses, method=method, mode=mode)
    return jax.jit(jax.jacrev(losses, argnums=(0, 1)))


@pytest.mark.parametrize(("method", "mode"), CASES)
@pytest.mark.parametrize("softness", [0.1, 1e-3])
def test_gradients_are_finite_at_hazards(method, mode, softness):
    for name, x in HAZARDS.items():
        d_x, d_s = _loss_jacobians(method, mode)(x, jnp.float32(softness))
        assert np.all(np.isfinite(np.asarray(d_x))), (name, d_x)
        assert np.all(np.isfinite(np.asarray(d_s))), (name, d_s)


def test_smooth_sort_gradient_finite_at_tiny_softness():
    # The reference gives NaN here.
    x = jnp.array([0.3, -1.2, 2.5, 0.9, -0.4, 1.7, 0.3])
    # Jitted once for both softnesses (traced): eagerly, the gradient
    # dispatched and compiled its ops one by one.
    gradient = jax.jit(
        jax.grad(
            lambda x, s: jnp.sum(
                softeqx.sort(x, method="smooth_sort", softness=s) ** 2
            ),
            argnums=(0, 1),
        )
    )
    for softness in (1e-3, 1e-4):
        g = gradient(x, jnp.float32(softness))
        assert all(np.all(np.isfinite(np.asarray(t))) for t in g)


@pytest.mark.parametrize(("method", "mode"), CASES)
def test_jacfwd_works(method, mode):
    x = jnp.array([0.3, -1.2, 2.5, 0.9, -0.4])
    for op in (softeqx.sort, softeqx.rank):
        f = functools.partial(op, method=method, mode=mode, softness=0.5)
        np.testing.assert_allclose(
            jax.jit(jax.jacfwd(f))(x), jax.jit(jax.jacrev(f))(x), rtol=1e-4, atol=1e-5
        )


@pytest.mark.parametrize(("method", "mode"), CASES)
def test_jit_vmap_grad_and_traced_softness(method, mode, getkey):
    traces = {"n": 0}

    def loss(x, softness):
        traces["n"] += 1
        kw = dict(method=method, mode=mode, softness=softness, axis=-1)
        return jnp.sum(softeqx.sort(x, **kw) ** 2) + jnp.sum(softeqx.rank(x, **kw))

    f = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1)), in_axes=(0, None)))
    x = jax.random.normal(getkey(), (3, 2, 6))
    first = f(x, jnp.float32(0.3))
    second = f(x, jnp.float32(1.7))
    assert traces["n"] == 1
    assert all(np.all(np.isfinite(np.asarray(t))) for t in (*first, *second))
    single = jax.jit(jax.grad(loss, argnums=(0, 1)))(x[1], jnp.float32(0.3))
    np.testing.assert_allclose(first[0][1], single[0], rtol=1e-4, atol=1e-5)


def test_smooth_sort_rejects_other_modes():
    for mode in ("c0", "c1", "c2"):
        with pytest.raises(ValueError, match=r"smooth_sort.*only supports"):
            softeqx.sort(X, method="smooth_sort", mode=mode)
    with pytest.raises(ValueError, match="`mode`"):
        softeqx.rank(X, method=SmoothSort(), mode="c0")


def test_smooth_sort_matrix_is_doubly_stochastic_and_smooth(x64):
    x = jnp.array([0.3, -1.2, 2.5, 0.9, -0.4, 1.7])
    p = jax.jit(soft_permutation)(x, jnp.asarray(0.7))  # one compilation, not many
    assert np.all(np.asarray(p) >= -1e-12)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(p.sum(-2), 1.0, atol=1e-12)
    # C-infinity: second derivatives exist and agree with finite differences.
    f = lambda x: soft_permutation(x, jnp.asarray(0.7))[2] @ x  # noqa: E731
    hess = jax.jit(jax.hessian(f))(x)
    v = jnp.asarray(np.random.default_rng(0).normal(size=6))
    grad_fd = central_difference(jax.jit(jax.grad(f)), x, v, h=1e-5)
    np.testing.assert_allclose(hess @ v, grad_fd, atol=1e-6)


def test_smooth_sort_matrix_is_accurate_in_float32(x64):
    # Clustered scores at n = 128 and spread ones at n = 300: a recursion on
    # log-ESPs (values up to sum(x) / softness) gave rows summing to 1.2 in
    # the first case and NaN rows in the second (its empty sums' derivatives
    # doubled at every step).
    rng = np.random.default_rng(3)
    clustered = np.repeat(rng.normal(size=4), 32) + 1e-3 * rng.normal(size=128)
    spread = rng.normal(size=300)
    matrix = jax.jit(soft_permutation)
    sort = jax.jit(functools.partial(softeqx.sort, method="smooth_sort"))
    for scores in (clustered, spread):
        exact = matrix(jnp.asarray(scores, jnp.float64), jnp.asarray(0.1, jnp.float64))
        p = matrix(jnp.asarray(scores, jnp.float32), jnp.asarray(0.1, jnp.float32))
        np.testing.assert_allclose(p, exact, rtol=0, atol=2e-6)
        np.testing.assert_allclose(p.sum(-1), 1.0, atol=5e-5)
        values = sort(jnp.asarray(scores, jnp.float32))
        np.testing.assert_allclose(values, sort(jnp.asarray(scores)), rtol=0, atol=2e-5)


@pytest.mark.parametrize(
    "mode",
    slow_params(PAV_MODES, default={"smooth"}),
)
def test_fast_soft_sort_index_rows_are_distributions(mode, getkey):
    x = jax.random.normal(getkey(), (4, 8))

    @jax.jit
    def index_ops(x):
        kw = dict(method="fast_soft_sort", mode=mode)
        p = softeqx.argsort(x, axis=-1, method=FastSoftSort(), mode=mode, softness=0.2)
        values, index = softeqx.top_k(x, 3, **kw)
        q = softeqx.argquantile(x, jnp.array([0.2, 0.7]), axis=-1, **kw)
        return p, values, index, q

    p, values, index, q = index_ops(x)
    assert p.shape == (4, 8, 8)
    assert np.all(np.asarray(p) >= 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    assert values.shape == (4, 3) and index.shape == (4, 3, 8)
    assert q.shape == (2, 4, 8)
