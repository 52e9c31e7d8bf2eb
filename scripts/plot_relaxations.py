"""Draw the figures of the documentation: every relaxation in every mode.

The PNGs are committed under docs/assets/ and the docs only link to them, so
the docs build does not run this script. Run it again after changing a
relaxation:

    python scripts/plot_relaxations.py               # writes docs/assets/*.png
    python scripts/plot_relaxations.py --out /tmp/plots

Needs matplotlib (`pip install -e ".[examples]"`).
"""

import argparse
import pathlib

import jax
import jax.numpy as jnp
import matplotlib


matplotlib.use("Agg")
import matplotlib.pyplot as plt

import softeqx
from softeqx._methods.registry import METHODS


SOFT_MODES = ("smooth", "c0", "c1", "c2")
COLOURS = {
    "hard": "black",
    "smooth": "tab:blue",
    "c0": "tab:orange",
    "c1": "tab:green",
    "c2": "tab:red",
}
STYLES = {"hard": (0, (4, 3))}
DPI = 110


def _line(ax, x, y, mode: str, **kwargs) -> None:
    ax.plot(
        x,
        y,
        color=COLOURS[mode],
        linestyle=STYLES.get(mode, "-"),
        linewidth=1.3 if mode == "hard" else 1.6,
        label=mode,
        **kwargs,
    )


def elementwise(out: pathlib.Path, softness: float) -> None:
    """Elementwise ops and comparisons in every mode, at one softness."""
    x = jnp.linspace(-2.0, 2.0, 801)
    panels = {
        "heaviside(x)": lambda x, m: softeqx.heaviside(x, softness, m),
        "sign(x)": lambda x, m: softeqx.sign(x, softness, m),
        "abs(x)": lambda x, m: softeqx.abs(x, softness, m),
        "relu(x)": lambda x, m: softeqx.relu(x, softness, m),
        "relu(x, gated=True)": lambda x, m: softeqx.relu(x, softness, m, gated=True),
        "clip(x, -1, 1)": lambda x, m: softeqx.clip(x, -1.0, 1.0, softness, m),
        "round(x)": lambda x, m: softeqx.round(x, softness, m),
        "equal(x, 0)": lambda x, m: softeqx.equal(x, 0.0, softness, m),
    }
    fig, axes = plt.subplots(2, 4, figsize=(13, 5.6), sharex=True)
    for ax, (title, fn) in zip(axes.flat, panels.items(), strict=True):
        for mode in ("hard", *SOFT_MODES):
            _line(ax, x, fn(x, mode), mode)
        ax.set_title(f"softeqx.{title}", fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("x")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"Elementwise relaxations and comparisons, softness = {softness}")
    fig.tight_layout()
    fig.savefig(out / "elementwise_modes.png", dpi=DPI)
    plt.close(fig)


def softness_sweep(out: pathlib.Path) -> None:
    """The S-curve of each family at several softness values."""
    x = jnp.linspace(-1.0, 1.0, 801)
    values = (0.02, 0.05, 0.1, 0.2)
    shades = plt.get_cmap("viridis")(jnp.linspace(0.0, 0.85, len(values)))
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), sharey=True)
    for ax, mode in zip(axes, SOFT_MODES, strict=True):
        for shade, s in zip(shades, values, strict=True):
            ax.plot(x, softeqx.sigmoidal(x, s, mode), color=shade, label=f"s = {s}")
        ax.plot(x, softeqx.heaviside(x, mode="hard"), "k", ls=(0, (4, 3)), lw=1)
        ax.set_title(f'sigmoidal(x, s, mode="{mode}")', fontsize=10)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Softness is the width of the transition (dashed: the hard step)")
    fig.tight_layout()
    fig.savefig(out / "softness_sigmoidal.png", dpi=DPI)
    plt.close(fig)


def sort_vs_softness(out: pathlib.Path) -> None:
    """Soft-sorted values of a fixed input as the softness grows, per method."""
    x = jnp.array([-0.2, -1.0, 0.3, 1.0, 0.45])
    softness = jnp.geomspace(1e-3, 10.0, 120)
    hard = jnp.sort(x)
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.4), sharex=True, sharey=True)
    for ax, method in zip(axes.flat, METHODS, strict=True):
        sort = jax.jit(
            jax.vmap(lambda s, m=method: softeqx.sort(x, softness=s, method=m))
        )
        values = sort(softness)
        shades = plt.get_cmap("viridis")(jnp.linspace(0.0, 0.85, x.shape[0]))
        for i, shade in enumerate(shades):
            ax.plot(softness, values[:, i], color=shade, label=f"output {i}")
            ax.axhline(hard[i], color=shade, ls=(0, (2, 3)), lw=0.8)
        ax.axhline(jnp.mean(x), color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(f'sort(x, method="{method}")', fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("softness")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    shown = ", ".join(f"{float(v):g}" for v in x)
    fig.suptitle(
        f"Soft sort of x = [{shown}] (smooth mode): from jnp.sort (dotted) towards "
        "the mean (grey)"
    )
    fig.tight_layout()
    fig.savefig(out / "sort_softness.png", dpi=DPI)
    plt.close(fig)


def rank_per_method(out: pathlib.Path, softness: float) -> None:
    """The soft rank of one element as it moves past the others, per method and mode."""
    others = jnp.array([-1.0, -0.3, 0.4, 1.1])
    t = jnp.linspace(-2.0, 2.0, 401)
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.4), sharex=True, sharey=True)
    for ax, (name, method) in zip(axes.flat, METHODS.items(), strict=True):
        for mode in ("hard", *SOFT_MODES):
            if mode != "hard" and mode not in method.modes:
                continue

            def rank(t, mode=mode, name=name):
                x = jnp.concatenate([t[None], others])
                return softeqx.rank(x, softness=softness, mode=mode, method=name)[0]

            _line(ax, t, jax.jit(jax.vmap(rank))(t), mode)
        for v in others:
            ax.axvline(v, color="grey", lw=0.6)
        ax.set_title(f'method="{name}"', fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("x[0]")
    for ax in axes[:, 0]:
        ax.set_ylabel("rank of x[0]")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.suptitle(
        f"softeqx.rank(x, softness={softness})[0] for x = [x[0], "
        f"{', '.join(f'{float(v):g}' for v in others)}] (grey: the others)"
    )
    fig.tight_layout()
    fig.savefig(out / "rank_methods.png", dpi=DPI)
    plt.close(fig)


def permutation_matrices(out: pathlib.Path, softness: float) -> None:
    """The soft permutation matrix (argsort) of each method, smooth and c1 modes."""
    # Sorted inputs: the hard matrix is the identity, the soft ones spread around it.
    x = jnp.sort(jax.random.normal(jax.random.key(3), (8,)))
    columns = ("hard", *METHODS)
    fig, axes = plt.subplots(2, len(columns), figsize=(15.5, 5.2))
    for row, mode in enumerate(("smooth", "c1")):
        for ax, name in zip(axes[row], columns, strict=True):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name, fontsize=10)
            if name == "hard":
                p = softeqx.argsort(x, mode="hard")
            elif mode in METHODS[name].modes:
                p = softeqx.argsort(x, softness=softness, mode=mode, method=name)
            else:
                ax.text(0.5, 0.5, f"no {mode} mode", ha="center", va="center")
                continue
            ax.imshow(p, cmap="Blues", vmin=0.0, vmax=1.0)
        axes[row, 0].set_ylabel(f'mode="{mode}"\nsorted position', fontsize=10)
    fig.suptitle(
        f"softeqx.argsort(x, softness={softness}) of 8 increasing values: row i is "
        "the SoftIndex of the i-th smallest element (white 0, dark blue 1)"
    )
    fig.tight_layout()
    fig.savefig(out / "permutation_matrices.png", dpi=DPI)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = pathlib.Path(__file__).resolve().parents[1] / "docs" / "assets"
    parser.add_argument("--out", type=pathlib.Path, default=default)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    elementwise(args.out, softness=0.1)
    softness_sweep(args.out)
    sort_vs_softness(args.out)
    rank_per_method(args.out, softness=0.1)
    permutation_matrices(args.out, softness=0.05)
    for path in sorted(args.out.glob("*.png")):
        print(path)


if __name__ == "__main__":
    main()
