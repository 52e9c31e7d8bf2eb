"""The README's usage example runs as written."""

import pathlib
import re

import jax.numpy as jnp
import numpy as np


README = pathlib.Path(__file__).parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_usage_example_runs_and_prints_golden_values(capsys):
    blocks = _python_blocks()
    assert blocks, "README.md has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "[0. 0. 0. 1.]" in printed
    for block in blocks[1:]:
        exec(compile(block, str(README), "exec"), {})
    assert "[[-1.   0.3  2. ]]" in capsys.readouterr().out
    soft = namespace["softeqx"].greater(namespace["x"], namespace["y"])
    np.testing.assert_allclose(soft, jnp.array([0.018, 0.0067, 0.1192, 1.0]), atol=1e-4)
