"""Test configuration: strict dtype promotion, float32 by default.

The suite runs in the user's default precision (float32, no x64). Tests that
check derivatives against finite differences switch to float64 locally with the
`x64` fixture, which uses `jax.enable_x64` as a context manager, so nothing leaks.
"""

import os


# The suite compiles thousands of small functions on a few numbers each: XLA's
# cheapest CPU pipeline compiles them faster (set before JAX starts its backend).
# The legacy loop emitters compile about a quarter faster than the fusion
# emitters on these small programs; both give the same results.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    + " --xla_cpu_use_fusion_emitters=false"
)

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, settings


jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "allow")

# Random shapes recompile at every example: the default run draws 20 per
# property, `scripts/test --slow` (HYPOTHESIS_PROFILE=thorough) draws 100.
for name, examples in (("softeqx", 20), ("thorough", 100)):
    settings.register_profile(
        name,
        deadline=None,
        max_examples=examples,
        suppress_health_check=[HealthCheck.too_slow],
    )
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "softeqx"))


@pytest.fixture
def x64():
    """Run the test body with 64-bit floats enabled."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def getkey():
    """A function returning a fresh PRNG key at each call."""
    key = [jax.random.key(0)]

    def next_key():
        key[0], sub = jax.random.split(key[0])
        return sub

    return next_key


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    """Both float dtypes; float64 runs with x64 enabled."""
    if request.param == "float64":
        request.getfixturevalue("x64")
    return np.dtype(request.param)
