r"""SoftSort's piecewise modes (`"c0"`, `"c1"`, `"c2"`) in $O(n \log n)$.

In units of the softness ($u = s / \tau$, with $s$ the sorted scores), row $i$
of the soft permutation in sorted order is

$$p_{ij} = (r_i - |u_i - u_j|)_+^q, \qquad
  F_i(r_i) = \sum_j (r_i - |u_i - u_j|)_+^q = 1,$$

with $q = 1, 2, 3$ for c0, c1, c2: the simplex projection of
$\theta_{ij} = -|u_i - u_j|$ (threshold $\lambda_i = -r_i$). Its support is the
run of sorted elements within $r_i \le 1$ of $u_i$. On the left of $u_i$ the
kernel is $(u_j - b_i)^q$ with $b_i = u_i - r_i$, on the right $(a_i - u_j)^q$
with $a_i = u_i + r_i$: truncated powers summed over an index range, which a
`PowerTree` gives in $O(\log n)$ (see `power_sums`). So:

- the radius $r_i$ comes from evaluations of $F_i$ (two range queries
  each), started from a cheap estimate (`_start_radius`: a trapezoid rule
  over neighbours at doubling offsets). Each evaluation gives the moments of
  the support at the current radius, and `_refine` solves that support's
  polynomial, plus the few nearest elements outside it as they enter, for
  the next radius; when no other element crosses on the way, that is the
  exact root, and the row is solved without another evaluation. After one
  evaluation, over 99 % of the rows are solved on typical data; the rest
  are evaluated alone (a sixteenth of the rows per round, not all of
  them);
- row sums $\sum_j p_{ij} v_j$ (sorting) query the columns' tree;
- column sums $\sum_i p_{ij} u_i$ (ranks, and the backward pass of sorting)
  query a tree over the rows' ends $a_i$ and $b_i$: $r$ is 1-Lipschitz in
  $u$, so $a$ and $b$ are non-decreasing and the rows covering an element
  form an index range too.

The backward passes are the projection's closed-form Jacobian,
$d\theta_{ij} = w_{ij} (dp_{ij} - \mu_i)$ with $w_{ij} = q (r_i - |u_i -
u_j|)_+^{q-1}$, contracted with $\partial \theta_{ij} / \partial u =
\mp \operatorname{sign}(u_i - u_j)$ ($\operatorname{sign}(0) = 0$ at ties, as
in the dense path): again truncated-power sums, of degree $q - 1$, signed by
side. Nothing of size $n \times n$ is formed, in either pass.

The ends $a_i$, $b_i$ are never formed as floats: the trees take points and
queries as `(u, +-r)` pairs and only subtract nearby `u`s (exactly). For
scores / softness beyond about $10^7$ in float32, $u_i + r_i$ would round to
$u_i$ and every support would look empty.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._projections.simplex import MAX_NEWTON_STEPS
from .._util import tie_runs
from .base import with_ones
from .power_sums import _binomials, build, query


# Below this many elements the dense chunked path of `score.py` is faster
# (`scripts/bench_ordering.py`, forward and backward: the dense path is 1.5x
# faster at n = 128, 1.4-1.8x slower at n = 256 and 3-5x slower at n = 1024).
MIN_SIZE = 256
# Newton steps on the weighted neighbours' sum for the first radius.
START_STEPS = 3
# Newton steps on the support's polynomial between two evaluations of `F`.
REFINE_STEPS = 4
# Nearest elements outside a support, on each side, that the refinement takes
# in as they enter: after one evaluation, most rows' supports are a few
# elements short of the root's.
OUTSIDE = 4
# Evaluations for every row, then for the unsolved rows only, up to one in
# `STRAGGLERS` at a time (with `OUTSIDE = 4`, a second full round measured
# 30 % slower: it re-solves rows that were already exact).
FULL_ROUNDS = 1
STRAGGLERS = 16


def _search(points: Array, queries: Array, side: str) -> Array:
    """`jnp.searchsorted` along the last axis, for any batch shape."""
    search = functools.partial(jnp.searchsorted, side=side)
    return jnp.vectorize(search, signature="(n),(k)->(k)")(points, queries)


class _Rows(NamedTuple):
    """Rows' centres, radii, normalisers and index ranges in the sorted columns:
    support `[lo, hi)`, tied with the centre `[tie_lo, tie_hi)`."""

    u: Array
    r: Array
    total: Array
    lo: Array
    tie_lo: Array
    tie_hi: Array
    hi: Array


def _mirrored(sums: Array) -> Array:
    """Power sums `sum (y - x)^k c` (powers on axis -2) -> `sum (x - y)^k c`."""
    powers = sums.shape[-2]
    signs = jnp.asarray([(-1.0) ** k for k in range(powers)], sums.dtype)
    return sums * signs[:, None]


def _offsets(n: int) -> list[int]:
    """Neighbour offsets 1, 2, 3, 4, 6, 8, 12, 16, ... (two per octave) below
    `n - 1`, then `n - 1`."""
    offsets, power = [1], 2
    while power < n - 1:
        offsets += [power, power + power // 2]
        power *= 2
    return [o for o in offsets if o < n - 1] + [n - 1] if n > 1 else []


def _start_radius(u: Array, positions: Array, q: int) -> Array:
    """An estimate of each row's radius, accurate for smooth densities.

    Neighbours at offsets `1, 2, 3, 4, 6, 8, ...` on each side stand for the
    groups of elements between them: each group's kernel sum is estimated by
    the trapezoid rule on its two ends (its size times the mean of the kernel
    at the previous neighbour and at its own). Newton's method on that sum,
    convex and increasing like `F`, from the closed-form upper bound for the
    first groups alone, gives the estimate; it may lie on either side of the
    radius (`_refine` takes either).
    """
    n = u.shape[-1]
    rows_u = jnp.take(u, positions, axis=-1)
    distances, weights, previous = [], [], 0
    for offset in _offsets(n):
        for sign in (1, -1):
            # Elements i + sign * (previous, offset] inside the row.
            room = n - 1 - positions if sign > 0 else positions
            count = jnp.clip(jnp.minimum(offset, room) - previous, 0)
            index = jnp.clip(positions + sign * offset, 0, n - 1)
            distances.append(sign * (jnp.take(u, index, axis=-1) - rows_u))
            weights.append(count.astype(u.dtype))
        previous = offset
    # All elements within offset o of i are within the larger of the two group
    # distances, so F(r) >= N (r - d)^q: r <= d + N^(-1/q), for every group.
    r, within = jnp.ones_like(rows_u), jnp.ones_like(rows_u)
    for j in range(0, len(distances), 2):
        within = within + weights[j] + weights[j + 1]
        reach = jnp.maximum(distances[j], distances[j + 1])
        r = jnp.minimum(r, reach + within ** (-1 / q))
    # Trapezoid weights: half of each group at its far end, half at its near
    # end, which is the previous group's far end (or the row's own element).
    own = 1 + (weights[0] + weights[1]) / 2 if weights else 1
    weights = [
        (w + (weights[j + 2] if j + 2 < len(weights) else 0)) / 2
        for j, w in enumerate(weights)
    ]
    for _ in range(START_STEPS):
        value, slope = own * r**q, own * q * r ** (q - 1)
        for d, w in zip(distances, weights, strict=True):
            gap = jnp.maximum(r - d, 0)
            value = value + w * gap**q
            slope = slope + w * q * (
                gap ** (q - 1) if q > 1 else (gap > 0).astype(gap.dtype)
            )
        r = r - (value - 1) / slope
    return r


def _refine(
    r: Array,
    moments: Array,
    far: Array,
    outside: Array,
    q: int,
    tol: float,
) -> tuple[Array, Array, Array, Array]:
    """A radius closer to the root, from `F`'s moments at `r`; whether it is
    the root, `F` there if it is, and which elements of `outside` it takes in.

    `moments[..., l] = sum_j (r - d_j)^l` over the support at `r`, whose
    farthest element is at distance `far`. `outside` (`(..., 2 E + 2)`) holds
    the distances of the `E + 1` nearest elements outside it on each side, in
    order (`inf` past the ends), `E = OUTSIDE`. The function solved is
    `G(r') = P(r') + sum_e (r' - d_e)_+^q`: the support's polynomial
    `P(r') = sum_j (r' - d_j)^q`, moved from `r` with the moments, and the
    truncated terms of the first `E` outside elements on each side. Above
    `far` it equals `F` up to the next outside element, and it misses only
    those beyond. The candidates, each an upper bound on the root:

    - the plain Newton step on `F` (by convexity, from either side);
    - the root of `G`, by Newton's method, where `G >= 1` and `G` increases
      there (odd `q`, or `r' >= far`): below `r` it bounds `F` from below for
      odd `q`; above `far` it equals `F` or falls short of it. It is the root
      of `F` itself when `far < r'` and no element beyond the `E` taken in on
      either side lies within `r'`;
    - `far`, where `F(far) = P(far) >= 1`.
    """
    # Each quantity as a separate, contiguous `(...,)` array, so that the
    # solve fuses elementwise: fused strided reads of the short trailing axes
    # measured several times slower (the barrier keeps the transposed copies).
    outside, moments = jax.lax.optimization_barrier(
        (jnp.moveaxis(outside, -1, 0), jnp.moveaxis(moments, -1, 0))
    )
    half = outside.shape[0] // 2
    taken = [outside[e] for e in (*range(half - 1), *range(half, 2 * half - 1))]
    beyond = jnp.minimum(outside[half - 1], outside[-1])
    binomials = _binomials(q)

    def value_and_slope(delta: Array) -> tuple[Array, Array]:
        # G(r - delta) and its slope: the moments moved by -delta (binomial
        # theorem), plus the outside elements' truncated terms.
        steps = [jnp.ones_like(delta)]
        for _ in range(q):
            steps.append(steps[-1] * -delta)
        value, slope = (
            sum(
                (c * steps[p - j] * moments[j] for j, c in enumerate(binomials[p])),
                jnp.zeros_like(r),
            )
            for p in (q, q - 1)
        )
        for t in taken:
            gap = jnp.maximum(r - delta - t, 0)
            value = value + gap**q
            slope = slope + (gap ** (q - 1) if q > 1 else (gap > 0).astype(gap.dtype))
        return value, q * slope

    def newton(delta: Array) -> Array:
        value, slope = value_and_slope(delta)
        return delta + jnp.where(slope > 0, (value - 1) / slope, 0)

    step = newton(jnp.zeros_like(r))
    delta = step
    for _ in range(REFINE_STEPS):
        delta = newton(delta)
    value = value_and_slope(delta)[0]
    root = r - delta
    rising = (root >= far) if q % 2 == 0 else jnp.ones_like(root, bool)
    valid = rising & (value >= 1 - tol)
    exact = valid & (root > far) & (root <= beyond) & (value - 1 <= tol)
    far_valid = value_and_slope(r - far)[0] >= 1
    bound = jnp.minimum(r - step, jnp.where(valid, root, jnp.inf))
    bound = jnp.minimum(bound, jnp.where(far_valid, far, jnp.inf))
    entered = jnp.stack(taken, -1) < root[..., None]
    return jnp.where(exact, root, bound), exact, value, entered


class _State(NamedTuple):
    """Each row's radius, normaliser, support and whether it is solved."""

    r: Array
    total: Array
    lo: Array
    hi: Array
    done: Array


def _solve_rows(u: Array, positions: Array, q: int) -> _Rows:
    """Radius, normaliser and support of the rows at `positions`.

    `FULL_ROUNDS` evaluations of `F` for every row, then rounds over the rows
    not solved yet only, up to `1 / STRAGGLERS` of them at a time: after one
    round almost every row is solved, and a last few should not cost a pass
    over all of them.
    """
    n = u.shape[-1]
    rows_u = jnp.take(u, positions, axis=-1)
    tie_lo, tie_hi = (jnp.take(x, positions, axis=-1) for x in _tie_bounds(u))
    tree = build(u, jnp.ones_like(u)[..., None], q)
    tol = 64 * float(jnp.finfo(u.dtype).eps)

    def advance(centre: Array, low: Array, high: Array, state: _State) -> _State:
        """Evaluate `F` at the rows' radii, then refine; rows already solved
        keep their state."""
        r = state.r
        # The support always holds the ties (`u_i - r` may round to `u_i`).
        lo = jnp.minimum(_search(u, centre - r, "right"), low)
        hi = jnp.maximum(_search(u, centre + r, "left"), high)
        sums = query(tree, centre, lo, high, -r)
        moments = (sums + _mirrored(query(tree, centre, high, hi, r)))[..., 0]
        # The farthest elements inside, and the nearest outside on each side.
        steps = jnp.arange(OUTSIDE + 1, dtype=lo.dtype)
        below, above = lo[..., None] - 1 - steps, hi[..., None] + steps
        ends = jnp.concatenate([lo[..., None], hi[..., None] - 1, below, above], -1)
        index = jnp.clip(ends, 0, n - 1).reshape(*lo.shape[:-1], -1)
        ends = jnp.take_along_axis(u, index, axis=-1).reshape(ends.shape)
        first, last = ends[..., 0], ends[..., 1]
        far = jnp.maximum(centre - first, last - centre)
        outside = jnp.concatenate(
            [
                jnp.where(
                    below >= 0, centre[..., None] - ends[..., 2 : 3 + OUTSIDE], jnp.inf
                ),
                jnp.where(
                    above < n, ends[..., 3 + OUTSIDE :] - centre[..., None], jnp.inf
                ),
            ],
            -1,
        )
        total = moments[..., q]
        converged = jnp.abs(total - 1) <= tol
        refined, exact, root_total, entered = _refine(r, moments, far, outside, q, tol)
        grown = exact & ~converged
        left, right = jnp.split(entered, 2, axis=-1)
        lo = jnp.where(grown, lo - jnp.sum(left, -1, dtype=lo.dtype), lo)
        hi = jnp.where(grown, hi + jnp.sum(right, -1, dtype=hi.dtype), hi)
        new = _State(
            jnp.where(converged, r, refined),
            jnp.where(converged, total, root_total),
            lo,
            hi,
            state.done | converged | exact,
        )
        return jax.tree.map(
            lambda old, new: jnp.where(state.done, old, new), state, new
        )

    r = _start_radius(u, positions, q)
    state = _State(r, jnp.ones_like(r), tie_lo, tie_hi, jnp.zeros_like(r, bool))
    # Unrolled: as a `while_loop` (one traced copy, an early exit) the
    # forward pass measured 1.5x slower, compiling only 20 % faster.
    for _ in range(FULL_ROUNDS):
        state = advance(rows_u, tie_lo, tie_hi, state)

    # Then the unsolved rows, gathered `width` at a time per batch row.
    k = rows_u.shape[-1]
    width = max(1, k // STRAGGLERS)
    pick = jax.vmap(lambda done: jnp.nonzero(~done, size=width, fill_value=k)[0])

    def cond(carry: tuple[Array, _State]) -> Array:
        # The cap allows every row as many evaluations as a full round would.
        step, state = carry
        return (step < MAX_NEWTON_STEPS * STRAGGLERS) & ~jnp.all(state.done)

    def body(carry: tuple[Array, _State]) -> tuple[Array, _State]:
        step, state = carry
        done = state.done.reshape(-1, k)
        chosen = pick(done).reshape(*state.done.shape[:-1], width)
        index = jnp.minimum(chosen, k - 1)  # padding slots: computed, dropped

        def gather(x: Array) -> Array:
            return jnp.take_along_axis(x, index, axis=-1)

        part = advance(
            gather(rows_u), gather(tie_lo), gather(tie_hi), jax.tree.map(gather, state)
        )

        def scatter(x: Array, new: Array) -> Array:
            flat = x.reshape(-1, k)
            put = jax.vmap(lambda row, i, v: row.at[i].set(v, mode="drop"))
            return put(flat, chosen.reshape(-1, width), new.reshape(-1, width)).reshape(
                x.shape
            )

        return step + 1, jax.tree.map(scatter, state, part)

    init = (jnp.asarray(FULL_ROUNDS, jnp.int32), state)
    state = jax.lax.while_loop(cond, body, init)[1]
    return _Rows(rows_u, state.r, state.total, state.lo, tie_lo, tie_hi, state.hi)


def _row_sums(
    u: Array, rows: _Rows, v: Array, order: int, lowest: int
) -> tuple[Array, Array]:
    """`sum_j (r_i - |u_i - u_j|)^k v_j` for `lowest <= k <= order` (0 below)
    over each row's support: the elements left of and tied with its centre,
    and those right of it, each `(..., k, order + 1, m)`."""
    tree = build(u, v, order)
    near = query(tree, rows.u, rows.lo, rows.tie_hi, -rows.r, lowest)
    far = query(tree, rows.u, rows.tie_hi, rows.hi, rows.r, lowest)
    return near, _mirrored(far)


def _column_sums(
    u: Array, rows: _Rows, positions: Array, c: Array, order: int, lowest: int
) -> tuple[Array, Array]:
    """`sum_i (r_i - |u_i - u_j|)^k c_i` for `lowest <= k <= order` (0 below)
    and each column `j`, over the rows at `positions` (weights `c`,
    `(..., k, m)`) whose support holds it: those left of and tied with `u_j`,
    and those right of it, each `(..., n, order + 1, m)`."""
    n = u.shape[-1]
    order_of_rows = jnp.argsort(positions)
    rows_u, r, lo, hi = (
        jnp.take(x, order_of_rows, axis=-1) for x in (rows.u, rows.r, rows.lo, rows.hi)
    )
    c = jnp.take(c, order_of_rows, axis=-2)
    # Sorted by centre, the rows' supports start and end in order: the rows
    # covering element j are those after the last support ending at or before
    # j, up to the last starting at or before it, and those left of (or tied
    # with) it come first. Counting, not searching, keeps the columns exactly
    # the transpose of the rows; `cummax` restores the order where rounding
    # broke it by an ulp.
    last = lo.ndim - 1
    first = _counts_at_most(jax.lax.cummax(hi, last), n)
    after = _counts_at_most(jax.lax.cummax(lo, last), n)
    runs = tie_runs(u)
    row_runs = jnp.take(runs, jnp.take(positions, order_of_rows), axis=-1)
    by_run = _counts_at_most(row_runs, n)
    tie_hi = jnp.take_along_axis(by_run, runs, axis=-1)
    # Rows left of (and tied with) u_j have kernel a_i - u_j, rows right of it
    # u_j - b_i; the trees keep a_i and b_i as (u_i, +-r_i).
    near = query(build(rows_u, c, order, r), u, first, tie_hi, lowest=lowest)
    far = query(build(rows_u, c, order, -r), u, tie_hi, after, lowest=lowest)
    return near, _mirrored(far)


def _tied_sums(runs: Array, items: Array, c: Array, at: Array) -> Array:
    """Sums of `c` (`(..., k, m)`, one per item; `items` index the sorted
    elements) over the items in each run of equal scores (`runs`, see `tie_runs`),
    read at the runs `at`. Run by run, so exactly: no differences of prefix
    sums."""
    n = runs.shape[-1]
    item_runs = jnp.take(runs, items, axis=-1)
    flat_runs = item_runs.reshape(-1, item_runs.shape[-1])
    flat_c = c.reshape(-1, *c.shape[-2:])
    sums = jax.vmap(lambda g, w: jax.ops.segment_sum(w, g, n))(flat_runs, flat_c)
    sums = sums.reshape(*c.shape[:-2], n, c.shape[-1])
    return jnp.take_along_axis(sums, at[..., None], axis=-2)


def _counts_at_most(values: Array, n: int) -> Array:
    """For `j = 0..n-1`, how many of `values` (`(..., k)`, in `[0, n]`) are at
    most `j`: a histogram, summed up."""
    flat = values.reshape(-1, values.shape[-1])
    count = jax.vmap(lambda v: jnp.zeros(n + 1, jnp.int32).at[v].add(1, mode="drop"))
    counts = jnp.cumsum(count(flat)[:, :n], -1)
    return counts.reshape(*values.shape[:-1], n)


def _tie_bounds(u: Array) -> tuple[Array, Array]:
    """The run of values equal to each sorted element, `[tie_lo, tie_hi)`."""
    n, last = u.shape[-1], u.ndim - 1
    index = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), u.shape)
    differ = u[..., 1:] != u[..., :-1]
    edge = jnp.ones_like(u[..., :1], bool)
    starts = jnp.concatenate([edge, differ], -1)
    ends = jnp.concatenate([differ, edge], -1)
    tie_lo = jax.lax.cummax(jnp.where(starts, index, 0), last)
    tie_hi = jax.lax.cummin(jnp.where(ends, index + 1, n), last, reverse=True)
    return tie_lo, tie_hi


def _bilinear(
    u: Array,
    rows: _Rows,
    positions: Array,
    left: Array,
    right: Array,
    q: int,
    transposed: bool,
    row_sums: tuple[Array, Array] | None = None,
) -> tuple[Array, Array]:
    """For `f = sum_i left_i . (P right)_i` over the rows at `positions`: the
    derivative of `f` in `u` (through the projection), and `P^T left` if
    `transposed`, else `P right`. The other product is not needed, so its
    sums go only up to the power `q - 1` the derivative needs. `row_sums` are
    the rows' sums of `[right, 1]` (`_row_sums`) if the caller has them.

    The kernel's slope in `u` is `-sign(u_i - u_j) w_ij`, with `sign(0) = 0`:
    tied elements count in the weights `w` but not in the signed sums, so
    their share (`r^(q-1)` times their payload) comes off the left side.
    """
    n = u.shape[-1]
    runs = tie_runs(u)
    payload = with_ones(right)
    near, far = row_sums or _row_sums(u, rows, payload, q - transposed, q - 1)
    row_runs = jnp.take(runs, positions, axis=-1)
    tied = rows.r[..., None] ** (q - 1) * _tied_sums(
        runs, jnp.arange(n), payload, row_runs
    )
    w_sum = q * (near + far)[..., q - 1, :]
    w_signed = q * (near[..., q - 1, :] - tied - far[..., q - 1, :])
    # mu_i = sum_j w_ij dp_ij / sum_j w_ij with dp_ij = left_i . right_j.
    mu = jnp.sum(left * w_sum[..., :-1], -1) / w_sum[..., -1]
    # d theta_ij = w_ij (dp_ij - mu_i); theta_ij = -|u_i - u_j|.
    d_rows = mu * w_signed[..., -1] - jnp.sum(left * w_signed[..., :-1], -1)
    weights = jnp.concatenate([left / rows.total[..., None], mu[..., None]], -1)
    order = q - (not transposed)
    c_near, c_far = _column_sums(u, rows, positions, weights, order, q - 1)
    tied = _tied_sums(runs, positions, rows.r[..., None] ** (q - 1) * weights, runs)
    signed = q * (c_far[..., q - 1, :] - (c_near[..., q - 1, :] - tied))
    d_u = jnp.sum(right * signed[..., :-1], -1) - signed[..., -1]
    d_u = d_u.at[..., positions].add(d_rows)
    if transposed:
        return d_u, (c_near + c_far)[..., q, :-1]
    return d_u, (near + far)[..., q, :-1] / rows.total[..., None]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def apply_rows(
    u: Float[Array, "*batch n"],
    v: Float[Array, "*batch n m"],
    positions: Int[Array, " k"],
    q: int,
) -> Float[Array, "*batch k m"]:
    """`P[positions] @ v` for the sorted, softness-scaled scores `u`."""
    return _apply_rows_fwd(u, v, positions, q)[0]


def _apply_rows_fwd(u, v, positions, q):
    rows = _solve_rows(u, positions, q)
    # The sums of the ones too: the backward pass needs them, and a wider
    # payload costs less than a second pass over the rows.
    sums = _row_sums(u, rows, with_ones(v), q, q - 1)
    out = (sums[0] + sums[1])[..., q, :-1] / rows.total[..., None]
    return out, (u, v, positions, rows, sums)


def _apply_rows_bwd(q, residuals, g):
    u, v, positions, rows, sums = residuals
    d_u, d_v = _bilinear(u, rows, positions, g, v, q, True, sums)
    return d_u, d_v, None


apply_rows.defvjp(_apply_rows_fwd, _apply_rows_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def apply_columns(
    u: Float[Array, "*batch n"], c: Float[Array, "*batch n m"], q: int
) -> Float[Array, "*batch n m"]:
    """`P^T @ c` for the sorted, softness-scaled scores `u`."""
    return _apply_columns_fwd(u, c, q)[0]


def _apply_columns_fwd(u, c, q):
    positions = jnp.arange(u.shape[-1])
    rows = _solve_rows(u, positions, q)
    near, far = _column_sums(u, rows, positions, c / rows.total[..., None], q, q)
    out = (near + far)[..., q, :]
    return out, (u, c, rows)


def _apply_columns_bwd(q, residuals, h):
    u, c, rows = residuals
    positions = jnp.arange(u.shape[-1])
    d_u, d_c = _bilinear(u, rows, positions, c, h, q, transposed=False)
    return d_u, d_c


apply_columns.defvjp(_apply_columns_fwd, _apply_columns_bwd)
