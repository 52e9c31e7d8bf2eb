"""MkDocs hook: render the example scripts on the Examples page.

`docs/examples.md` holds the introduction and the marker `<!-- examples -->`;
this hook replaces the marker with one section per script in `examples/`: its
docstring (title, description, how to run it), the plots it saved into
`docs/assets/examples/` (files named after the script), and its source in a
collapsed block. The page follows the scripts: a new script appears without
editing the page, and the build reads the scripts, never runs them.
"""

import ast
import pathlib
from typing import Any


ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
ASSETS = ROOT / "docs" / "assets" / "examples"
MARKER = "<!-- examples -->"
# Scripts in this order first (when they exist), then any others by name.
ORDER = (
    "digits_sorting",
    "spearman_ranking",
    "topk_classification",
    "median_regression",
    "softness_strategies",
    "quickstart",
)


def scripts() -> list[pathlib.Path]:
    found = {path.stem: path for path in EXAMPLES.glob("*.py")}
    first = [found.pop(name) for name in ORDER if name in found]
    return first + [found[name] for name in sorted(found)]


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in text.splitlines())


def section(path: pathlib.Path) -> str:
    """The Markdown of one example: docstring, plots and source."""
    source = path.read_text()
    docstring = ast.get_docstring(ast.parse(source)) or path.stem
    title, _, body = docstring.partition("\n")
    parts = [f"## {title.strip().rstrip('.')}", f"`examples/{path.name}`", body]
    for plot in sorted(ASSETS.glob(f"{path.stem}*.png")):
        caption = plot.stem.replace("_", " ")
        parts.append(f"![{caption}](assets/examples/{plot.name})")
    fence = "````"
    code = f"{fence}python\n{source.rstrip()}\n{fence}"
    parts.append(f'??? example "Source of `examples/{path.name}`"\n\n{_indent(code)}')
    return "\n\n".join(part.strip("\n") for part in parts if part.strip())


def render() -> str:
    return "\n\n".join(section(path) for path in scripts())


def on_page_markdown(markdown: str, *, page: Any, **kwargs: Any) -> str:
    if page.file.src_uri != "examples.md":
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/examples.md lost its {MARKER} marker.")
    return markdown.replace(MARKER, render())
