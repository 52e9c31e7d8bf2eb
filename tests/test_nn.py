"""Tests of the soft layers (`softeqx.nn`): one test per contract of the layers."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import softeqx
from softeqx import nn


# name -> (layer factory, the functional op with the same configuration).
# Each entry builds the layer from `softness` and keyword overrides, and calls the
# op with `softness` and `mode`; the layer must agree with the op bit for bit.
def _case(layer_cls, op, layer_kwargs=(), op_kwargs=None, positional=()):
    layer_kwargs = dict(layer_kwargs)
    op_kwargs = dict(layer_kwargs if op_kwargs is None else op_kwargs)

    def make(**kw):
        return layer_cls(*positional, **layer_kwargs, **kw)

    def call(x, softness, mode):
        return op(x, *positional, softness=softness, mode=mode, **op_kwargs)

    return make, call


CASES = {
    "relu": _case(nn.SoftReLU, softeqx.relu),
    "relu_gated": _case(nn.SoftReLU, softeqx.relu, {"gated": True}),
    "clip": _case(nn.SoftClip, softeqx.clip, positional=(-0.5, 0.5)),
    "round": _case(nn.SoftRound, softeqx.round, {"neighbor_radius": 3}),
    "sign": _case(nn.SoftSign, softeqx.sign),
    "abs": _case(nn.SoftAbs, softeqx.abs),
    "heaviside": _case(nn.SoftHeaviside, softeqx.heaviside),
    "threshold": _case(
        nn.SoftThreshold,
        lambda x, softness, mode: softeqx.greater(x, 0.25, softness, mode),
        {"threshold": 0.25},
        {},
    ),
    "threshold_less_equal": _case(
        nn.SoftThreshold,
        lambda x, softness, mode: softeqx.less_equal(x, -0.1, softness, mode),
        {"threshold": -0.1, "comparison": "less_equal"},
        {},
    ),
    "sort": _case(nn.SoftSort, softeqx.sort, {"axis": -1}),
    "sort_softsort_desc": _case(
        nn.SoftSort,
        softeqx.sort,
        {"axis": -1, "method": "softsort", "descending": True},
    ),
    "argsort": _case(nn.SoftArgSort, softeqx.argsort, {"axis": -1}),
    "rank": _case(nn.SoftRank, softeqx.rank, {"axis": -1}),
    "top_k": _case(nn.SoftTopK, softeqx.top_k, {"k": 2}),
    "max": _case(nn.SoftMax, softeqx.max, {"axis": -1}),
    "argmax": _case(nn.SoftArgMax, softeqx.argmax, {"axis": -1}),
    "min": _case(nn.SoftMin, softeqx.min, {"axis": -1, "mode": "c1"}, {"axis": -1}),
    "argmin": _case(nn.SoftArgMin, softeqx.argmin, {"axis": -1}),
    "quantile": _case(
        nn.SoftQuantile, softeqx.quantile, {"axis": -1}, positional=(0.3,)
    ),
    "quantile_many": _case(
        nn.SoftQuantile,
        lambda x, q, softness, mode, **kw: softeqx.quantile(
            x, jnp.asarray(q), softness=softness, mode=mode, **kw
        ),
        {"axis": -1, "quantile_method": "midpoint"},
        positional=((0.2, 0.9),),
    ),
    "median": _case(nn.SoftMedian, softeqx.median, {"axis": -1}),
    "percentile": _case(
        nn.SoftPercentile, softeqx.percentile, {"axis": -1}, positional=(75.0,)
    ),
}

# The exact hard results with jax.numpy, for the inference-mode test.
JNP = {
    "sort": lambda x: jnp.sort(x, axis=-1),
    "max": lambda x: jnp.max(x, axis=-1),
    "relu": jax.nn.relu,
    "clip": lambda x: jnp.clip(x, -0.5, 0.5),
    "round": jnp.round,
    "median": lambda x: jnp.median(x, axis=-1),
    "top_k": lambda x: jax.lax.top_k(x, 2)[0],
}


def _update(optim, grads, state, params=None):
    """`optim.update`; optax's bias correction mixes int and float dtypes, which
    the suite's strict promotion rejects, so it runs with standard promotion."""
    with jax.numpy_dtype_promotion("standard"):
        return optim.update(grads, state, params)


def _x(getkey, shape=(3, 5)):
    return jax.random.normal(getkey(), shape)


def _assert_tree_equal(a, b):
    jax.tree_util.tree_map(
        lambda u, v: np.testing.assert_array_equal(np.asarray(u), np.asarray(v)), a, b
    )


def _mode_of(name):
    return "c1" if name == "min" else "smooth"


@pytest.mark.parametrize("name", list(CASES))
def test_layer_equals_functional_op(name, getkey):
    make, op = CASES[name]
    x = _x(getkey)
    layer = make(softness=0.3)
    _assert_tree_equal(layer(x), op(x, 0.3, _mode_of(name)))
    # Also with a trained (non-unit) multiplier: the layer uses its effective value.
    layer = nn.SoftSort(axis=-1, softness=0.2, trainable=True)
    layer = eqx.tree_at(lambda m: m.softness_parameter.log_multiplier, layer, 0.5)
    _assert_tree_equal(layer(x), softeqx.sort(x, axis=-1, softness=layer.softness))


@pytest.mark.parametrize("name", list(CASES))
def test_inference_mode_gives_exact_hard_op(name, getkey):
    make, op = CASES[name]
    x = _x(getkey)
    model = [make(softness=0.3), {"inner": make(softness=2.0, trainable=True)}]
    hard_model = eqx.nn.inference_mode(model)
    assert hard_model[0].inference and hard_model[1]["inner"].inference
    for layer in (hard_model[0], hard_model[1]["inner"]):
        _assert_tree_equal(layer(x), op(x, 0.3, "hard"))
    if name in JNP:
        out = hard_model[0](x)
        out = out[0] if name == "top_k" else out
        _assert_tree_equal(out, JNP[name](x))
    # And back.
    soft_model = eqx.nn.inference_mode(hard_model, value=False)
    _assert_tree_equal(soft_model[0](x), op(x, 0.3, _mode_of(name)))


@pytest.mark.parametrize("name", ["relu", "round", "threshold", "sort", "top_k", "max"])
def test_straight_through_hard_forward_soft_gradient(name, getkey):
    make, op = CASES[name]
    x = _x(getkey)
    layer = make(softness=0.5, straight_through=True)
    _assert_tree_equal(layer(x), op(x, 0.5, "hard"))

    def first(out):
        return out[0] if isinstance(out, tuple) else out

    weights = jax.random.normal(getkey(), jnp.shape(first(op(x, 0.5, "smooth"))))
    grad_layer = jax.grad(lambda x: jnp.sum(weights * first(layer(x))))(x)
    grad_soft = jax.grad(lambda x: jnp.sum(weights * first(op(x, 0.5, "smooth"))))(x)
    np.testing.assert_allclose(grad_layer, grad_soft, rtol=1e-6, atol=1e-7)
    assert np.any(np.asarray(grad_layer) != 0)


def _loss(model, x):
    out = model(x)
    out = out[0] if isinstance(out, tuple) else out
    return jnp.sum(jnp.sin(3 * out))


@pytest.mark.parametrize("name", ["relu", "sort", "rank", "quantile", "argmax"])
def test_trainable_softness_is_learnt_and_stays_positive(name, getkey):
    make, _ = CASES[name]
    x = _x(getkey)
    layer = make(softness=0.3, trainable=True)
    assert layer.trainable
    grads = eqx.filter_jit(eqx.filter_grad(_loss))(layer, x)
    g = grads.softness_parameter.log_multiplier
    assert np.isfinite(g) and g != 0
    # The base is never trained.
    assert grads.softness_parameter.log_base == 0
    optim = optax.sgd(2.0 / float(jnp.abs(g)))  # a log-step of 2
    state = optim.init(eqx.filter(layer, eqx.is_inexact_array))
    updates, state = _update(optim, grads, state)
    new = eqx.apply_updates(layer, updates)
    assert new.softness != layer.softness
    assert new.softness > 0 and np.isfinite(new.softness)


@eqx.filter_jit
def _frozen_grad(model, x):
    return eqx.filter_grad(lambda m: _loss(jax.vmap(m), x))(model)


@pytest.mark.parametrize("filter_", [eqx.is_array, eqx.is_inexact_array])
@pytest.mark.parametrize(
    "optim",
    [
        optax.adamw(0.1, weight_decay=0.5),
        optax.chain(optax.add_decayed_weights(0.5), optax.adam(0.1)),
        optax.sgd(0.1, momentum=0.9),
    ],
    ids=["adamw", "adam_l2", "sgd_momentum"],
)
def test_frozen_softness_has_zero_gradient_and_survives_weight_decay(
    filter_, optim, getkey
):
    x = _x(getkey)
    model = eqx.nn.Sequential(
        [
            eqx.nn.Linear(5, 5, key=getkey()),
            nn.SoftReLU(softness=0.2),
            nn.SoftSort(axis=-1, softness=0.7),
        ]
    )
    before = softeqx.softness_values(model)
    weight = model.layers[0].weight
    state = optim.init(eqx.filter(model, filter_))
    for _ in range(5):
        grads = _frozen_grad(model, x)
        for layer in (grads.layers[1], grads.layers[2]):
            assert layer.softness_parameter.log_base == 0
            assert layer.softness_parameter.log_multiplier == 0
        updates, state = _update(optim, grads, state, eqx.filter(model, filter_))
        model = eqx.apply_updates(model, updates)
    after = softeqx.softness_values(model)
    # The rest of the model did train ...
    assert not np.array_equal(model.layers[0].weight, weight)
    # ... and the frozen softness is bit for bit the same.
    _assert_tree_equal(after, before)


def test_frozen_softness_survives_decay_after_training(getkey):
    """A learnt softness, frozen with `freeze_softness`, no longer moves."""
    x = _x(getkey)
    layer = nn.SoftSort(axis=-1, softness=0.3, trainable=True)
    optim = optax.adamw(0.05, weight_decay=1.0)
    state = optim.init(eqx.filter(layer, eqx.is_array))
    for _ in range(3):
        grads = eqx.filter_jit(eqx.filter_grad(_loss))(layer, x)
        updates, state = _update(optim, grads, state, eqx.filter(layer, eqx.is_array))
        layer = eqx.apply_updates(layer, updates)
    trained = layer.softness
    assert trained != jnp.float32(0.3)
    frozen = softeqx.freeze_softness(layer)
    assert not frozen.trainable
    np.testing.assert_allclose(frozen.softness, trained, rtol=1e-6)
    value = frozen.softness
    state = optim.init(eqx.filter(frozen, eqx.is_array))
    for _ in range(3):
        grads = eqx.filter_jit(eqx.filter_grad(_loss))(frozen, x)
        updates, state = _update(optim, grads, state, eqx.filter(frozen, eqx.is_array))
        frozen = eqx.apply_updates(frozen, updates)
    np.testing.assert_array_equal(frozen.softness, value)


@pytest.mark.parametrize(
    "bad, error",
    [
        (0.0, ValueError),
        (-0.1, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (jnp.array([0.1, 0.2]), ValueError),
        (np.ones((1,)), ValueError),
        ("0.1", TypeError),
        (True, TypeError),
    ],
)
@pytest.mark.parametrize("layer_cls", [nn.SoftSort, nn.SoftReLU, nn.SoftMedian])
def test_invalid_softness_rejected_at_construction(bad, error, layer_cls):
    with pytest.raises(error, match="softness"):
        layer_cls(softness=bad)


def test_invalid_configuration_rejected_at_construction():
    with pytest.raises(ValueError, match="either `softness` or `schedule`"):
        nn.SoftSort(softness=0.1, schedule=optax.constant_schedule(0.2))
    with pytest.raises(ValueError, match="schedule"):
        nn.SoftSort(schedule=lambda step: 0.0)
    # A bad `mode` literal may be caught by the test suite's runtime type checker.
    with pytest.raises((ValueError, TypeError), match="mode"):
        nn.SoftSort(mode="soft")
    with pytest.raises(ValueError, match="method"):
        nn.SoftSort(method="bogus")
    with pytest.raises(ValueError, match="q"):
        nn.SoftQuantile(1.5)
    with pytest.raises((ValueError, TypeError), match="comparison"):
        nn.SoftThreshold(comparison="bigger")
    with pytest.raises(TypeError, match="trainable"):
        nn.SoftSort(trainable=1)
    with pytest.raises(ValueError, match="k"):
        nn.SoftTopK(0)


def test_traced_invalid_softness_fails_at_run_time():
    make = eqx.filter_jit(lambda s: nn.SoftSort(softness=s).softness)
    assert make(jnp.float32(0.5)) == jnp.float32(0.5)
    with pytest.raises(Exception, match="softness"):
        make(jnp.float32(-1.0))


def test_vmap_ensemble_with_different_softness(getkey):
    x = _x(getkey, (4, 6))
    xs = _x(getkey, (3, 6))
    softness = jnp.array([0.05, 0.3, 1.0])

    @eqx.filter_jit
    def run(softness, trainable):
        ensemble = eqx.filter_vmap(
            lambda s: nn.SoftSort(axis=-1, softness=s, trainable=trainable)
        )(softness)
        shared = eqx.filter_vmap(lambda layer: layer(x))(ensemble)
        # Each member also takes its own input (in_axes on both).
        own = eqx.filter_vmap(lambda layer, x: layer(x))(ensemble, xs)
        expected_shared = jax.vmap(lambda s: softeqx.sort(x, axis=-1, softness=s))(
            ensemble.softness
        )
        expected_own = jax.vmap(lambda s, x: softeqx.sort(x, softness=s))(
            ensemble.softness, xs
        )
        grads = eqx.filter_grad(
            lambda e: jnp.sum(jnp.sin(eqx.filter_vmap(lambda layer: layer(x))(e)))
        )(ensemble)
        return ensemble.softness, shared, own, expected_shared, expected_own, grads

    values, shared, own, expected_shared, expected_own, _ = run(softness, False)
    np.testing.assert_allclose(values, softness, rtol=1e-6)
    np.testing.assert_allclose(shared, expected_shared, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(own, expected_own, rtol=1e-6, atol=1e-6)
    assert not np.allclose(shared[0], shared[2])
    # An ensemble of trainable members gets one gradient per member.
    grads = run(softness, True)[-1]
    g = grads.softness_parameter.log_multiplier
    assert g.shape == (3,) and np.all(np.isfinite(g)) and np.all(g != 0)


class _Stack(eqx.Module):
    linear: eqx.nn.Linear
    layers: list

    def __call__(self, x):
        y = self.linear(x)
        for layer in self.layers:
            y = layer(y)
            y = y[0] if isinstance(y, tuple) else y
        return y


SCHEDULE = optax.exponential_decay(0.5, 10, 0.5)


def _stack(getkey, trainable=True):
    return _Stack(
        eqx.nn.Linear(6, 6, key=getkey()),
        [
            nn.SoftClip(-1.0, 1.0, softness=0.2, trainable=trainable),
            nn.SoftRank(softness=0.1, trainable=trainable),
            nn.SoftSort(softness=0.3, trainable=trainable, method="softsort"),
            nn.SoftTopK(3, softness=0.2, trainable=trainable),
            nn.SoftReLU(schedule=SCHEDULE),
        ],
    )


def test_gradients_finite_through_several_soft_layers(getkey):
    model = _stack(getkey)
    # Include ties and a repeated input.
    xs = jnp.concatenate([_x(getkey, (3, 6)), jnp.zeros((1, 6)), jnp.ones((1, 6))])
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.sum(jax.vmap(m)(xs) ** 2)))(
        model
    )
    leaves = jax.tree_util.tree_leaves(eqx.filter(grads, eqx.is_array))
    assert leaves and all(np.all(np.isfinite(leaf)) for leaf in leaves)
    learnt = [layer.softness_parameter.log_multiplier for layer in grads.layers[:4]]
    assert all(g != 0 for g in learnt)


def _small_stack(getkey):
    return _Stack(
        eqx.nn.Linear(6, 6, key=getkey()),
        [
            nn.SoftClip(-1.0, 1.0, softness=0.2, trainable=True),
            nn.SoftSort(softness=0.3, trainable=True, method="softsort"),
            nn.SoftReLU(schedule=SCHEDULE),
        ],
    )


def test_serialisation_round_trip_is_bit_for_bit(getkey, tmp_path):
    key = jax.random.key(3)
    fresh = functools.partial(_small_stack, lambda: key)
    model = fresh()
    xs = _x(getkey, (4, 6))
    # Partly trained ...
    optim = optax.adam(0.05)
    state = optim.init(eqx.filter(model, eqx.is_inexact_array))
    grad = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.sum(jnp.sin(jax.vmap(m)(xs)))))
    apply = eqx.filter_jit(lambda m, xs: jax.vmap(m)(xs))
    for _ in range(3):
        grads = grad(model)
        updates, state = _update(optim, grads, state)
        model = eqx.apply_updates(model, updates)
    # ... partly annealed, partly set by hand, one layer in inference mode.
    model = softeqx.anneal(model, 7)
    model = softeqx.scale_softness(model, 0.5, paths=[".layers[0].softness_parameter"])
    model = eqx.tree_at(lambda m: m.layers[1].inference, model, True)
    path = tmp_path / "model.eqx"
    eqx.tree_serialise_leaves(path, model)
    loaded = eqx.tree_deserialise_leaves(path, fresh())
    _assert_tree_equal(softeqx.softness_values(loaded), softeqx.softness_values(model))
    assert loaded.layers[1].inference and not loaded.layers[0].inference
    _assert_tree_equal(apply(loaded, xs), apply(model, xs))
    assert eqx.tree_equal(loaded, model)
    # A fresh model differs, so the test can fail.
    assert not np.array_equal(apply(fresh(), xs), apply(model, xs))


def test_layers_work_in_sequential_and_with_key(getkey):
    model = eqx.nn.Sequential(
        [eqx.nn.Linear(4, 4, key=getkey()), nn.SoftReLU(), nn.SoftSort()]
    )
    x = _x(getkey, (4,))
    out = model(x, key=getkey())
    expected = softeqx.sort(softeqx.relu(model.layers[0](x)))
    np.testing.assert_array_equal(out, expected)


class _Scorer(eqx.Module):
    """Scores each of `n` items with a shared linear map, then soft-sorts them."""

    score: eqx.nn.Linear
    sort: nn.SoftSort

    def __call__(self, features):
        return self.sort(jax.vmap(self.score)(features)[:, 0])


def test_end_to_end_training_with_softsort_and_schedule(getkey):
    """Learn the scoring weights from sorted scores alone, annealing the softness."""
    d, n, batch, steps = 3, 6, 32, 150
    w_true = jax.random.normal(getkey(), (d,))
    features = jax.random.normal(getkey(), (batch, n, d))
    targets = jnp.sort(features @ w_true, axis=-1)
    schedule = optax.exponential_decay(0.5, steps, 0.02)
    model = _Scorer(
        eqx.nn.Linear(d, 1, key=getkey()),
        nn.SoftSort(method="softsort", schedule=schedule),
    )
    optim = optax.adam(0.05)
    state = optim.init(eqx.filter(model, eqx.is_array))

    def loss_fn(model):
        return jnp.mean((jax.vmap(model)(features) - targets) ** 2)

    @eqx.filter_jit
    def step(model, state, i):
        model = softeqx.anneal(model, i)
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
        updates, state = _update(optim, grads, state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), state, loss

    initial = loss_fn(model)
    for i in range(steps):
        model, state, loss = step(model, state, jnp.asarray(i))
    hard = eqx.nn.inference_mode(model)
    final_hard = jnp.mean((jax.vmap(hard)(features) - targets) ** 2)
    assert initial > 0.5
    assert loss < 1e-3
    assert final_hard < 1e-3
    assert float(model.sort.softness) == pytest.approx(float(schedule(steps - 1)))


@pytest.mark.parametrize("name", ["sort", "relu", "quantile"])
def test_layers_in_float64(name, x64, getkey):
    make, op = CASES[name]
    x = jax.random.normal(getkey(), (3, 5), dtype=jnp.float64)
    layer = make(softness=0.3, trainable=True)
    assert layer.softness.dtype == jnp.float64
    out = layer(x)
    assert out.dtype == jnp.float64
    _assert_tree_equal(out, op(x, 0.3, "smooth"))
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.sum(m(x))))(layer)
    assert grads.softness_parameter.log_multiplier.dtype == jnp.float64
