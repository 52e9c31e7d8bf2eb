"""Every example runs with tiny settings, returns sane metrics and saves its plots.

The examples are scripts, not a package: each is loaded from its file and its
`main(argv)` called in-process, writing into a temporary directory. They are user
code, run with JAX's standard dtype promotion (optax's Adam mixes integer and
float dtypes, which the suite's strict promotion rejects).
"""

import importlib.util
import pathlib
import sys
import types

import jax
import pytest


EXAMPLES = pathlib.Path(__file__).parents[1] / "examples"


def load_example(name: str) -> types.ModuleType:
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"softeqx_example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def standard_promotion():
    with jax.numpy_dtype_promotion("standard"):
        yield


def leaves(metrics: dict) -> list[float]:
    """Every number in a (nested) dict of metrics."""
    values = []
    for value in metrics.values():
        values.extend(leaves(value) if isinstance(value, dict) else [value])
    return values


def test_digits_sorting(tmp_path):
    example = load_example("digits_sorting")
    metrics = example.main(
        [
            "--steps",
            "3",
            "--batch",
            "4",
            "--test-sets",
            "8",
            "--width",
            "8",
            "--n",
            "3",
            "--digits",
            "2",
            "--methods",
            "neuralsort",
            "--out",
            str(tmp_path),
        ]
    )
    assert set(metrics) == {"neuralsort/annealed"}
    for value in leaves(metrics):
        assert 0 <= value <= 1
    assert (tmp_path / "digits_sorting.png").is_file()
    assert (tmp_path / "digits_sorting_sets.png").is_file()
