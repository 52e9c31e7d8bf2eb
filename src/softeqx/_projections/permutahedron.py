r"""Regularised projections onto the permutahedron, solved exactly by PAV.

The permutahedron $\mathcal{P}(w)$ is the convex hull of the permutations of
$w \in \mathbb{R}^n$. For a regulariser $\Psi$ and a target $z$,

$$P_\Psi(z, w) = \operatorname{argmax}_{\mu \in \mathcal{P}(w)}
\langle z, \mu \rangle - \Psi(\mu).$$

With $z$ and $w$ both sorted in decreasing order, Blondel et al. (2020)
reduce this to an isotonic regression: $\mu_i = (\psi^*)'(z_i - v_i)$, where
$v$ is the decreasing sequence that is constant on blocks $B$ of consecutive
indices, each block's value $\gamma_B$ solving
$\sum_{i \in B} (\psi^*)'(z_i - \gamma_B) = \sum_{i \in B} w_i$. The blocks
are found by pool-adjacent-violators (PAV): push the elements one by one on a
stack of blocks and merge the top two while their values are not decreasing.
One sort plus PAV costs $O(n \log n)$ time and $O(n)$ memory.

- `c0`: $\Psi = \frac12 \lVert\mu\rVert^2$; block value
  $\gamma_B = \operatorname{mean}_B(z - w)$, output $\mu_i = z_i - \gamma_B$.
- `smooth`: entropy in log space (the $E$ of the paper);
  $\gamma_B = \operatorname{LSE}(z_B) - \operatorname{LSE}(w_B)$,
  $\mu_i = z_i - \gamma_B$.
- `c1`: $\Psi = \frac23 \sum_i \tilde\mu_i^{3/2}$; $\gamma_B$ solves
  $\sum_B (z_i - \gamma)^2 = \sum_B \tilde w_i$, $\tilde\mu_i = (z_i - \gamma_B)^2$.
- `c2`: $\Psi = \frac34 \sum_i \tilde\mu_i^{4/3}$; $\gamma_B$ solves
  $\sum_B (z_i - \gamma)^3 = \sum_B \tilde w_i$, $\tilde\mu_i = (z_i - \gamma_B)^3$.

`smooth` is the log-space KL projection $\log P_E(z, e^w)$: defined for every
real $w$ and shift-equivariant. The p-norm modes act on
$\tilde\mu = \mu - (\min w - 1)$, so that the permutahedron lies in
$[1, \infty)^n$ where their regularisers are finite and their link functions
$u^2$, $u^3$ are polynomials: the block equation is then a quadratic or a
depressed cubic in the block's central moments, solved in closed form
(Cardano) and polished by Newton's method. The results are shift-equivariant
in $w$ for every mode.

**Precision.** Targets come as $z = u / \varepsilon$ with the softness
$\varepsilon$ possibly tiny. Every block keeps its statistics relative to its
first element, and differences $(u_i - u_j) / \varepsilon$ are formed from the
unscaled $u$; a block never spans more than about two units of $z$ (its value
lies between those of its first and last element), so nothing large is ever
subtracted from something large. Singleton blocks return $w_i$ to rounding.

**Derivatives.** The solution is differentiable wherever the blocks are
stable, with a block-diagonal Jacobian: for $i \in B$,
$d\mu_i = \kappa_i\,(dz_i - \sum_{j \in B} \alpha_j dz_j)
+ \eta_i \sum_{j \in B} \beta_j dw_j$, with per-element weights from the
table's derivative. The JVP below applies it with segment sums (linear, so
JAX transposes it for reverse mode): exact, never differentiating through the
loop, and `jax.jacfwd` works.

??? cite "Reference"

    ```bibtex
    @inproceedings{blondel2020fast,
      title={Fast Differentiable Sorting and Ranking},
      author={Blondel, Mathieu and Teboul, Olivier and Berthet, Quentin
              and Djolonga, Josip},
      booktitle={International Conference on Machine Learning},
      year={2020}
    }
    ```
"""

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._util import inverse_permutation


PAV_MODES = ("smooth", "c0", "c1", "c2")
# The p-norm modes work on w shifted so that its smallest entry is this.
PNORM_FLOOR = 1.0
NEWTON_POLISH = 2
# Parallel pooling rounds tried before falling back to the stack algorithm.
POOLING_ROUNDS = 16


def _pnorm_power(mode: str) -> int:
    return {"c1": 2, "c2": 3}[mode]


def _solve_central(n: Array, m2: Array, m3: Array, total: Array, mode: str) -> Array:
    """The root `t` of `sum_B (e_i - t)^q = total` with `e` centred (`q = 2, 3`).

    Takes the block's size, central moments `m2 = sum e^2`, `m3 = sum e^3` and
    `total = sum w~ > 0`; returns the root with every `e_i - t > 0`.
    """
    if mode == "c1":
        # m2 + n t^2 = total, t < min(e) <= 0.
        return -jnp.sqrt(jnp.maximum(total - m2, 0) / n)
    # t^3 + p t + q = 0 with p >= 0: one real root (Cardano, cancellation-free form).
    p = 3 * m2 / n
    q = (total - m3) / n
    disc = jnp.sqrt((q / 2) ** 2 + (p / 3) ** 3)
    big = jnp.cbrt(jnp.abs(q) / 2 + disc)
    safe = jnp.where(big > 0, big, 1)
    t = jnp.where(big > 0, -jnp.sign(q) * (big - p / (3 * safe)), 0)
    for _ in range(NEWTON_POLISH):
        slope = 3 * t**2 + p
        safe_slope = jnp.where(slope > 0, slope, 1)
        t = t - jnp.where(slope > 0, (t**3 + p * t + q) / safe_slope, 0)
    return t


def _block_values(
    u: Array, w: Array, eps: Array, block: Array, ref: Array, mode: str
) -> Array:
    """Each element's block value relative to its block's first element, `tau`.

    `gamma_B = z[ref] + tau`; statistics use local coordinates
    `d = (u - u[ref]) / eps`, which stay small inside a block.
    """
    n = u.shape[0]
    d = (u - u[ref]) / eps

    def total(x: Array) -> Array:
        return jax.ops.segment_sum(x, block, num_segments=n)[block]

    count = total(jnp.ones_like(u))
    if mode == "c0":
        return total(d - w) / count
    if mode == "smooth":
        # `u` and `w` decrease, so a block's largest `d` (zero) and `w` are
        # those of its first element: the log-sum-exps need no segment max.
        peak = w[ref]
        return jnp.log(total(jnp.exp(d))) - peak - jnp.log(total(jnp.exp(w - peak)))
    mean = total(d) / count
    e = d - mean
    t = _solve_central(count, total(e**2), total(e**3), total(w), mode)
    return mean + t


def _pooling_rounds(u: Array, w: Array, eps: Array, mode: str) -> tuple[Array, Array]:
    """PAV for one row by parallel pooling rounds, at most `POOLING_ROUNDS`.

    Every pair of adjacent blocks whose values are not decreasing belongs to
    one block of the solution (the pooling lemma of PAV, valid for separable
    convex losses), so each round merges every such pair at once and
    recomputes the block values with segment sums: `O(n)` vectorised work per
    round. Most inputs need a handful of rounds, but a chain of merges that
    each trigger the next needs one round per link (up to `n`), so the rounds
    stop after `POOLING_ROUNDS` and `_pav` finishes such rows.

    Returns the mask of the elements that start a block, and whether it is
    final.
    """
    n = u.shape[0]
    index = jnp.arange(n, dtype=jnp.int32)

    def pool(starts: Array, ref: Array, tau: Array) -> tuple[Array, Array]:
        # Block starts whose block does not decrease from the previous one.
        gap = (u[jnp.roll(ref, 1)] - u[ref]) / eps + jnp.roll(tau, 1) - tau
        merge = starts & (index > 0) & (gap <= 0)
        return starts & ~merge, jnp.any(merge)

    def body(carry: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
        count, starts, _ = carry
        block = jnp.cumsum(starts.astype(jnp.int32)) - 1
        ref = jax.lax.cummax(jnp.where(starts, index, 0))
        tau = _block_values(u, w, eps, block, ref, mode)
        return count + 1, *pool(starts, ref, tau)

    def cond(carry: tuple[Array, Array, Array]) -> Array:
        count, _, again = carry
        return again & (count < POOLING_ROUNDS)

    # The first round, on single elements, needs no segment sums.
    first = pool(jnp.ones(n, bool), index, _single(w, index, mode).value)
    _, starts, again = jax.lax.while_loop(cond, body, (jnp.ones((), jnp.int32), *first))
    return starts, ~again


class _Stats(NamedTuple):
    """A block's statistics, in the local coordinates of its first element `ref`.

    `local` holds the mode's sufficient statistics of `d = (u - u[ref]) / eps`
    and `w` over the block (see `_single`, `_merge`), and `value` the block's
    value relative to `ref` (`tau`, see `_value`); arrays of the same shape.
    """

    ref: Array
    local: tuple[Array, ...]
    value: Array


def _single(w: Array, ref: Array, mode: str) -> _Stats:
    """The blocks `{ref}`, whose own coordinate is `d = 0`."""
    one, zero = jnp.ones_like(w), jnp.zeros_like(w)
    if mode == "c0":  # (count, sum of d - w)
        local: tuple[Array, ...] = (one, -w)
    elif mode == "smooth":  # (LSE of d, LSE of w)
        local = (zero, w)
    else:  # (count, mean of d, central moments 2 and 3, sum of w)
        local = (one, zero, zero, zero, w)
    return _Stats(ref, local, _value(local, mode))


def _value(local: tuple[Array, ...], mode: str) -> Array:
    """A block's value relative to its first element, `tau`, from its statistics."""
    if mode == "c0":
        return local[1] / local[0]
    if mode == "smooth":
        return local[0] - local[1]
    count, mean, m2, m3, total = local
    return mean + _solve_central(count, m2, m3, total, mode)


def _merge(first: _Stats, second: _Stats, shift: Array, mode: str) -> _Stats:
    """The union of two adjacent blocks; `shift` maps `second`'s coordinates
    to `first`'s (`d_first = d_second + shift`)."""
    a, b = first.local, second.local
    if mode == "c0":
        local: tuple[Array, ...] = (a[0] + b[0], a[1] + b[1] + b[0] * shift)
    elif mode == "smooth":
        local = (jnp.logaddexp(a[0], b[0] + shift), jnp.logaddexp(a[1], b[1]))
    else:
        # Pairwise update of the mean and central moments (Chan, Golub and LeVeque).
        (na, ma, m2a, m3a, wa), (nb, mb, m2b, m3b, wb) = a, b
        count = na + nb
        delta = mb + shift - ma
        m2 = m2a + m2b + delta**2 * na * nb / count
        m3 = (
            m3a
            + m3b
            + delta**3 * na * nb * (na - nb) / count**2
            + 3 * delta * (na * m2b - nb * m2a) / count
        )
        local = (count, ma + delta * nb / count, m2, m3, wa + wb)
    return _Stats(first.ref, local, _value(local, mode))


def _pav(u: Array, w: Array, eps: Array, mode: str) -> Array:
    """The blocks of PAV for rows `u`, `w` (decreasing, shape `(batch, n)`), with
    a scalar softness `eps` or one per row (shape `(batch,)`).

    Parallel pooling rounds first (`_pooling_rounds`); rows they do not finish
    go through the textbook stack algorithm, all rows in step: each iteration either
    merges the two blocks on top of the stack, if their values are not
    decreasing, or pushes the next element as a block of its own, so a row
    takes at most `2n - 1` iterations of `O(1)` work, whatever the data. The
    two top blocks stay in registers and the rest of the stack in two arrays
    that each iteration writes and then reads at one position, so nothing of
    size `n` is copied per iteration.

    Returns a boolean mask of the elements that start a block.
    """
    batch, n = u.shape
    rows = jnp.arange(batch)
    per_row = None if eps.ndim == 0 else 0
    pooled, final = jax.vmap(_pooling_rounds, in_axes=(0, 0, per_row, None))(
        u, w, eps, mode
    )

    def at(x: Array, i: Array) -> Array:
        return jnp.take_along_axis(x, i[:, None], axis=1)[:, 0]

    def violates(top: Array, second: _Stats, last: _Stats) -> Array:
        """Whether the two top blocks have non-decreasing values."""
        gap = (at(u, second.ref) - at(u, last.ref)) / eps
        return (top >= 2) & (gap + second.value - last.value <= 0)

    def block_at(refs: Array, stats: Array, j: Array) -> _Stats:
        """The stacked block at position `j` of each row (its value recomputed)."""
        local = tuple(jnp.moveaxis(stats[rows, j], -1, 0))
        return _Stats(refs[rows, j], local, _value(local, mode))

    def body(carry):
        i, top, refs, stats, second, last, merge, _ = carry
        push = ~merge & (i < n)
        # `second` goes to its own stack position, below the top pair: kept on a
        # push, and above the stack (unused) on a merge. Writing first and then
        # reading the block under it from the written stack means that the
        # stack is only ever read after its last write: XLA updates it in place
        # instead of copying all of it every iteration.
        slot = jnp.maximum(top - 2, 0)
        refs = refs.at[rows, slot].set(second.ref)
        stats = stats.at[rows, slot].set(jnp.stack(second.local, axis=-1))
        below = block_at(refs, stats, jnp.maximum(top - 3, 0))
        shift = (at(u, last.ref) - at(u, second.ref)) / eps
        merged = _merge(second, last, shift, mode)
        following = jnp.minimum(i, n - 1)
        fresh = _single(at(w, following), following, mode)

        def pick(on_merge, on_push, otherwise):
            return jax.tree_util.tree_map(
                lambda m, p, o: jnp.where(merge, m, jnp.where(push, p, o)),
                on_merge,
                on_push,
                otherwise,
            )

        second = pick(below, last, second)
        last = pick(merged, fresh, last)
        step = push.astype(jnp.int32)
        i, top = i + step, top + step - merge.astype(jnp.int32)
        merge = violates(top, second, last)
        return i, top, refs, stats, second, last, merge, jnp.any(merge | (i < n))

    index = jnp.arange(n, dtype=jnp.int32)
    first = _single(w[:, 0], jnp.zeros(batch, jnp.int32), mode)
    # The stack holds each block's first element and its statistics (packed
    # along a last axis: one update and one read per iteration, not one per
    # statistic); values are recomputed from the statistics when read.
    refs = jnp.zeros((batch, n), jnp.int32)
    stats = jnp.zeros((batch, n, len(first.local)), w.dtype)
    one = jnp.ones(batch, jnp.int32)
    # The loop runs only if some row is not final (and then for every row).
    unfinished = jnp.any(~final) & (n > 1)
    init = (one, one, refs, stats, first, first, jnp.zeros(batch, bool), unfinished)

    _, top, refs, _, second, last, _, _ = jax.lax.while_loop(
        lambda carry: carry[-1], body, init
    )
    refs = jnp.where(index < top[:, None] - 2, refs, n)
    refs = jnp.where(index == top[:, None] - 2, second.ref[:, None], refs)
    refs = jnp.where(index == top[:, None] - 1, last.ref[:, None], refs)
    stacked = jnp.zeros((batch, n), bool).at[rows[:, None], refs].set(True, mode="drop")
    return jnp.where(final[:, None], pooled, stacked)


@functools.cache
def _batched_pav(mode: str) -> Callable[[Array, Array, Array], Array]:
    """`_pav` for `mode`, whose vmap folds the mapped axis into its rows.

    Under a plain `jax.vmap` the stack loop would run as a batched while loop
    that selects every carried array, the whole stack included, at every
    iteration: `O(n)` work per step instead of `O(1)`. Folding the mapped axis
    into the batch of rows keeps one loop over all rows.
    """

    @jax.custom_batching.custom_vmap
    def pav(u: Array, w: Array, eps: Array) -> Array:
        return _pav(u, w, eps, mode)

    @pav.def_vmap
    def rule(
        size: int, batched: Sequence[bool], u: Array, w: Array, eps: Array
    ) -> tuple[Array, bool]:
        u_mapped, w_mapped, eps_mapped = batched
        shape = (size, *(u.shape[1:] if u_mapped else u.shape))
        u = u if u_mapped else jnp.broadcast_to(u, shape)
        w = w if w_mapped else jnp.broadcast_to(w, shape)
        rows = shape[1]
        if eps_mapped or eps.ndim:
            # One softness per row of the folded batch: per mapped instance,
            # per row (from an inner vmap), or both.
            eps = eps.reshape(size if eps_mapped else 1, -1)
            eps = jnp.broadcast_to(eps, (size, rows)).reshape(-1)
        starts = pav(u.reshape(size * rows, -1), w.reshape(size * rows, -1), eps)
        return starts.reshape(shape), True

    return pav


def _solve_row(
    u: Array, w: Array, eps: Array, starts: Array, mode: str
) -> tuple[Array, tuple[Array, ...]]:
    """One row's projection and its Jacobian weights, given its blocks' starts.

    The weights are `(block, ref, kappa, alpha, eta, beta)` of the module
    docstring. The block values are recomputed here from segment sums in each
    block's local coordinates, so their precision does not depend on the
    order in which PAV merged the blocks.
    """
    n = u.shape[0]
    block = jnp.cumsum(starts.astype(jnp.int32)) - 1
    ref = jax.lax.cummax(jnp.where(starts, jnp.arange(n, dtype=jnp.int32), 0))
    tau = _block_values(u, w, eps, block, ref, mode)
    d = (u - u[ref]) / eps
    count = jax.ops.segment_sum(jnp.ones_like(u), block, num_segments=n)[block]

    def block_sum(x: Array) -> Array:
        return jax.ops.segment_sum(x, block, num_segments=n)[block]

    if mode in ("c0", "smooth"):
        mu = d - tau
        kappa = eta = jnp.ones_like(u)
        if mode == "c0":
            alpha = beta = 1 / count
        else:
            # Softmax of d and of w over each block, shifted by the block's max
            # (its first element's, as in `_block_values`).
            ed, ew = jnp.exp(d), jnp.exp(w - w[ref])
            alpha, beta = ed / block_sum(ed), ew / block_sum(ew)
        return mu, (block, ref, kappa, alpha, eta, beta)
    q = _pnorm_power(mode)
    gap = jnp.maximum(d - tau, 0)
    # A block of one returns its own w exactly (not a rounded root's power).
    mu = jnp.where(count == 1, w, gap**q)
    slope = q * gap ** (q - 1)
    total = block_sum(slope)
    safe = jnp.where(total > 0, total, 1)
    alpha = jnp.where(total > 0, slope / safe, 1 / count)
    return mu, (block, ref, slope, alpha, slope * count / safe, 1 / count)


def _solve(u: Array, w: Array, eps: Array, mode: str) -> tuple[Array, tuple]:
    batch = u.shape[:-1]
    n = u.shape[-1]
    flat_u, flat_w = u.reshape(-1, n), w.reshape(-1, n)
    # The blocks are piecewise constant: no derivative passes through them (and
    # `custom_vmap` takes none).
    starts = _batched_pav(mode)(*jax.lax.stop_gradient((flat_u, flat_w, eps)))
    mu, weights = jax.vmap(_solve_row, in_axes=(0, 0, None, 0, None))(
        flat_u, flat_w, eps, starts, mode
    )
    reshape = functools.partial(jnp.reshape, shape=(*batch, n))
    return reshape(mu), jax.tree_util.tree_map(reshape, weights)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def isotonic_projection(
    u: Float[Array, "*batch n"],
    w: Float[Array, "*batch n"],
    eps: Float[Array, ""],
    mode: str,
) -> Float[Array, "*batch n"]:
    """`P_Psi(u / eps, w~)` in the regulariser's coordinates, for decreasing `u`, `w`.

    For `c1`/`c2` `w` must already be shifted to `>= 1` and the output is
    $\\tilde\\mu$ (see the module docstring); use `project` for the full map.
    """
    return _solve(u, w, eps, mode)[0]


def _block_sum(x: Array, block: Array) -> Array:
    n = x.shape[-1]

    def row(x: Array, b: Array) -> Array:
        return jax.ops.segment_sum(x, b, num_segments=n)[b]

    flat = jax.vmap(row)(x.reshape(-1, n), block.reshape(-1, n))
    return flat.reshape(x.shape)


@isotonic_projection.defjvp
def _isotonic_jvp(
    mode: str, primals: tuple[Array, Array, Array], tangents: tuple[Array, Array, Array]
) -> tuple[Array, Array]:
    u, w, eps = primals
    du, dw, deps = tangents
    mu, (block, ref, kappa, alpha, eta, beta) = _solve(u, w, eps, mode)
    # Centre u within each block (relative to the block's first element).
    local = u - jnp.take_along_axis(u, ref, axis=-1)
    centred = local - _block_sum(alpha * local, block)
    dz = (du - _block_sum(alpha * du, block)) / eps - centred * deps / eps**2
    tangent = kappa * dz + eta * _block_sum(beta * dw, block)
    return mu, tangent


def project(
    u: Float[Array, "*batch n"],
    w: Float[Array, "*batch n"],
    softness: Float[Array, ""],
    mode: str,
) -> Float[Array, "*batch n"]:
    r"""$P_\Psi(u / \varepsilon, w)$ for decreasing `u` and `w` along the last axis.

    **Arguments:**

    - `u`: the targets times the softness, decreasing along the last axis.
    - `w`: the vector whose permutahedron is projected on, decreasing.
    - `softness`: $\varepsilon > 0$, a scalar.
    - `mode`: `"smooth"`, `"c0"`, `"c1"` or `"c2"` (see the module docstring).

    **Returns:**

    The projection, same shape, in the order of `u` (so decreasing).
    """
    if mode not in PAV_MODES:
        raise ValueError(f"`mode` must be one of {PAV_MODES}, got {mode!r}.")
    if mode in ("c1", "c2"):
        offset = w[..., -1:] - PNORM_FLOOR
        return isotonic_projection(u, w - offset, softness, mode) + offset
    return isotonic_projection(u, w, softness, mode)


def _grid(n: int, dtype) -> Array:
    """The decreasing target `(n-1, ..., 1, 0) / (n-1)`."""
    return (jnp.arange(n - 1, -1, -1) / (n - 1)).astype(dtype)


def soft_sort(
    a: Float[Array, "*batch n"],
    softness: Float[Array, ""],
    mode: str,
    presorted: bool = False,
) -> Float[Array, "*batch n"]:
    r"""Soft sort of `a` (ascending) along the last axis: $P_\Psi(g / \varepsilon, a)$.

    $g = (0, 1, \ldots, n-1)/(n-1)$ is the evenly spaced grid on $[0, 1]$. The
    output lies in the permutahedron of `a` (within `a`'s range, and in
    ascending order); it is the exact sort as `softness -> 0`. It depends on
    `a` only through its sort: with `presorted=True`, `a` must be in
    ascending order already and is not sorted again.
    """
    n = a.shape[-1]
    if n == 1:
        return a
    w = jnp.flip(a if presorted else jnp.sort(a, axis=-1), axis=-1)
    u = jnp.broadcast_to(_grid(n, a.dtype), a.shape)
    return jnp.flip(project(u, w, softness, mode), axis=-1)


def soft_rank(
    a: Float[Array, "*batch n"],
    softness: Float[Array, ""],
    mode: str,
    presorted: bool = False,
) -> Float[Array, "*batch n"]:
    r"""Soft ascending ranks in $[1, n]$: $P_\Psi(a / \varepsilon, \rho)$.

    $\rho = (1, \ldots, n)$.
    The largest element gets the largest rank; tied elements get equal ranks.
    It is the exact (1-based) rank when no two scores are closer than
    `softness`, and always as `softness -> 0`. With `presorted=True`, `a` must
    be in ascending order already and is not sorted again.
    """
    n = a.shape[-1]
    if n == 1:
        return jnp.ones_like(a)
    if not presorted:
        order = jnp.argsort(a, axis=-1)
        ascending = jnp.take_along_axis(a, order, axis=-1)
        ranks = soft_rank(ascending, softness, mode, presorted=True)
        return jnp.take_along_axis(ranks, inverse_permutation(order), axis=-1)
    u = jnp.flip(a, axis=-1)
    w = jnp.broadcast_to(jnp.arange(n, 0, -1).astype(a.dtype), a.shape)
    # Exact in theory; the clip only removes rounding (e.g. cube of a cube root).
    return jnp.flip(jnp.clip(project(u, w, softness, mode), 1, n), axis=-1)
