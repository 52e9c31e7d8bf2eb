"""Tests of annealing, softness surgery, callbacks, hardness and calibration."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import softeqx
from softeqx import nn


DECAY = optax.exponential_decay(1.0, 10, 0.5)
LINEAR = optax.linear_schedule(0.8, 0.1, 20)


class _Block(eqx.Module):
    inner: eqx.nn.Sequential
    gate: nn.SoftThreshold

    def __call__(self, x):
        return self.gate(self.inner(x))


def _model(getkey):
    """Soft layers in a list, a dict, a nested module and `eqx.nn.Sequential`."""
    return [
        nn.SoftSort(axis=-1, schedule=DECAY),
        {"rank": nn.SoftRank(axis=-1, softness=0.3)},
        _Block(
            eqx.nn.Sequential(
                [
                    eqx.nn.Linear(4, 4, key=getkey()),
                    nn.SoftReLU(schedule=LINEAR, trainable=True),
                ]
            ),
            nn.SoftThreshold(0.0, softness=0.2),
        ),
    ]


PATHS = {
    "sort": "[0].softness_parameter",
    "rank": "[1]['rank'].softness_parameter",
    "relu": "[2].inner.layers[1].softness_parameter",
    "gate": "[2].gate.softness_parameter",
}


def _values(model):
    return {k: float(v) for k, v in softeqx.softness_values(model).items()}


@pytest.mark.parametrize("traced", [False, True])
def test_anneal_sets_scheduled_softness_anywhere_in_the_tree(traced, getkey):
    model = _model(getkey)
    assert _values(model) == pytest.approx(
        {PATHS["sort"]: 1.0, PATHS["rank"]: 0.3, PATHS["relu"]: 0.8, PATHS["gate"]: 0.2}
    )
    anneal = eqx.filter_jit(softeqx.anneal) if traced else softeqx.anneal
    for step in (0, 5, 13):
        annealed = anneal(model, jnp.asarray(step) if traced else step)
        values = _values(annealed)
        assert values[PATHS["sort"]] == pytest.approx(float(DECAY(step)), rel=1e-6)
        assert values[PATHS["relu"]] == pytest.approx(float(LINEAR(step)), rel=1e-6)
        # Unscheduled layers keep their softness.
        assert values[PATHS["rank"]] == pytest.approx(0.3)
        assert values[PATHS["gate"]] == pytest.approx(0.2)
    # The original model is unchanged (a new model is returned).
    assert _values(model)[PATHS["sort"]] == pytest.approx(1.0)


def test_schedule_and_training_compose(getkey):
    """The schedule sets the base; training learns a multiplier on top."""
    layer = nn.SoftSort(axis=-1, schedule=DECAY, trainable=True)
    x = jax.random.normal(getkey(), (3, 5))
    grad = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.sum(jnp.sin(3 * m(x)))))
    optim = optax.sgd(0.5)
    state = optim.init(eqx.filter(layer, eqx.is_inexact_array))
    for step in range(3):
        layer = softeqx.anneal(layer, step)
        updates, state = optim.update(grad(layer), state)
        layer = eqx.apply_updates(layer, updates)
    multiplier = float(layer.softness_parameter.multiplier)
    assert multiplier != 1.0
    for step in (4, 9):
        annealed = softeqx.anneal(layer, step)
        assert float(annealed.softness) == pytest.approx(
            float(DECAY(step)) * multiplier, rel=1e-6
        )


def test_annealed_training_run_compiles_once(getkey):
    model = _model(getkey)
    xs = jax.random.normal(getkey(), (8, 4))
    optim = optax.sgd(0.01)
    state = optim.init(eqx.filter(model, eqx.is_array))
    traces = {"count": 0}

    def loss_fn(model):
        h = jax.vmap(model[2])(xs)
        return jnp.mean(model[0](h) ** 2) + jnp.mean(model[1]["rank"](h))

    @eqx.filter_jit
    def train_step(model, state, step):
        traces["count"] += 1
        model = softeqx.anneal(model, step)
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
        updates, state = optim.update(grads, state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), state, loss

    seen = set()
    for step in range(12):
        model, state, _ = train_step(model, state, jnp.asarray(step))
        seen.add(float(softeqx.softness_values(model)[PATHS["sort"]]))
    assert traces["count"] == 1
    assert len(seen) == 12  # the softness really changed at every step
    # Surgery inside the loop's reach does not recompile either.
    model = softeqx.scale_softness(model, 0.5)
    model = softeqx.set_softness(model, {PATHS["rank"]: 0.05})
    train_step(model, state, jnp.asarray(12))
    assert traces["count"] == 1


def test_softness_values_set_and_scale(getkey):
    model = _model(getkey)
    values = softeqx.softness_values(model)
    assert set(values) == set(PATHS.values())
    # set(m, values(m)) keeps every value.
    same = softeqx.set_softness(model, values)
    np.testing.assert_allclose(
        list(softeqx.softness_values(same).values()), list(values.values()), rtol=1e-6
    )
    everywhere = softeqx.set_softness(model, 0.25)
    assert all(v == pytest.approx(0.25) for v in _values(everywhere).values())
    some = softeqx.set_softness(model, {PATHS["gate"]: 0.7})
    assert _values(some)[PATHS["gate"]] == pytest.approx(0.7)
    assert _values(some)[PATHS["rank"]] == pytest.approx(0.3)
    scaled = softeqx.scale_softness(model, 0.1, paths=[PATHS["rank"], PATHS["sort"]])
    assert _values(scaled)[PATHS["rank"]] == pytest.approx(0.03)
    assert _values(scaled)[PATHS["sort"]] == pytest.approx(0.1)
    assert _values(scaled)[PATHS["gate"]] == pytest.approx(0.2)
    # The input is never modified.
    assert _values(model) == {k: float(v) for k, v in values.items()}
    # Set resets a learnt multiplier; scale keeps it.
    layer = nn.SoftSort(softness=0.2, trainable=True)
    layer = eqx.tree_at(lambda m: m.softness_parameter.log_multiplier, layer, 1.0)
    assert float(softeqx.set_softness(layer, 0.5).softness) == pytest.approx(0.5)
    assert float(softeqx.scale_softness(layer, 2.0).softness) == pytest.approx(
        0.4 * np.e, rel=1e-6
    )
    # Works with traced values.
    traced = eqx.filter_jit(softeqx.set_softness)(model, jnp.float32(0.6))
    assert all(v == pytest.approx(0.6) for v in _values(traced).values())


def test_surgery_errors(getkey):
    model = _model(getkey)
    with pytest.raises(KeyError, match="no_such_path"):
        softeqx.set_softness(model, {"no_such_path": 0.1})
    with pytest.raises(KeyError, match="no_such_path"):
        softeqx.scale_softness(model, 0.5, paths=["no_such_path"])
    with pytest.raises(ValueError, match="positive"):
        softeqx.set_softness(model, -1.0)
    with pytest.raises(ValueError, match="factor"):
        softeqx.scale_softness(model, 0.0)
    with pytest.raises(ValueError, match="schedule"):
        softeqx.anneal([nn.SoftSort(schedule=lambda step: 1.0 - step)], 2)


def test_freeze_and_unfreeze(getkey):
    model = _model(getkey)
    x = jax.random.normal(getkey(), (4,))
    grad = eqx.filter_grad(lambda m: jnp.sum(m[2](x)))
    assert grad(model)[2].inner.layers[1].softness_parameter.log_multiplier != 0
    frozen = softeqx.freeze_softness(model)
    assert not frozen[2].inner.layers[1].trainable
    assert grad(frozen)[2].inner.layers[1].softness_parameter.log_multiplier == 0
    thawed = softeqx.unfreeze_softness(frozen, paths=[PATHS["gate"]])
    assert thawed[2].gate.trainable and not thawed[0].trainable
    assert grad(thawed)[2].gate.softness_parameter.log_multiplier != 0
    # Values never change by freezing or unfreezing.
    np.testing.assert_allclose(
        list(softeqx.softness_values(thawed).values()),
        list(softeqx.softness_values(model).values()),
        rtol=1e-6,
    )
    # Freezing an unscheduled layer moves its value into the Python reference,
    # so its arrays are exactly zero (a fixed point of every optimiser).
    layer = softeqx.scale_softness(nn.SoftSort(softness=0.2, trainable=True), 3.0)
    layer = softeqx.freeze_softness(layer)
    assert layer.softness_parameter.log_base == 0
    assert layer.softness_parameter.log_multiplier == 0
    assert layer.softness_parameter.reference == pytest.approx(0.6)


def test_frozen_and_trainable_flags_serialise(tmp_path):
    """Freezing state (flag and folded reference value) round-trips."""
    layer = nn.SoftReLU(softness=0.2, trainable=True)
    layer = eqx.tree_at(lambda m: m.softness_parameter.log_multiplier, layer, 0.4)
    frozen = softeqx.freeze_softness(layer)
    path = tmp_path / "frozen.eqx"
    eqx.tree_serialise_leaves(path, frozen)
    loaded = eqx.tree_deserialise_leaves(path, nn.SoftReLU(trainable=True))
    assert not loaded.trainable
    assert loaded.softness_parameter.reference == frozen.softness_parameter.reference
    np.testing.assert_array_equal(loaded.softness, frozen.softness)
    np.testing.assert_allclose(loaded.softness, 0.2 * np.exp(0.4), rtol=1e-6)


def test_scheduled_annealer(getkey):
    model = _model(getkey)
    own = softeqx.ScheduledAnnealer()
    np.testing.assert_array_equal(
        list(softeqx.softness_values(own(model, 7)).values()),
        list(softeqx.softness_values(softeqx.anneal(model, 7)).values()),
    )
    shared = softeqx.ScheduledAnnealer(
        optax.constant_schedule(0.4), paths=(PATHS["rank"],)
    )
    out = eqx.filter_jit(shared)(model, jnp.asarray(3))
    assert _values(out)[PATHS["rank"]] == pytest.approx(0.4)
    assert _values(out)[PATHS["gate"]] == pytest.approx(0.2)


@pytest.mark.parametrize("jit", [False, True])
def test_plateau_annealer(jit, getkey):
    layer = nn.SoftSort(softness=1.0)
    annealer = softeqx.PlateauAnnealer(
        factor=0.5, patience=3, rtol=0.01, min_softness=0.3
    )
    call = eqx.filter_jit(annealer) if jit else annealer
    state = annealer.init()
    losses = [5.0, 4.0, 3.0, 3.0, 2.999, 3.1, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    softness = []
    for loss in losses:
        layer, state = call(layer, state, jnp.float32(loss))
        softness.append(float(layer.softness))
    # Improving: no change. Three calls without a 1% improvement: halve.
    assert softness[:5] == pytest.approx([1.0] * 5)
    assert softness[5] == pytest.approx(0.5)
    # 2.0 improves; then three flat calls halve again, floored at 0.3.
    assert softness[6:9] == pytest.approx([0.5] * 3)
    assert softness[9] == pytest.approx(0.3)
    assert softness[12] == pytest.approx(0.3)
    assert int(state.reductions) == 3
    assert float(state.best) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="factor"):
        softeqx.PlateauAnnealer(factor=1.5)


@pytest.mark.parametrize(
    "layer",
    [nn.SoftSort(axis=-1, softness=1.0), nn.SoftReLU(softness=1.0)],
    ids=["sort", "relu"],
)
def test_hardness_target_annealer_follows_target(layer, getkey):
    x = jax.random.normal(getkey(), (8, 6))
    model = {"layer": layer}
    annealer = softeqx.HardnessTargetAnnealer(
        where=lambda m: m["layer"], target=optax.linear_schedule(0.5, 0.8, 10)
    )
    step_fn = eqx.filter_jit(annealer)
    measured = []
    for step in range(40):
        model, h = step_fn(model, jnp.asarray(step), x)
        measured.append(float(h))
    final = float(softeqx.hardness(model["layer"], x))
    assert abs(final - 0.8) < 0.01
    assert measured[0] < 0.5  # it started far from the target
    with pytest.raises(TypeError, match="soft layer"):
        softeqx.HardnessTargetAnnealer(where=lambda m: m, target=0.5)(
            [model["layer"]], 0, x
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda mode="smooth": nn.SoftSort(axis=-1, mode=mode),
        lambda mode="c1": nn.SoftArgMax(axis=-1, mode=mode),
        lambda mode="smooth": nn.SoftTopK(2, mode=mode),
        lambda mode="smooth": nn.SoftMedian(axis=-1, mode=mode),
        lambda mode="smooth": nn.SoftReLU(mode=mode),
        lambda mode="c2": nn.SoftClip(-0.5, 0.5, mode=mode),
        lambda mode="smooth": nn.SoftRound(mode=mode),
        lambda mode="smooth": nn.SoftThreshold(0.1, comparison="less", mode=mode),
    ],
    ids=["sort", "argmax", "top_k", "median", "relu", "clip", "round", "threshold"],
)
def test_hardness_is_in_unit_interval_and_decreases_with_softness(make, getkey):
    x = jax.random.normal(getkey(), (6, 5))
    measure = eqx.filter_jit(
        lambda layer, s: softeqx.hardness(softeqx.set_softness(layer, s), x)
    )
    values = [float(measure(make(), s)) for s in (1e-4, 1e-2, 1e-1, 1.0, 1e4)]
    assert all(0 <= v <= 1 for v in values)
    assert all(a >= b - 1e-6 for a, b in itertools.pairwise(values))
    assert values[0] > 0.95 and values[-1] < 0.05
    assert float(softeqx.hardness(make(mode="hard"), x)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "layer_or_op, kwargs, target",
    [
        (softeqx.sort, {"axis": -1}, 0.9),
        (softeqx.argmax, {"axis": -1, "method": "neuralsort"}, 0.5),
        (softeqx.relu, {}, 0.7),
        (nn.SoftRank(axis=-1, trainable=True), {}, 0.8),
    ],
    ids=["sort", "argmax", "relu", "rank_layer"],
)
def test_calibrate_softness_hits_target(layer_or_op, kwargs, target, getkey):
    x = jax.random.normal(getkey(), (8, 10))
    s = softeqx.calibrate_softness(layer_or_op, x, target, **kwargs)
    if isinstance(layer_or_op, nn.AbstractSoftLayer):
        layer = softeqx.set_softness(layer_or_op, s)
    else:
        layer = softeqx._anneal.LAYER_OF_OP[layer_or_op](softness=s, **kwargs)
    assert abs(float(softeqx.hardness(layer, x)) - target) < 1e-3


def test_calibrate_softness_edge_cases(getkey):
    x = jax.random.normal(getkey(), (4, 6))
    # Out of reach: the nearest end of the bracket.
    s = softeqx.calibrate_softness(
        softeqx.sort, x, 0.999999, axis=-1, upper=1.0, lower=0.5
    )
    assert float(s) == pytest.approx(0.5, rel=1e-4)
    # Traced target under jit.
    calibrate = jax.jit(
        lambda t: softeqx.calibrate_softness(softeqx.sort, x, t, axis=-1)
    )
    low, high = float(calibrate(0.3)), float(calibrate(0.9))
    assert low > high
    # A Python target inside a jitted function stays a constant.
    constant = jax.jit(
        lambda x: softeqx.calibrate_softness(softeqx.sort, x, 0.3, axis=-1)
    )
    assert float(constant(x)) == pytest.approx(low, rel=1e-5)
    with pytest.raises(TypeError, match="layer_or_op"):
        softeqx.calibrate_softness(jnp.sort, x, 0.5)
    with pytest.raises(ValueError, match="target_hardness"):
        softeqx.calibrate_softness(softeqx.sort, x, 1.5)
    with pytest.raises(TypeError, match="configured"):
        softeqx.calibrate_softness(nn.SoftSort(), x, 0.5, axis=-1)
