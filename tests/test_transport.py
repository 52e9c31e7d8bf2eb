"""The optimal-transport method and its solver (`softeqx._projections.transport`).

The contract every ordering method honours is tested for `"ot"` by
`test_methods.py` (it is parametrised over the registry); this file checks what
is specific to optimal transport: the reference output, doubly stochastic
plans, the solver's settings and limits, exact derivatives in both modes, and
the failures of the reference implementation that softeqx must not share (all
in float32 without x64, the user's default, unless a test says otherwise).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import softeqx
from helpers import SOFT_MODES, assert_golden, check_jvp_fd, count_traces, slow_params
from softeqx._methods.registry import METHODS, resolve_method
from softeqx._projections.transport import (
    default_tolerance,
    solve_potentials,
    sorting_cost,
    sorting_potential,
    transport_plan,
)
from softeqx.methods import NeuralSort, OptimalTransport


X = jnp.array([-0.2, -1.0, 0.3, 1.0])

fast_jit = functools.partial(
    jax.jit,
    compiler_options={
        "xla_backend_optimization_level": 0,
        "xla_llvm_disable_expensive_passes": True,
    },
)


def modes_fast(*fast: str) -> list:
    """Every soft mode; those not in `fast` run with the slow tests only.

    Each mode compiles its own solver loops, which takes seconds; the default
    run covers the entropic mode (the reference's hazards) and one sparse mode.
    """
    return slow_params(SOFT_MODES, default=fast)


def random_scores(key, shape):
    return jax.nn.sigmoid(jax.random.normal(key, shape, jnp.float32))


@functools.cache
def plan_fn(mode: str, max_iter: int = 1000, tol: float = 1e-5):
    """The transport plan of sorted targets for scores `a`, jitted."""
    return fast_jit(
        lambda a, s: transport_plan(
            sorting_cost(a), s, sorting_potential(a), mode, max_iter, tol
        )
    )


@functools.cache
def sort_loss_grad(mode: str, method=None):
    """Value and gradient (x, softness) of a weighted soft sort plus soft rank."""
    method = OptimalTransport() if method is None else method

    def loss(x, softness):
        w = jnp.linspace(-1.0, 2.0, x.shape[-1], dtype=x.dtype)
        kw = dict(softness=softness, mode=mode, method=method)
        return jnp.sum(w * softeqx.sort(x, **kw)) + jnp.sum(w * softeqx.rank(x, **kw))

    return fast_jit(jax.value_and_grad(loss, argnums=(0, 1)))


# ---------------------------------------------------------------- reference values


def test_sort_golden():
    # Spec 003: st.sort(x, method="ot", softness=0.1) with the default
    # standardisation (logistic of the z-score), targets evenly spaced in [0, 1].
    assert_golden(
        softeqx.sort(X, method="ot", softness=0.1), [-0.7324, -0.2396, 0.3286, 0.7434]
    )


def test_golden_through_method_object_and_ot_kwargs():
    expected = softeqx.sort(X, method="ot", softness=0.1)
    by_object = softeqx.sort(X, method=OptimalTransport(), softness=0.1)
    by_kwargs = softeqx.sort(
        X, method="ot", softness=0.1, ot_kwargs={"max_iter": 500, "tol": 1e-6}
    )
    np.testing.assert_allclose(by_object, expected, atol=1e-6)
    np.testing.assert_allclose(by_kwargs, expected, atol=1e-5)


def without_ot_kwargs(kw: dict) -> dict:
    """rank and the quantile ops have no `ot_kwargs` in the spec."""
    return {key: value for key, value in kw.items() if key != "ot_kwargs"}


@pytest.mark.parametrize(
    "op",
    [
        lambda x, **kw: softeqx.sort(x, **kw),
        lambda x, **kw: softeqx.argsort(x, **kw),
        lambda x, **kw: softeqx.rank(x, **without_ot_kwargs(kw)),
        lambda x, **kw: softeqx.top_k(x, 2, **kw)[0],
        lambda x, **kw: softeqx.argmax(x, **kw),
        lambda x, **kw: softeqx.quantile(x, 0.3, **without_ot_kwargs(kw)),
    ],
    ids=["sort", "argsort", "rank", "top_k", "argmax", "quantile"],
)
def test_hard_mode_is_the_same_for_ot(op):
    x = jnp.array([[0.3, -1.0, 2.0, 2.0, 0.1], [5.0, 4.0, -3.0, 0.0, 1.0]])
    kw = dict(mode="hard", ot_kwargs={"max_iter": 3})
    np.testing.assert_array_equal(
        op(x, method="ot", **kw), op(x, method="neuralsort", mode="hard")
    )


# ---------------------------------------------------------------- plans


@pytest.mark.parametrize("mode", SOFT_MODES)
@pytest.mark.parametrize("softness", [0.01, 0.1, 1.0])
def test_plans_are_doubly_stochastic(mode, softness, getkey):
    a = random_scores(getkey(), (3, 40))
    p = np.asarray(plan_fn(mode)(a, jnp.float32(softness)))
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-6)  # rows: exact
    # Columns: to `tol`, or to the float32 rounding floor at small softness,
    # plus the rows' normalisation (the p-norm thresholds are found to 64 ulp).
    floor = 2 * np.finfo(np.float32).eps * 2 / softness
    np.testing.assert_allclose(p.sum(-2), 1.0, atol=max(1e-5, floor) + 1e-5)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_soft_ranks_sum_to_the_triangular_number(mode, getkey):
    x = jax.random.normal(getkey(), (4, 9))
    ranks = softeqx.rank(x, axis=-1, method="ot", mode=mode, softness=0.5)
    np.testing.assert_allclose(ranks.sum(-1), 45.0, rtol=2e-5)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_solver_reaches_its_tolerance(mode, getkey):
    a = random_scores(getkey(), (4, 30))
    cost = sorting_cost(a)
    spread = np.asarray(jnp.max(cost, axis=(-2, -1)) - jnp.min(cost, axis=(-2, -1)))
    for softness in (1e-4, 1e-3, 0.1, 2.0):
        _, steps, err = solve_potentials(
            cost, jnp.float32(softness), mode, 1000, 1e-5, sorting_potential(a)
        )
        # The documented target: tol, or the float32 rounding floor.
        target = np.maximum(1e-5, 2 * np.finfo(np.float32).eps * spread / softness)
        assert int(steps) < 1000, (softness, int(steps))
        assert np.all(np.asarray(err) <= target), (softness, err, target)


@pytest.mark.parametrize("mode", modes_fast("smooth", "c0"))
def test_converges_to_hard_as_softness_vanishes(mode, getkey):
    # Well separated values (a shuffled grid): the plan is hard at 1e-3.
    keys = jax.random.split(getkey(), 3)
    x = jnp.stack([jax.random.permutation(k, jnp.linspace(-2.0, 2.0, 8)) for k in keys])
    hard = jax.nn.one_hot(jnp.argsort(x, axis=-1), 8)
    errors = [
        float(
            jnp.max(
                jnp.abs(
                    softeqx.argsort(x, axis=-1, method="ot", mode=mode, softness=s)
                    - hard
                )
            )
        )
        for s in (1.0, 0.1, 0.01, 1e-3)
    ]
    assert errors == sorted(errors, reverse=True), errors
    assert errors[-1] < 1e-4, errors
    soft = softeqx.sort(x, axis=-1, method="ot", mode=mode, softness=1e-3)
    np.testing.assert_allclose(soft, jnp.sort(x, axis=-1), atol=1e-4)


def test_single_element():
    for mode in SOFT_MODES:
        p = plan_fn(mode)(jnp.array([0.3]), jnp.float32(0.1))
        np.testing.assert_allclose(p, [[1.0]])


# ---------------------------------------------------------------- reference hazards


@pytest.mark.parametrize("softness", [1e-2, 3e-3, 1e-3, 1e-4])
def test_smooth_gradients_finite_at_n5_small_softness(softness, getkey):
    # Reference: "linear solver returned non-finite" at n = 5, softness <= 0.01.
    for _ in range(3):
        x = jax.random.normal(getkey(), (5,))
        value, (d_x, d_s) = sort_loss_grad("smooth")(x, jnp.float32(softness))
        assert np.isfinite(value)
        assert np.all(np.isfinite(d_x)), d_x
        assert np.isfinite(d_s), d_s


@pytest.mark.parametrize("mode", modes_fast("smooth"))
def test_gradients_finite_on_all_equal_inputs(mode):
    # Reference: non-finite gradients when every input is the same.
    for n in (2, 5, 16):
        x = jnp.full((n,), 1.5)
        _, (d_x, d_s) = sort_loss_grad(mode)(x, jnp.float32(0.1))
        assert np.all(np.isfinite(d_x)) and np.isfinite(d_s), (n, d_x, d_s)
    # Without standardisation the plan of equal scores is uniform: the gradient
    # of the sort is the mean's, w.mean() for every element.
    f = jax.jit(  # compiled once rather than differentiated op by op
        jax.grad(
            lambda x: jnp.sum(
                jnp.linspace(-1.0, 2.0, 6)
                * softeqx.sort(x, method="ot", mode=mode, standardize=False)
            )
        )
    )
    np.testing.assert_allclose(f(jnp.full((6,), 1.5)), 0.5, atol=1e-4)


def test_smooth_gradients_finite_at_n256(getkey):
    # Reference: non-finite gradients at n = 256, softness 0.1.
    x = jax.random.normal(getkey(), (256,))
    value, (d_x, d_s) = sort_loss_grad("smooth")(x, jnp.float32(0.1))
    assert np.isfinite(value)
    assert np.all(np.isfinite(d_x)) and np.isfinite(d_s)
    # Each output moves with its inputs: the sort's gradient is a column sum
    # of a doubly stochastic matrix, weighted by w in [-1, 2].
    assert np.all(np.abs(d_x) < 1e3)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["c0", "c1", "c2"])
def test_sparse_gradients_finite_at_n256(mode, getkey):
    x = jax.random.normal(getkey(), (256,))
    _, (d_x, d_s) = sort_loss_grad(mode)(x, jnp.float32(0.1))
    assert np.all(np.isfinite(d_x)) and np.isfinite(d_s)


@pytest.mark.parametrize(
    "mode",
    slow_params(["c0", "c1", "c2"], default={"c0"}),
)
def test_sparse_modes_are_ordered_at_tiny_softness(mode, getkey):
    # Reference: c-modes return unordered "sorts" at softness 1e-4.
    x = jax.random.normal(getkey(), (6, 12))
    keys = jax.random.split(getkey(), 6)
    grid = jnp.stack(
        [jax.random.permutation(k, jnp.linspace(-2.0, 2.0, 12)) for k in keys]
    )
    for softness in (1e-4, 1e-3):
        kw = dict(axis=-1, method="ot", mode=mode, softness=softness)
        y = softeqx.sort(x, **kw)
        assert np.all(np.diff(np.asarray(y), axis=-1) >= 0)
        # Well separated values: exactly the hard sort and ranks.
        np.testing.assert_allclose(softeqx.sort(grid, **kw), jnp.sort(grid), atol=1e-5)
        ranks = softeqx.rank(grid, **kw)
        np.testing.assert_allclose(ranks, jnp.argsort(jnp.argsort(grid)) + 1, atol=1e-4)


@pytest.mark.parametrize("mode", modes_fast("smooth", "c0"))
def test_soft_sort_is_non_decreasing(mode, getkey):
    # Entropic and p-norm plans between 1-D measures with this cost are
    # monotone: later positions draw from larger elements.
    x = 2.0 * jax.random.normal(getkey(), (5, 10))
    for softness in (0.03, 0.3, 3.0):
        y = np.asarray(
            softeqx.sort(x, axis=-1, method="ot", mode=mode, softness=softness)
        )
        assert np.all(np.diff(y, axis=-1) >= -1e-5), softness


@pytest.mark.parametrize("mode", modes_fast("smooth"))
def test_hitting_max_iter_never_aborts_under_jit(mode, getkey):
    # Reference: raises inside jit when the solver hits its step limit.
    x = jax.random.normal(getkey(), (64,))
    for max_iter in (1, 3):
        method = OptimalTransport(max_iter=max_iter, tol=1e-9)
        value, (d_x, d_s) = sort_loss_grad(mode, method)(x, jnp.float32(1e-3))
        assert np.isfinite(value) and np.all(np.isfinite(d_x)) and np.isfinite(d_s)
        p = softeqx.argsort(x, method=method, mode=mode, softness=1e-3)
        np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)  # rows stay exact
    a = random_scores(getkey(), (2, 64))
    _, steps, err = solve_potentials(sorting_cost(a), jnp.float32(1e-3), mode, 3, 1e-9)
    assert int(steps) == 3
    assert np.all(np.asarray(err) > 1e-9)  # reported, not raised


def test_best_iterate_is_returned(getkey):
    a = random_scores(getkey(), (2, 50))
    cost = sorting_cost(a)
    errors = [
        np.asarray(solve_potentials(cost, jnp.float32(0.05), "smooth", m, 1e-12)[2])
        for m in (30, 60, 120)
    ]
    # More sweeps never return a worse plan (the best one is kept).
    assert np.all(errors[1] <= errors[0]) and np.all(errors[2] <= errors[1])


# ---------------------------------------------------------------- derivatives


@pytest.mark.parametrize("mode", modes_fast("smooth", "c1"))
def test_custom_jvp_matches_finite_differences(mode, getkey, x64):
    # A generic cost (not only sorting costs), float64, tight tolerance.
    n = 5
    cost = jax.random.uniform(getkey(), (n, n), jnp.float64)
    weights = jax.random.normal(getkey(), (n, n), jnp.float64)
    eps = jnp.float64(0.3)

    def of_cost(c):
        return transport_plan(c.reshape(n, n), eps, None, mode, 5000, 1e-13).ravel()

    check_jvp_fd(of_cost, cost.ravel(), getkey(), h=1e-6, rtol=1e-5, atol=1e-8)

    def of_eps(s):
        return jnp.sum(weights * transport_plan(cost, s[0], None, mode, 5000, 1e-13))[
            None
        ]

    check_jvp_fd(of_eps, jnp.array([0.3]), getkey(), h=1e-6, rtol=1e-5, atol=1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("mode", SOFT_MODES)
def test_op_gradients_match_finite_differences(mode, getkey, x64):
    x = jnp.array([0.3, -1.2, 2.5, 0.9, -0.4, 1.7], jnp.float64)
    method = OptimalTransport(max_iter=5000)

    def f(z):
        kw = dict(method=method, mode=mode, softness=jnp.float64(0.2))
        return jnp.concatenate(
            [softeqx.sort(z, **kw), softeqx.rank(z, **kw), softeqx.top_k(z, 2, **kw)[0]]
        )

    check_jvp_fd(f, x, getkey(), h=1e-6, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("mode", modes_fast("smooth"))
def test_jacfwd_works_float32(mode, getkey):
    # Reference: jax.jacfwd fails for ot.
    x = jax.random.normal(getkey(), (6,))

    def f(x, s):
        return softeqx.sort(x, method="ot", mode=mode, softness=s)

    fwd = jax.jit(jax.jacfwd(f, argnums=(0, 1)))(x, jnp.float32(0.2))
    rev = jax.jit(jax.jacrev(f, argnums=(0, 1)))(x, jnp.float32(0.2))
    np.testing.assert_allclose(fwd[0], rev[0], atol=1e-4)
    np.testing.assert_allclose(fwd[1], rev[1], atol=1e-4)
    assert np.all(np.isfinite(fwd[0]))


# ---------------------------------------------------------------- transformations


def test_traced_softness_does_not_recompile(getkey):
    f, counter = count_traces(
        lambda x, s: softeqx.sort(x, method="ot", softness=s, mode="c1")
    )
    g, grad_counter = count_traces(
        jax.grad(lambda x, s: jnp.sum(softeqx.rank(x, method="ot", softness=s)))
    )
    x = jax.random.normal(getkey(), (7,))
    first = f(x, jnp.float32(0.1))
    second = f(x, jnp.float32(0.4))
    g(x, jnp.float32(0.1))
    g(x, jnp.float32(0.05))
    assert counter["traces"] == 1 and grad_counter["traces"] == 1
    assert not np.allclose(first, second)


def test_jit_vmap_grad_agree(getkey):
    x = jax.random.normal(getkey(), (3, 2, 9))

    def loss(x, s):
        return jnp.sum(softeqx.sort(x, axis=-1, method="ot", softness=s) ** 2)

    # The problems of a batch are solved together and iterate until the slowest
    # has converged: one by one they agree to the solver's tolerance (1e-5).
    atol = 3e-5
    batched = softeqx.sort(x, axis=-1, method="ot", softness=0.2)
    mapped = jax.jit(
        jax.vmap(jax.vmap(lambda r: softeqx.sort(r, method="ot", softness=0.2)))
    )(x)
    np.testing.assert_allclose(batched, mapped, atol=atol)
    jitted = jax.jit(lambda x: softeqx.sort(x, axis=-1, method="ot", softness=0.2))(x)
    np.testing.assert_allclose(jitted, batched, atol=atol)
    g = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, jnp.float32(0.2))
    g_rows = jax.jit(
        jax.vmap(jax.vmap(jax.grad(loss, argnums=(0, 1)), (0, None)), (0, None))
    )(x, jnp.float32(0.2))
    np.testing.assert_allclose(g[0], g_rows[0], atol=10 * atol)
    np.testing.assert_allclose(g[1], jnp.sum(g_rows[1]), rtol=1e-3)
    # vmap over the softness, as the layers' annealing does.
    over_s = jax.jit(
        jax.vmap(lambda s: softeqx.sort(x[0, 0], method="ot", softness=s))
    )(jnp.array([0.1, 0.5]))
    np.testing.assert_allclose(
        over_s[0], softeqx.sort(x[0, 0], method="ot", softness=0.1), atol=atol
    )


# ---------------------------------------------------------------- settings


def test_ot_is_registered():
    assert METHODS["ot"] is OptimalTransport
    assert isinstance(resolve_method("ot"), OptimalTransport)


def test_ot_kwargs_map_onto_the_method_fields():
    method = resolve_method("ot", {"max_iter": 7, "tol": 1e-3})
    assert method == OptimalTransport(max_iter=7, tol=1e-3)
    # ott-jax's names, which the reference forwards, are accepted too.
    assert resolve_method("ot", {"max_iterations": 9, "threshold": 1e-4}) == (
        OptimalTransport(max_iter=9, tol=1e-4)
    )
    # A configured object keeps the settings ot_kwargs does not override.
    assert resolve_method(OptimalTransport(max_iter=11, tol=1e-2), {"tol": 1e-3}) == (
        OptimalTransport(max_iter=11, tol=1e-3)
    )
    x = jnp.linspace(-1.0, 1.0, 8)
    np.testing.assert_array_equal(
        softeqx.sort(x, method="ot", softness=1e-3, ot_kwargs={"max_iter": 2}),
        softeqx.sort(x, method=OptimalTransport(max_iter=2), softness=1e-3),
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_itr": 5}, "Unknown key 'max_itr'"),
        ({"epsilon": 0.1}, "allowed keys"),
        ({"max_iter": 5, "max_iterations": 6}, "twice"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
    ],
)
def test_bad_ot_kwargs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        softeqx.sort(X, method="ot", ot_kwargs=kwargs)


def test_ot_kwargs_with_another_method_raise():
    with pytest.raises(ValueError, match="ot_kwargs"):
        softeqx.sort(X, method="neuralsort", ot_kwargs={"max_iter": 5})
    with pytest.raises(ValueError, match="ot_kwargs"):
        softeqx.sort(X, method=NeuralSort(), ot_kwargs={"max_iter": 5})


def test_default_tolerance_per_dtype():
    assert default_tolerance(jnp.float32) == 1e-5
    assert default_tolerance(jnp.float64) == 1e-12
    assert OptimalTransport().tol is None
