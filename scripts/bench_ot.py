"""Benchmark the optimal-transport method: time and solver sweeps per mode.

For each mode it jits the soft sort (forward) and the gradient of its sum
(forward + backward) on a float32 batch of standard normal rows, and prints:

- sweeps: solver sweeps until every column sum is within `tol` of 1 (median
  and maximum over the batch's problems: the batch runs until its slowest
  problem is done), and the largest column-sum error returned;
- fwd, fwd+bwd: median wall time of a call, in ms;
- compile: seconds to lower and compile the forward+backward function.

    python scripts/bench_ot.py                       # n = 1024, batch 32
    python scripts/bench_ot.py --n 256 --batch 8 --softness 0.01
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import softeqx
from softeqx._checks import SIGMOIDAL_MODES
from softeqx._ops.prepare import standardize_scores
from softeqx._projections.transport import (
    default_tolerance,
    solve_potentials,
    sorting_cost,
    sorting_potential,
)
from softeqx.methods import OptimalTransport


def _time(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--softness", type=float, default=0.1)
    parser.add_argument("--modes", nargs="+", default=list(SIGMOIDAL_MODES))
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    x = jax.random.normal(jax.random.key(0), (args.batch, args.n), jnp.float32)
    softness = jnp.float32(args.softness)
    method = OptimalTransport(max_iter=args.max_iter)
    tol = default_tolerance(jnp.float32)
    print(
        f"ot: n={args.n} batch={args.batch} softness={args.softness} "
        f"tol={tol:g} max_iter={args.max_iter} ({jax.devices()[0].platform})"
    )
    print(
        f"{'mode':<7} {'sweeps med':>10} {'sweeps max':>10} {'error':>9} "
        f"{'fwd ms':>9} {'fwd+bwd ms':>11} {'compile s':>9}"
    )
    for mode in args.modes:
        # Sweeps per problem: solve each row on its own.
        solve = jax.jit(
            jax.vmap(
                lambda row, s, mode=mode: solve_potentials(
                    sorting_cost(standardize_scores(row)),
                    s,
                    mode,
                    args.max_iter,
                    tol,
                    sorting_potential(standardize_scores(row)),
                )[1:],
                in_axes=(0, None),
            )
        )
        steps, errors = solve(x, softness)

        def forward(x, s, mode=mode):
            return softeqx.sort(x, axis=-1, softness=s, mode=mode, method=method)

        def loss(x, s, mode=mode):
            return jnp.sum(forward(x, s, mode) * jnp.linspace(-1.0, 1.0, x.shape[-1]))

        fwd = jax.jit(forward)
        start = time.perf_counter()
        both = jax.jit(jax.value_and_grad(loss)).lower(x, softness).compile()
        compile_s = time.perf_counter() - start
        t_fwd = _time(fwd, x, softness, repeats=args.repeats)
        t_both = _time(both, x, softness, repeats=args.repeats)
        print(
            f"{mode:<7} {int(np.median(steps)):>10} {int(np.max(steps)):>10} "
            f"{float(np.max(errors)):>9.1e} {t_fwd:>9.1f} {t_both:>11.1f} "
            f"{compile_s:>9.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
