"""Every example runs with tiny settings, returns sane metrics and saves its plots.

The examples are scripts, not a package: each is loaded from its file and its
`main(argv)` called in-process with a few steps on tiny data, writing into a
temporary directory. They are user code, so they run with JAX's standard dtype
promotion (optax's Adam mixes integer and float dtypes, which the suite's
strict promotion rejects). At these sizes the time goes into compilation, most
of it of random number generation: the non-partitionable threefry (a different
but equally valid random stream) compiles about twice as fast on CPU.
"""

import importlib.util
import math
import pathlib
import sys
import types

import jax
import pytest


EXAMPLES = pathlib.Path(__file__).parents[1] / "examples"


def fractions(metrics: dict) -> bool:
    return all(0 <= v <= 1 for v in numbers(metrics))


def correlations(metrics: dict) -> bool:
    return all(-1 <= v <= 1 for v in numbers(metrics))


def errors_and_rates(metrics: dict) -> bool:
    return all(
        m["median_error"] >= 0 and 0 <= m["found"] <= 1 for m in metrics.values()
    )


def accuracies_and_softness(metrics: dict) -> bool:
    return all(
        0 <= m["exact_match"] <= 1 and 0 <= m["elementwise"] <= 1 and m["softness"] > 0
        for m in metrics.values()
    )


# Script -> (tiny arguments, the PNG files it saves, check of its metrics).
# `--out` is added for the scripts that save plots. One loss or method each,
# where the scripts compare several: every one costs a compilation.
TINY = {
    "quickstart": (["--steps", "3", "--points", "16"], [], fractions),
    "digits_sorting": (
        [
            *("--steps", "3", "--batch", "4", "--test-sets", "8", "--width", "8"),
            *("--n", "3", "--digits", "2", "--methods", "softsort"),
        ],
        ["digits_sorting.png", "digits_sorting_sets.png"],
        fractions,
    ),
    "spearman_ranking": (
        [
            *("--steps", "3", "--train", "32", "--test", "16", "--batch", "8"),
            *("--width", "8", "--losses", "spearman"),
        ],
        ["spearman_ranking.png"],
        correlations,
    ),
    "median_regression": (
        [
            *("--steps", "3", "--points", "24", "--restarts", "2", "--width", "8"),
            *("--losses", "median"),
        ],
        ["median_regression.png"],
        errors_and_rates,
    ),
    "topk_classification": (
        [
            *("--steps", "3", "--test", "16", "--batch", "8", "--width", "8"),
            *("--losses", "ce+topk"),
        ],
        ["topk_classification.png"],
        fractions,
    ),
    "softness_strategies": (
        [
            *("--steps", "3", "--n", "4", "--batch", "4", "--test-sets", "8"),
            *("--width", "8", "--strategies", "trainable", "hardness_target"),
            "plateau",
        ],
        ["softness_strategies.png"],
        accuracies_and_softness,
    ),
}


def load_example(name: str) -> types.ModuleType:
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"softeqx_example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def numbers(metrics: dict) -> list[float]:
    """Every number of a (nested) dict of metrics."""
    found: list[float] = []
    for value in metrics.values():
        found.extend(numbers(value) if isinstance(value, dict) else [value])
    return found


def test_every_example_has_tiny_settings():
    assert {path.stem for path in EXAMPLES.glob("*.py")} == set(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_example_runs_with_tiny_settings(name, tmp_path, capsys):
    argv, plots, check = TINY[name]
    if plots:
        argv = [*argv, "--out", str(tmp_path)]
    example = load_example(name)
    with jax.numpy_dtype_promotion("standard"), jax.threefry_partitionable(False):
        metrics = example.main(argv)
    values = numbers(metrics)
    assert values, "main() must return its final metrics"
    assert all(isinstance(v, float) and math.isfinite(v) for v in values), metrics
    assert check(metrics), metrics
    for plot in plots:
        assert (tmp_path / plot).stat().st_size > 0
    assert capsys.readouterr().out.strip()  # the final metrics are printed


@pytest.mark.parametrize("name", sorted(TINY))
def test_example_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_example(name).main(["--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out
