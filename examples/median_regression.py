"""Robust regression through outliers: least median of squares with `SoftMedian`.

The data follow a smooth curve with small noise, but 40% of the points are
gross outliers, all on the same side. Least squares (the mean of the squared
residuals) is dragged towards them. Least median of squares (Rousseeuw, 1984)
minimises the *median* of the squared residuals instead, which ignores any
minority of points however far away; but the exact median passes its gradient
to the one or two middle residuals only, and gradient descent on it now and
then settles on a poor fit.

`softeqx.nn.SoftMedian` makes the median smooth: every residual near the
middle contributes. Annealing its softness with `softeqx.anneal`, from large
(close to an average of the residuals) to small (the exact median), turns
least squares gradually into least median of squares. `softeqx.nn.SoftQuantile`
gives least quantile of squares: `--q 0.55` fits the best 55% of the points.

Each loss trains a small MLP from `--restarts` random initialisations at once
(an ensemble built with `eqx.filter_vmap`) and reports the root-mean-square
error of the fits against the true curve: the median over the restarts, and
the fraction of restarts that found the curve (error below `--tolerance`).
`hard_median` is the exact median (`jnp.median`), for comparison: on this data
it finds the curve from most initialisations, the annealed soft median from
all of them in our runs.

    python examples/median_regression.py                       # ~1 min on 2 cores
    python examples/median_regression.py --outliers 0.3 --losses median hard_median
    python examples/median_regression.py --points 2000 --restarts 32 --steps 3000

The plot `median_regression.png` (in `--out`, default `examples/output/`) shows
the data and the fit of every restart for each loss.
"""

import argparse
import pathlib
import time
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray
from tqdm import tqdm

import softeqx


matplotlib.use("Agg")
import matplotlib.pyplot as plt


LOSSES = ("mse", "median", "quantile", "hard_median")


def curve(x: Array) -> Array:
    """The true curve."""
    return jnp.sin(1.5 * x) + 0.3 * x


def make_data(
    key: PRNGKeyArray, points: int, outliers: float, noise: float
) -> tuple[Float[Array, " points"], Float[Array, " points"], Array]:
    """Noisy points on the curve; a fraction of them pushed far above it."""
    key_x, key_noise, key_which, key_shift = jax.random.split(key, 4)
    x = jax.random.uniform(key_x, (points,), minval=-3, maxval=3)
    y = curve(x) + noise * jax.random.normal(key_noise, (points,))
    wrong = jax.random.bernoulli(key_which, outliers, (points,))
    shift = jax.random.uniform(key_shift, (points,), minval=1, maxval=4)
    return x, jnp.where(wrong, y + shift, y), wrong


class Model(eqx.Module):
    """An ensemble of MLPs (one per restart) and how residuals are summarised."""

    mlps: eqx.nn.MLP  # stacked: every array has a leading restart axis
    reduce: softeqx.nn.AbstractSoftLayer | None  # None: the plain mean

    def predict(self, x: Float[Array, " points"]) -> Float[Array, "restarts points"]:
        @eqx.filter_vmap
        def one(mlp):
            return jax.vmap(mlp)(x[:, None])

        return one(self.mlps)


def loss_fn(model: Model, x: Array, y: Array) -> Array:
    """The summed loss of the restarts (each restart gets its own gradient)."""
    squared = (model.predict(x) - y) ** 2  # (restarts, points)
    if model.reduce is None:
        per_restart = jnp.mean(squared, axis=-1)
    else:
        per_restart = model.reduce(squared)  # along the last axis
    return jnp.sum(per_restart)


def build(loss: str, args: argparse.Namespace, key: PRNGKeyArray) -> Model:
    schedule = optax.exponential_decay(
        args.softness_start, args.steps, args.softness_end / args.softness_start
    )
    reduce: softeqx.nn.AbstractSoftLayer | None
    if loss == "median":
        reduce = softeqx.nn.SoftMedian(axis=-1, schedule=schedule)
    elif loss == "quantile":
        reduce = softeqx.nn.SoftQuantile(args.q, axis=-1, schedule=schedule)
    elif loss == "hard_median":
        reduce = softeqx.nn.SoftMedian(axis=-1, mode="hard")
    else:
        reduce = None

    @eqx.filter_vmap
    def init(key):
        return eqx.nn.MLP(1, "scalar", args.width, 2, activation=jnp.tanh, key=key)

    mlps = eqx.filter_jit(init)(jax.random.split(key, args.restarts))
    return Model(mlps, reduce)


def train(
    loss: str, args: argparse.Namespace, data: dict[str, Array]
) -> dict[str, Any]:
    model = build(loss, args, jax.random.key(args.seed + 1))
    optimiser = optax.adam(optax.cosine_decay_schedule(args.lr, args.steps, 0.1))
    opt_state = optimiser.init(eqx.filter(model, eqx.is_inexact_array))
    x, y = data["x"], data["y"]

    @eqx.filter_jit
    def train_step(model, opt_state, step, x, y):
        model = softeqx.anneal(model, step)
        value, grads = eqx.filter_value_and_grad(loss_fn)(model, x, y)
        updates, opt_state = optimiser.update(grads, opt_state)
        model = eqx.apply_updates(model, updates)
        softness = jnp.nan if model.reduce is None else model.reduce.softness
        return model, opt_state, value / args.restarts, softness

    bar = tqdm(range(args.steps), desc=loss, disable=not args.progress)
    for step in bar:
        model, opt_state, value, softness = train_step(
            model, opt_state, jnp.asarray(step), x, y
        )
        if step % 10 == 0 or step == args.steps - 1:
            postfix = {"loss": f"{float(value):.4f}"}
            if loss in ("median", "quantile"):
                postfix["softness"] = f"{float(softness):.3g}"
            bar.set_postfix(postfix)
    bar.close()

    grid = data["grid"]
    fits = eqx.filter_jit(Model.predict)(model, grid)
    errors = np.asarray(jnp.sqrt(jnp.mean((fits - curve(grid)) ** 2, axis=-1)))
    return {"name": loss, "fits": np.asarray(fits), "errors": errors}


def plot(
    runs: list[dict[str, Any]], data: dict[str, Array], path: pathlib.Path
) -> None:
    fig, axes = plt.subplots(
        1, len(runs), figsize=(4.2 * len(runs), 3.8), sharey=True, squeeze=False
    )
    x, y, wrong, grid = (np.asarray(data[k]) for k in ("x", "y", "wrong", "grid"))
    for ax, run in zip(axes[0], runs, strict=True):
        ax.scatter(x[~wrong], y[~wrong], s=4, c="tab:blue", label="data")
        ax.scatter(x[wrong], y[wrong], s=4, c="tab:orange", label="outliers")
        for fit in run["fits"]:
            ax.plot(grid, fit, c="black", lw=0.8, alpha=0.5)
        ax.plot(grid, np.asarray(curve(data["grid"])), c="tab:green", ls="--", lw=1.5)
        ax.set(
            xlabel="x",
            title=f"{run['name']}: median error {np.median(run['errors']):.3f}",
        )
    axes[0, 0].set(ylabel="y")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--points", type=int, default=400, help="training points")
    parser.add_argument(
        "--outliers", type=float, default=0.4, help="fraction of outliers"
    )
    parser.add_argument("--noise", type=float, default=0.1, help="noise of the data")
    parser.add_argument("--steps", type=int, default=1000, help="training steps")
    parser.add_argument("--restarts", type=int, default=8, help="initialisations")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    parser.add_argument("--width", type=int, default=32, help="hidden units")
    parser.add_argument(
        "--losses", nargs="+", default=list(LOSSES), choices=LOSSES, help="losses"
    )
    parser.add_argument(
        "--q", type=float, default=0.55, help="quantile of the `quantile` loss"
    )
    parser.add_argument("--softness-start", type=float, default=1.0)
    parser.add_argument("--softness-end", type=float, default=0.005)
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.1,
        help="a fit within this error of the curve counts as found",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path("examples/output"),
        help="directory for the plot",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show a progress bar",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the example; returns, per loss, the median error and the success rate."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    x, y, wrong = eqx.filter_jit(make_data)(
        jax.random.key(args.seed), args.points, args.outliers, args.noise
    )
    data = {"x": x, "y": y, "wrong": wrong, "grid": jnp.linspace(-3.0, 3.0, 200)}
    start = time.perf_counter()
    runs = [train(loss, args, data) for loss in args.losses]
    elapsed = time.perf_counter() - start
    plot(runs, data, args.out / "median_regression.png")

    print(
        f"\nerror of the fits against the true curve, {args.restarts} restarts "
        f"each (trained in {elapsed:.0f} s):"
    )
    metrics = {}
    for run in runs:
        found = float(np.mean(run["errors"] < args.tolerance))
        median = float(np.median(run["errors"]))
        print(f"  {run['name']:<12} median error {median:.4f}   found {found:.0%}")
        metrics[run["name"]] = {"median_error": median, "found": found}
    print(f"plot saved in {args.out}/")
    return metrics


if __name__ == "__main__":
    main()
