"""Optimal transport of the scores onto sorted targets (the Birkhoff polytope)."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._checks import SIGMOIDAL_MODES
from .._projections.transport import (
    default_tolerance,
    sorting_cost,
    sorting_potential,
    transport_plan,
)
from .base import AbstractOrderingMethod


class OptimalTransport(AbstractOrderingMethod):
    r"""Soft sorting by regularised optimal transport (Cuturi et al., 2019).

    The $n$ scores $a_j$ are transported onto $n$ evenly spaced sorted targets
    $t_i = i/(n-1)$ in $[0, 1]$ (the standardised scores lie in $(0, 1)$), with
    cost $(a_j - t_i)^2$ and unit mass on every element and every position:
    $$P = \operatorname*{argmin}_{P\mathbf 1 = \mathbf 1,\ P^\top\mathbf 1 =
    \mathbf 1,\ P \ge 0} \langle P, C\rangle + \tau \sum_{ij}\omega(P_{ij}).$$
    Row $i$ of $P$ is the soft index of the $i$-th smallest element. `"smooth"`
    is entropic OT (log-domain Sinkhorn, $\omega(p) = p\log p$); `"c0"`,
    `"c1"`, `"c2"` the p-norm regularisers $p^2/2$, $\tfrac23 p^{3/2}$,
    $\tfrac34 p^{4/3}$ of Blondel et al. (2018), whose plans are sparse. Its
    plans are doubly stochastic (as are those of `sorting_network` and
    `smooth_sort`): columns sum to 1 as well as rows, so soft ranks sum to
    $n(n+1)/2$. As
    $\tau \to 0$ the plan becomes the sorting permutation (ties share their
    mass).

    Since the plan only depends on the cost up to terms in $i$ or $j$ alone, it
    depends on the scores through $-2 t_i a_j$: it is invariant to shifts of
    the scores, and with `standardize=False` the softness is in units of $x$
    (times the unit spread of the targets).

    **Settings** (also accepted as `ot_kwargs` by every ordering op):

    - `max_iter`: the most solver sweeps (one update of every row and column
      potential each), and the most conjugate-gradient steps of the implicit
      derivative. Default 1000.
    - `tol`: stop when every column of the plan sums to 1 within `tol` (rows
      are exact). Default `1e-5` in float32, `1e-12` in float64. At small
      softness float32 cannot resolve the plan that finely: the solver then
      stops at the rounding floor, about `2.4e-7 * spread / softness` (spread
      of the cost: twice that of the scores, under 2 when standardised), e.g.
      `5e-5` at softness `1e-2` and `5e-4` at `1e-3`. If `max_iter` is reached
      first, or the error stops improving, the best sweep's plan is returned,
      never an error: its columns are then off by more than `tol` (rows still
      sum to 1).

    Gradients (reverse and forward mode, with respect to the scores and the
    softness) come from implicit differentiation of the optimality conditions,
    solved by conjugate gradients (`softeqx._projections.transport`), not by
    differentiating the iterations: they cost one linear solve and no memory
    per iteration, and stay finite at ties, for near-hard plans and for
    constant inputs.

    The plan is a dense $n \times n$ matrix per row of the batch (time
    $O(n^2)$ per sweep, memory $O(n^2)$): fine up to a few thousand elements
    (n = 4096 takes 64 MiB per row in float32, plus about three times that in
    the backward pass); use `"neuralsort"`, `"softsort"` or
    `"sorting_network"` beyond.

    !!! Example

        ```python
        softeqx.sort(jnp.array([-0.2, -1.0, 0.3, 1.0]), method="ot", softness=0.1)
        # Array([-0.7324, -0.2396, 0.3286, 0.7434])
        softeqx.sort(x, method=softeqx.methods.OptimalTransport(max_iter=200))
        softeqx.sort(x, method="ot", ot_kwargs={"max_iter": 200, "tol": 1e-4})
        ```

    ??? cite "References"

        ```bibtex
        @inproceedings{cuturi2019differentiable,
          title={Differentiable Ranking and Sorting using Optimal Transport},
          author={Cuturi, Marco and Teboul, Olivier and Vert, Jean-Philippe},
          booktitle={Advances in Neural Information Processing Systems},
          year={2019}
        }
        @inproceedings{blondel2018smooth,
          title={Smooth and Sparse Optimal Transport},
          author={Blondel, Mathieu and Seguy, Vivien and Rolet, Antoine},
          booktitle={International Conference on Artificial Intelligence
                     and Statistics},
          year={2018}
        }
        ```
    """

    max_iter: int = eqx.field(default=1000, static=True)
    tol: float | None = eqx.field(default=None, static=True)

    modes = SIGMOIDAL_MODES

    def __check_init__(self):
        if not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise ValueError(
                f"`max_iter` must be a positive integer, got {self.max_iter!r}."
            )
        if self.tol is not None and not self.tol > 0:
            raise ValueError(f"`tol` must be positive or None, got {self.tol!r}.")

    def plan(
        self, a: Float[Array, "*batch n"], softness: Array, mode: str
    ) -> Float[Array, "*batch n n"]:
        """The whole soft permutation matrix (rows: ascending positions)."""
        tol = default_tolerance(a.dtype) if self.tol is None else float(self.tol)
        softness = softness.astype(a.dtype)
        return transport_plan(
            sorting_cost(a), softness, sorting_potential(a), mode, self.max_iter, tol
        )

    def rows(
        self,
        a: Float[Array, "*batch n"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k n"]:
        return jnp.take(self.plan(a, softness, mode), positions, axis=-2)

    def sorted_values(
        self,
        a: Float[Array, "*batch n"],
        v: Float[Array, "*batch n m"],
        positions: Int[Array, " k"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch k m"]:
        return self.rows(a, positions, softness, mode) @ v

    def transpose_apply(
        self,
        a: Float[Array, "*batch n"],
        u: Float[Array, "*batch n m"],
        softness: Array,
        mode: str,
    ) -> Float[Array, "*batch n m"]:
        return jnp.swapaxes(self.plan(a, softness, mode), -1, -2) @ u
