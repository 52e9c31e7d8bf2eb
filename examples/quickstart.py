"""Learn an interval classifier with soft comparisons and soft logic.

The labels say whether a point lies inside an unknown interval [lo, hi]. The
model is `logical_and(greater(x, a), less(x, b))`: two soft comparisons joined by
a soft AND. Hard comparisons have zero gradient almost everywhere; the soft ones
let gradient descent move `a` and `b` onto the true bounds. At the end the model
is evaluated with `mode="hard"`, the exact comparison.

    python examples/quickstart.py --steps 300 --softness 0.05
"""

import argparse
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax

import softeqx


def predict(params, x, softness, mode="smooth"):
    a, b = params["a"], params["b"]
    inside_left = softeqx.greater(x, a, softness=softness, mode=mode)
    inside_right = softeqx.less(x, b, softness=softness, mode=mode)
    return softeqx.logical_and(inside_left, inside_right)


def loss_fn(params, x, y, softness):
    p = jnp.clip(predict(params, x, softness), 1e-6, 1 - 1e-6)
    return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log1p(-p))


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the example; returns the held-out accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="optimiser steps")
    parser.add_argument("--softness", type=float, default=0.05, help="softness")
    parser.add_argument("--points", type=int, default=512, help="training points")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    lo, hi = -0.3, 0.6
    key_train, key_test = jax.random.split(jax.random.key(args.seed))
    x = jax.random.uniform(key_train, (args.points,), minval=-1.5, maxval=1.5)
    y = ((x > lo) & (x < hi)).astype(x.dtype)
    x_test = jax.random.uniform(key_test, (4096,), minval=-1.5, maxval=1.5)
    y_test = (x_test > lo) & (x_test < hi)

    params = {"a": jnp.array(-1.0), "b": jnp.array(1.0)}
    optimiser = optax.adam(0.02)
    state = optimiser.init(params)

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, args.softness)
        updates, state = optimiser.update(grads, state)
        return optax.apply_updates(params, updates), state, loss

    for i in range(args.steps):
        params, state, loss = step(params, state)
        if i % 100 == 0 or i == args.steps - 1:
            print(
                f"step {i:4d}  loss {float(loss):.4f}  a {params['a']:+.3f}  "
                f"b {params['b']:+.3f}"
            )

    hard = predict(params, x_test, args.softness, mode="hard") > 0.5
    accuracy = float(jnp.mean(hard == y_test))
    print(
        f"true interval [{lo:+.3f}, {hi:+.3f}], learnt "
        f"[{float(params['a']):+.3f}, {float(params['b']):+.3f}]"
    )
    print(f"held-out accuracy with hard comparisons: {accuracy:.4f}")
    return {"accuracy": accuracy}


if __name__ == "__main__":
    main()
