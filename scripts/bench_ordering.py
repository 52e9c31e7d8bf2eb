"""Benchmark the ordering ops: time, compile time and memory, against the hard op.

For each op x method x mode x n it jits the forward pass and the forward+backward
pass (gradient of the sum of the output) on a float32 batch, and prints one row:

- fwd, fwd+bwd: median wall time of a call (ms), and their ratio to the hard
  `jnp`/`lax` op measured in the same run on the same input (for `rank`, whose
  hard op has no gradient, the fwd+bwd reference is the hard sort's);
- compile: seconds to lower and compile the forward+backward function;
- temp: XLA's temporary buffer size of the compiled forward+backward function
  (`memory_analysis().temp_size_in_bytes`), in MiB, and per row of the batch;
- traces: how many times the function was traced (1: no recompiles when the
  traced softness changes between calls);
- with `--softjax`: SoftJAX's forward+backward time for the same op, method,
  mode and input, and softeqx's time as a fraction of it. SoftJAX is not a
  dependency; install it beside softeqx without its pins, e.g.
  `pip install --no-deps --ignore-requires-python softjax lineax optimistix
  ott-jax jaxopt`.

    python scripts/bench_ordering.py                        # everything
    python scripts/bench_ordering.py --ops sort --n 1024 --methods neuralsort
    python scripts/bench_ordering.py --ops sort rank --n 4096 --softjax
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

import softeqx
from softeqx._checks import SIGMOIDAL_MODES
from softeqx._methods.registry import METHODS


def _hard(op: str):
    if op == "sort":
        return lambda x: jnp.sort(x, axis=-1)
    if op == "rank":
        return lambda x: jnp.argsort(jnp.argsort(x, axis=-1), axis=-1).astype(x.dtype)
    if op == "top_k":
        return lambda x: jax.lax.top_k(x, max(1, x.shape[-1] // 8))[0]
    if op == "argmax":
        return lambda x: jnp.max(x, axis=-1)
    raise ValueError(op)


def _soft(op: str, method: str, mode: str, library=softeqx):
    """The op of `library` (softeqx, or SoftJAX with the same interface)."""

    def f(x, softness):
        kw = {"softness": softness, "mode": mode, "method": method}
        if op == "sort":
            return library.sort(x, axis=-1, **kw)
        if op == "rank":
            # SoftJAX's rank defaults to descending; compare like with like.
            return library.rank(x, axis=-1, descending=False, **kw)
        if op == "top_k":
            return library.top_k(x, max(1, x.shape[-1] // 8), axis=-1, **kw)[0]
        if op == "argmax":
            return library.max(x, axis=-1, **kw)
        raise ValueError(op)

    return f


def _time(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def measure(f, x, softness, repeats: int) -> dict:
    traces = {"fwd": 0, "both": 0}

    def counted(x, s):
        traces["fwd"] += 1
        return f(x, s)

    def loss(x, s):
        traces["both"] += 1
        return jnp.sum(f(x, s))

    fwd = jax.jit(counted)
    both = jax.jit(jax.value_and_grad(loss))
    start = time.perf_counter()
    compiled = both.lower(x, softness).compile()
    compile_s = time.perf_counter() - start
    memory = compiled.memory_analysis()
    temp = getattr(memory, "temp_size_in_bytes", float("nan"))
    t_fwd = _time(fwd, x, softness, repeats=repeats)
    t_both = _time(compiled, x, softness, repeats=repeats)
    compiled(x, softness * 1.5)  # a new softness must not retrace
    fwd(x, softness * 1.5)
    return {
        "fwd": t_fwd,
        "both": t_both,
        "compile": compile_s,
        "temp": temp,
        "traces": max(traces.values()),
    }


def _versus(f, x, softness, ours: dict, args) -> str:
    """SoftJAX's f+b time for `f` and softeqx's as a fraction of it."""
    grad = jax.jit(jax.value_and_grad(lambda x, s: jnp.sum(f(x, s))))
    try:
        theirs = _time(grad, x, softness, repeats=args.repeats)
    except Exception as error:  # its failures are part of the comparison
        return f" | {type(error).__name__}"
    return f" | {theirs:12.2f} {ours['both'] / theirs:9.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", nargs="+", default=["sort", "rank", "top_k", "argmax"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--modes", nargs="+", default=list(SIGMOIDAL_MODES))
    parser.add_argument("--n", nargs="+", type=int, default=[16, 128, 1024, 4096])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--softjax", action="store_true", help="also time SoftJAX's f+b (installed)"
    )
    args = parser.parse_args()
    reference = None
    if args.softjax:
        import softjax as reference

    print(
        f"jax {jax.__version__}, backend {jax.default_backend()}, "
        f"batch {args.batch}, float32"
    )
    header = (
        f"{'op':7} {'method':16} {'mode':6} {'n':>5} | {'fwd ms':>8} {'x hard':>7} | "
        f"{'f+b ms':>8} {'x hard':>7} | {'compile s':>9} | {'temp MiB':>9} "
        f"{'KiB/row':>8} | traces"
        + (" | softjax f+b ms   ours/it" if reference else "")
    )
    print(header)
    print("-" * len(header))
    for op in args.ops:
        for n in args.n:
            x = jax.random.normal(jax.random.key(n), (args.batch, n), jnp.float32)
            softness = jnp.asarray(0.1, jnp.float32)
            hard = _hard(op)
            t_hard = _time(jax.jit(hard), x, repeats=args.repeats)
            # Hard ranks have no gradient (XLA folds the backward pass of an
            # argsort away), so the f+b reference for `rank` is the hard sort's.
            differentiable = _hard("sort") if op == "rank" else hard
            hard_grad = jax.jit(
                jax.value_and_grad(lambda x, f=differentiable: jnp.sum(f(x)))
            )
            t_hard_both = _time(hard_grad, x, repeats=args.repeats)
            print(
                f"{op:7} {'jnp (hard)':16} {'-':6} {n:5} | {t_hard:8.3f} {1:7.1f} | "
                f"{t_hard_both:8.3f} {1:7.1f} |"
            )
            for method in args.methods:
                for mode in args.modes:
                    if mode not in METHODS[method].modes:
                        continue  # e.g. smooth_sort has only "smooth"
                    r = measure(_soft(op, method, mode), x, softness, args.repeats)
                    versus = ""
                    if reference is not None:
                        versus = _versus(
                            _soft(op, method, mode, reference), x, softness, r, args
                        )
                    print(
                        f"{op:7} {method:16} {mode:6} {n:5} | {r['fwd']:8.2f} "
                        f"{r['fwd'] / t_hard:7.1f} | {r['both']:8.2f} "
                        f"{r['both'] / t_hard_both:7.1f} | {r['compile']:9.2f} | "
                        f"{r['temp'] / 2**20:9.2f} "
                        f"{r['temp'] / args.batch / 1024:8.1f} | "
                        f"{r['traces']}{versus}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
