"""Learnt, scheduled or steered softness: five ways to set it, on one task.

The task is sorting supervision on synthetic data: items are vectors of 8
features with a hidden score (computed by a fixed random "teacher" network),
and a student MLP learns to score them from nothing but the order of sets of
`n` items, with the cross-entropy between the soft permutation matrix of its
scores (`softeqx.nn.SoftArgSort`) and the true permutation.

Five students train side by side, from the same initialisation on the same
batches, and differ only in how the softness of their soft argsort is set:

- `fixed`: a constant softness, that of hardness `--hardness-end`;
- `trainable`: `trainable=True`, the softness is a parameter, learnt with the
  network by the same optimiser (starting at hardness `--hardness-start`);
- `scheduled`: an optax schedule applied with `softeqx.anneal`, decaying
  geometrically from hardness `--hardness-start` to `--hardness-end`;
- `hardness_target`: `softeqx.HardnessTargetAnnealer` measures the hardness of
  the layer on the current scores at every step (`softeqx.hardness`: 1 for an
  exact argsort, 0 for uniform rows) and steers the softness so that the
  hardness follows a linear schedule from `--hardness-start` to `--hardness-end`;
- `plateau`: `softeqx.PlateauAnnealer` halves the softness whenever the loss
  has not improved for `--patience` steps.

Softness values are calibrated to hardness values on the scores of the
untrained student with `softeqx.calibrate_softness`. The five students train
in one jitted step, compiled once. The example reports the held-out
exact-match accuracy (the whole set in order) and element-wise accuracy (the
fraction of positions right) of each, and their final softness.

On this task the five end with similar accuracies; what differs is the path.
The learnt softness falls by itself as the student improves (once the scores
are in the right order, a harder relaxation has a lower loss) but stays softer
than the schedules, where the loss of the remaining mistakes balances it; the
hardness-targeting callback makes the hardness follow its target whatever the
spread of the scores.

    python examples/softness_strategies.py                   # ~45 s on 2 cores
    python examples/softness_strategies.py --n 16 --steps 5000
    python examples/softness_strategies.py --strategies trainable hardness_target

The plot `softness_strategies.png` (in `--out`, default `examples/output/`)
shows the softness, the hardness and the held-out accuracy of every strategy
during training.
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


STRATEGIES = ("fixed", "trainable", "scheduled", "hardness_target", "plateau")
FEATURES = 8


class Student(eqx.Module):
    """An MLP scorer followed by the soft argsort of the scores of a set."""

    mlp: eqx.nn.MLP
    argsort: softeqx.nn.SoftArgSort

    def scores(self, items: Float[Array, "*sets n 16"]) -> Array:
        flat = items.reshape(-1, FEATURES)
        return jax.vmap(self.mlp)(flat).reshape(items.shape[:-1])

    def __call__(self, items: Float[Array, "*sets n 16"]) -> Array:
        return self.argsort(self.scores(items))


def sample_sets(
    key: PRNGKeyArray, teacher: eqx.nn.MLP, sets: int, n: int
) -> tuple[Array, Array]:
    """Sets of `n` random items, and their hidden scores."""
    items = jax.random.normal(key, (sets, n, FEATURES))
    hidden = jax.vmap(teacher)(items.reshape(-1, FEATURES)).reshape(sets, n)
    return items, hidden


def permutation_loss(student: Student, items: Array, hidden: Array) -> Array:
    p = student(items)  # (sets, n, [n])
    target = jax.nn.one_hot(jnp.argsort(hidden, axis=-1), hidden.shape[-1])
    return -jnp.mean(jnp.sum(target * jnp.log(jnp.clip(p, 1e-8, 1.0)), axis=-1))


def accuracies(student: Student, items: Array, hidden: Array) -> Array:
    correct = jnp.argsort(student.scores(items), axis=-1) == jnp.argsort(
        hidden, axis=-1
    )
    return jnp.stack([jnp.mean(jnp.all(correct, axis=-1)), jnp.mean(correct)])


class Annealers(eqx.Module):
    """The callbacks of the strategies that use one."""

    hardness_target: softeqx.HardnessTargetAnnealer
    plateau: softeqx.PlateauAnnealer


def make_students(
    args: argparse.Namespace, mlp: eqx.nn.MLP, start: float, end: float
) -> dict[str, Student]:
    schedule = optax.exponential_decay(start, args.steps, end / start)
    layers = {
        "fixed": softeqx.nn.SoftArgSort(axis=-1, softness=end),
        "trainable": softeqx.nn.SoftArgSort(axis=-1, softness=start, trainable=True),
        "scheduled": softeqx.nn.SoftArgSort(axis=-1, schedule=schedule),
        "hardness_target": softeqx.nn.SoftArgSort(axis=-1, softness=start),
        "plateau": softeqx.nn.SoftArgSort(axis=-1, softness=start),
    }
    return {name: Student(mlp, layers[name]) for name in args.strategies}


def run(args: argparse.Namespace) -> dict[str, Any]:
    key_teacher, key_student, key_data, key_test = jax.random.split(
        jax.random.key(args.seed), 4
    )
    teacher = eqx.filter_jit(eqx.nn.MLP)(FEATURES, "scalar", 16, 1, key=key_teacher)
    mlp = eqx.filter_jit(eqx.nn.MLP)(FEATURES, "scalar", args.width, 2, key=key_student)
    test_items, test_hidden = eqx.filter_jit(sample_sets)(
        key_test, teacher, args.test_sets, args.n
    )

    # Softness values for the hardness range, measured on untrained scores.
    @eqx.filter_jit
    def calibrate(mlp, items):
        scores = Student(mlp, softeqx.nn.SoftArgSort(axis=-1)).scores(items)
        return tuple(
            softeqx.calibrate_softness(softeqx.argsort, scores, jnp.asarray(h), axis=-1)
            for h in (args.hardness_start, args.hardness_end)
        )

    start, end = (float(s) for s in calibrate(mlp, test_items))
    students = make_students(args, mlp, start, end)
    annealers = Annealers(
        softeqx.HardnessTargetAnnealer(
            where=lambda student: student.argsort,
            target=optax.linear_schedule(
                args.hardness_start, args.hardness_end, args.steps
            ),
            gain=args.gain,
        ),
        softeqx.PlateauAnnealer(factor=0.5, patience=args.patience, rtol=0.01),
    )
    optimiser = optax.adam(optax.cosine_decay_schedule(args.lr, args.steps, 0.1))
    opt_state = optimiser.init(eqx.filter(students, eqx.is_inexact_array))
    plateau_state = annealers.plateau.init()

    @eqx.filter_jit
    def train_step(students, opt_state, plateau_state, step, teacher):
        items, hidden = sample_sets(
            jax.random.fold_in(key_data, step), teacher, args.batch, args.n
        )
        students = dict(students)
        if "scheduled" in students:
            students["scheduled"] = softeqx.anneal(students["scheduled"], step)
        if "hardness_target" in students:
            student = students["hardness_target"]
            scores = jax.lax.stop_gradient(student.scores(items))
            students["hardness_target"], _ = annealers.hardness_target(
                student, step, scores
            )

        def total_loss(students):
            losses = {
                name: permutation_loss(student, items, hidden)
                for name, student in students.items()
            }
            return sum(losses.values()), losses

        grads, losses = eqx.filter_grad(total_loss, has_aux=True)(students)
        updates, opt_state = optimiser.update(grads, opt_state)
        students = eqx.apply_updates(students, updates)
        if "plateau" in students:
            students["plateau"], plateau_state = annealers.plateau(
                students["plateau"], plateau_state, losses["plateau"]
            )
        softness = {name: s.argsort.softness for name, s in students.items()}
        hardness = {
            name: softeqx.hardness(s.argsort, s.scores(items))
            for name, s in students.items()
        }
        return students, opt_state, plateau_state, losses, softness, hardness

    @eqx.filter_jit
    def evaluate(students, items, hidden):
        return {name: accuracies(s, items, hidden) for name, s in students.items()}

    history: dict[str, dict[str, list[float]]] = {
        name: {"softness": [], "hardness": [], "loss": []} for name in students
    }
    steps_logged: list[int] = []
    checkpoints: dict[str, list[Any]] = {"step": [], "accuracy": []}
    eval_every = max(1, args.steps // 20)
    bar = tqdm(
        range(args.steps), desc=f"{len(students)} strategies", disable=not args.progress
    )
    for step in bar:
        students, opt_state, plateau_state, losses, softness, hardness = train_step(
            students, opt_state, plateau_state, jnp.asarray(step), teacher
        )
        if step % 10 == 0 or step == args.steps - 1:
            steps_logged.append(step)
            for name in students:
                history[name]["softness"].append(float(softness[name]))
                history[name]["hardness"].append(float(hardness[name]))
                history[name]["loss"].append(float(losses[name]))
            shown = "trainable" if "trainable" in students else next(iter(students))
            bar.set_postfix(
                loss=f"{float(losses[shown]):.3f}",
                softness=f"{float(softness[shown]):.3g}",
                shown=shown,
            )
        if (step + 1) % eval_every == 0 or step == args.steps - 1:
            checkpoints["step"].append(step + 1)
            accuracy = evaluate(students, test_items, test_hidden)
            checkpoints["accuracy"].append(
                {name: np.asarray(value) for name, value in accuracy.items()}
            )
    bar.close()
    return {
        "steps": steps_logged,
        "history": history,
        "checkpoints": checkpoints,
        "calibrated": (start, end),
    }


def plot(result: dict[str, Any], path: pathlib.Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    steps = result["steps"]
    for name, h in result["history"].items():
        axes[0].plot(steps, h["softness"], label=name)
        axes[1].plot(steps, h["hardness"], label=name)
        exact = [a[name][0] for a in result["checkpoints"]["accuracy"]]
        axes[2].plot(result["checkpoints"]["step"], exact, marker="o", ms=3, label=name)
    axes[0].set(xlabel="step", ylabel="softness", title="softness", yscale="log")
    axes[1].set(xlabel="step", ylabel="hardness", title="hardness on the batch")
    axes[2].set(xlabel="step", ylabel="accuracy", title="held-out exact match")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--n", type=int, default=8, help="items per set")
    parser.add_argument("--steps", type=int, default=1500, help="training steps")
    parser.add_argument("--batch", type=int, default=32, help="sets per step")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    parser.add_argument("--width", type=int, default=64, help="hidden units")
    parser.add_argument(
        "--strategies",
        nargs="+",
        default=list(STRATEGIES),
        choices=STRATEGIES,
        help="strategies to compare",
    )
    parser.add_argument("--hardness-start", type=float, default=0.5)
    parser.add_argument("--hardness-end", type=float, default=0.95)
    parser.add_argument(
        "--gain", type=float, default=2.0, help="gain of the hardness controller"
    )
    parser.add_argument(
        "--patience", type=int, default=100, help="patience of the plateau annealer"
    )
    parser.add_argument("--test-sets", type=int, default=1000, help="held-out sets")
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
    """Run the example; returns each strategy's accuracies and final softness."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = run(args)
    elapsed = time.perf_counter() - start
    plot(result, args.out / "softness_strategies.png")
    low, high = result["calibrated"]
    print(
        f"\nheld-out sets of {args.n} items, trained in {elapsed:.0f} s; "
        f"softness {low:.3g} has hardness {args.hardness_start}, "
        f"{high:.3g} has {args.hardness_end}:"
    )
    final = result["checkpoints"]["accuracy"][-1]
    metrics = {}
    for name, h in result["history"].items():
        exact, elementwise = (float(v) for v in final[name])
        softness = h["softness"][-1]
        print(
            f"  {name:<16} exact match {exact:.3f}   element-wise "
            f"{elementwise:.3f}   final softness {softness:.3g}"
        )
        metrics[name] = {
            "exact_match": exact,
            "elementwise": elementwise,
            "softness": softness,
        }
    print(f"plot saved in {args.out}/")
    return metrics


if __name__ == "__main__":
    main()
