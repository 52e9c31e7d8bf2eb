"""Train a regressor for Spearman correlation: only the ranking of its outputs matters.

Each input `x` (8 features) has a hidden quality `s(x)`, a nonlinear function
of the features; what we observe is `y = exp(2 s(x) + noise)`, heavy-tailed,
with a few gross outliers. The task is to rank new inputs by `y`, so the metric
is Spearman's rank correlation on held-out data, and any increasing transform of
the prediction is as good as the prediction itself.

Three small MLPs are trained on the same data:

- `spearman`: maximises a soft Spearman correlation. On each minibatch the
  predictions go through `softeqx.nn.SoftRank` (soft ranks, differentiable),
  and the loss is one minus the Pearson correlation between these soft ranks
  and the (hard) ranks of the targets. The softness of the ranks is annealed
  from `--softness-start` to `--softness-end` with `softeqx.anneal`.
- `mse`: the usual regression on the standardised targets, for comparison;
  the large targets and the outliers dominate its loss.
- `mse_log`: regression on the standardised logarithm of the targets, which
  knows the transform that makes the noise Gaussian; the outliers still pull
  on it.

Each reports the (hard) Spearman correlation of its predictions with the
targets on held-out data. The soft Spearman model ranks as well as the
regression on the logarithm, without being told the transform; the plain
regression on the targets hardly ranks at all.

    python examples/spearman_ranking.py                    # ~30 s on 2 cores
    python examples/spearman_ranking.py --method neuralsort --steps 5000
    python examples/spearman_ranking.py --train 20000 --batch 512  # bigger

The plot `spearman_ranking.png` (in `--out`, default `examples/output/`) shows the
held-out correlation during training and the held-out ranks each model gives.
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


FEATURES = 8


def make_data(
    key: PRNGKeyArray, size: int, outliers: float
) -> tuple[Float[Array, "size 8"], Float[Array, " size"]]:
    """Inputs and heavy-tailed targets whose order follows a hidden quality."""
    key_x, key_noise, key_out, key_flip = jax.random.split(key, 4)
    x = jax.random.normal(key_x, (size, FEATURES))
    quality = (
        jnp.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 3] - 0.3 * x[:, 4] ** 2
    )
    y = jnp.exp(2 * quality + 0.3 * jax.random.normal(key_noise, (size,)))
    # A few gross errors: some targets are multiplied or divided by 1000.
    wrong = jax.random.bernoulli(key_out, outliers, (size,))
    factor = jnp.where(jax.random.bernoulli(key_flip, 0.5, (size,)), 1e3, 1e-3)
    return x, jnp.where(wrong, y * factor, y)


def ranks(v: Array) -> Array:
    """Hard ranks along the last axis (ties averaged)."""
    return softeqx.rank(v, axis=-1, mode="hard")


def correlation(a: Array, b: Array) -> Array:
    """Pearson correlation along the last axis."""
    a = a - jnp.mean(a, axis=-1, keepdims=True)
    b = b - jnp.mean(b, axis=-1, keepdims=True)
    norms = jnp.linalg.norm(a, axis=-1) * jnp.linalg.norm(b, axis=-1)
    return jnp.sum(a * b, axis=-1) / jnp.maximum(norms, 1e-12)


def spearman(prediction: Array, y: Array) -> Array:
    """Spearman's rank correlation (hard ranks)."""
    return correlation(ranks(prediction), ranks(y))


class Model(eqx.Module):
    """An MLP scorer, and the soft ranking used by the Spearman loss."""

    mlp: eqx.nn.MLP
    rank: softeqx.nn.SoftRank

    def __call__(self, x: Float[Array, "batch 8"]) -> Float[Array, " batch"]:
        return jax.vmap(self.mlp)(x)


def spearman_loss(model: Model, x: Array, y: Array) -> Array:
    """One minus the correlation of the soft ranks of the predictions with the
    ranks of the targets: a differentiable Spearman correlation."""
    return 1 - correlation(model.rank(model(x)), ranks(y))


def mse_loss(model: Model, x: Array, y: Array) -> Array:
    """Mean squared error on the targets (standardised on the training set)."""
    return jnp.mean((model(x) - y) ** 2)


def train(
    loss_name: str, args: argparse.Namespace, data: dict[str, Array]
) -> dict[str, Any]:
    key_model, key_batches = jax.random.split(jax.random.key(args.seed + 1))
    schedule = optax.exponential_decay(
        args.softness_start, args.steps, args.softness_end / args.softness_start
    )
    model = Model(
        eqx.filter_jit(eqx.nn.MLP)(FEATURES, "scalar", args.width, 2, key=key_model),
        softeqx.nn.SoftRank(axis=-1, method=args.method, schedule=schedule),
    )
    x_train, y_train = data["x_train"], data["y_train"]
    if loss_name in ("mse", "mse_log"):
        loss_fn = mse_loss
        if loss_name == "mse_log":
            y_train = jnp.log(y_train)
        y_train = (y_train - jnp.mean(y_train)) / jnp.std(y_train)
    else:
        loss_fn = spearman_loss
    optimiser = optax.adam(optax.cosine_decay_schedule(args.lr, args.steps, 0.1))
    opt_state = optimiser.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def train_step(model, opt_state, step, x_train, y_train):
        model = softeqx.anneal(model, step)
        index = jax.random.choice(
            jax.random.fold_in(key_batches, step), x_train.shape[0], (args.batch,)
        )
        loss, grads = eqx.filter_value_and_grad(loss_fn)(
            model, x_train[index], y_train[index]
        )
        updates, opt_state = optimiser.update(grads, opt_state)
        model = eqx.apply_updates(model, updates)
        return model, opt_state, loss, model.rank.softness

    @eqx.filter_jit
    def evaluate(model, x, y):
        return spearman(model(x), y)

    curve: dict[str, list[float]] = {"step": [], "spearman": []}
    eval_every = max(1, args.steps // 20)
    bar = tqdm(range(args.steps), desc=loss_name, disable=not args.progress)
    for step in bar:
        model, opt_state, loss, softness = train_step(
            model, opt_state, jnp.asarray(step), x_train, y_train
        )
        if step % 10 == 0 or step == args.steps - 1:
            postfix = {"loss": f"{float(loss):.4f}"}
            if loss_name == "spearman":
                postfix["softness"] = f"{float(softness):.3g}"
            bar.set_postfix(postfix)
        if (step + 1) % eval_every == 0 or step == args.steps - 1:
            curve["step"].append(step + 1)
            rho = evaluate(model, data["x_test"], data["y_test"])
            curve["spearman"].append(float(rho))
    bar.close()
    prediction = eqx.filter_jit(lambda m, x: m(x))(model, data["x_test"])
    return {"name": loss_name, "curve": curve, "prediction": prediction}


def plot(runs: list[dict[str, Any]], y_test: Array, path: pathlib.Path) -> None:
    fig, axes = plt.subplots(1, 1 + len(runs), figsize=(4.5 * (1 + len(runs)), 4))
    for run in runs:
        axes[0].plot(run["curve"]["step"], run["curve"]["spearman"], label=run["name"])
    axes[0].set(
        xlabel="step", ylabel="Spearman correlation", title="held-out, in training"
    )
    axes[0].legend()
    true_ranks = np.asarray(ranks(y_test))
    for ax, run in zip(axes[1:], runs, strict=True):
        predicted_ranks = np.asarray(ranks(run["prediction"]))
        rho = run["curve"]["spearman"][-1]
        ax.scatter(true_ranks, predicted_ranks, s=3, alpha=0.5)
        ax.set(
            xlabel="rank of the target",
            ylabel="rank of the prediction",
            title=f"{run['name']}: rho = {rho:.3f}",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--train", type=int, default=5000, help="training points")
    parser.add_argument("--test", type=int, default=2000, help="held-out points")
    parser.add_argument(
        "--outliers", type=float, default=0.05, help="fraction of gross errors"
    )
    parser.add_argument("--steps", type=int, default=1500, help="training steps")
    parser.add_argument("--batch", type=int, default=128, help="minibatch size")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    parser.add_argument("--width", type=int, default=32, help="hidden units")
    parser.add_argument(
        "--method",
        default="softsort",
        choices=("softsort", "neuralsort", "sorting_network", "fast_soft_sort", "ot"),
        help="soft ranking method",
    )
    parser.add_argument("--softness-start", type=float, default=0.1)
    parser.add_argument("--softness-end", type=float, default=0.005)
    parser.add_argument(
        "--losses",
        nargs="+",
        default=["spearman", "mse", "mse_log"],
        choices=("spearman", "mse", "mse_log"),
        help="models to train",
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


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the example; returns the held-out Spearman correlation of each model."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    key_train, key_test = jax.random.split(jax.random.key(args.seed))
    x_train, y_train = eqx.filter_jit(make_data)(key_train, args.train, args.outliers)
    x_test, y_test = eqx.filter_jit(make_data)(key_test, args.test, args.outliers)
    data = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    start = time.perf_counter()
    runs = [train(name, args, data) for name in args.losses]
    elapsed = time.perf_counter() - start
    plot(runs, y_test, args.out / "spearman_ranking.png")
    print(f"\nheld-out Spearman correlation (trained in {elapsed:.0f} s):")
    metrics = {}
    for run in runs:
        metrics[run["name"]] = run["curve"]["spearman"][-1]
        print(f"  {run['name']:<10} {metrics[run['name']]:.4f}")
    print(f"plot saved in {args.out}/")
    return metrics


if __name__ == "__main__":
    main()
