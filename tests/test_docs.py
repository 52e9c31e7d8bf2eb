"""The documentation runs as written and documents every public name.

- Every python block of the guide pages (`docs/*.md`) runs, in order, in one
  namespace per page, with JAX's default (standard) dtype promotion, as a user
  runs it (the suite's strict promotion trips optax's Adam).
- The Examples page renders every script of `examples/` (by `docs/hooks.py`).
- Every public name of `softeqx`, `softeqx.nn` and `softeqx.methods` appears
  in a mkdocstrings directive (`::: softeqx.name`) of the API reference, and
  every directive names something that exists.
- The Home page opens with the README's first example.
"""

import importlib.util
import pathlib
import re
import types

import jax
import pytest

import softeqx


ROOT = pathlib.Path(__file__).parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
NAMESPACES = (softeqx, softeqx.nn, softeqx.methods)


def python_blocks(path: pathlib.Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), flags=re.S | re.M)


def public_names(module: types.ModuleType) -> set[str]:
    """`module.name` for every public, non-module attribute of `module`."""
    return {
        f"{module.__name__}.{name}"
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def documented_names() -> set[str]:
    directives = set()
    for page in (DOCS / "api").glob("*.md"):
        directives |= set(re.findall(r"^::: (\S+)", page.read_text(), flags=re.M))
    return directives


def resolve(path: str) -> object:
    parts = path.split(".")
    assert parts[0] == "softeqx", path
    obj: object = softeqx
    for part in parts[1:]:
        obj = getattr(obj, part)
    return obj


def test_guide_pages_exist():
    names = {page.name for page in PAGES}
    assert {
        "index.md",
        "getting-started.md",
        "concepts.md",
        "methods.md",
        "layers.md",
        "straight-through.md",
        "examples.md",
    } <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_python_blocks_of_page_run(page, capsys):
    namespace: dict = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    with jax.numpy_dtype_promotion("standard"):
        for block in python_blocks(page):
            exec(compile(block, str(page), "exec"), namespace)
    capsys.readouterr()


def test_examples_page_renders_every_script():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    assert hooks.MARKER in (DOCS / "examples.md").read_text()
    rendered = hooks.render()
    for script in sorted((ROOT / "examples").glob("*.py")):
        assert f"`examples/{script.name}`" in rendered
        assert script.read_text().rstrip() in rendered.replace("\n    ", "\n")


def test_every_public_name_is_in_the_api_reference():
    public = set().union(*(public_names(module) for module in NAMESPACES))
    missing = sorted(public - documented_names())
    assert not missing, f"not in any `::: name` directive of docs/api/: {missing}"


def test_every_api_directive_names_a_public_object():
    public = set().union(*(public_names(module) for module in NAMESPACES))
    modules = {module.__name__ for module in NAMESPACES}
    for name in documented_names():
        resolve(name)
        assert name in public | modules, f"{name} is not a public name"


def test_home_page_opens_with_the_readme_example():
    readme = python_blocks(ROOT / "README.md")
    home = python_blocks(DOCS / "index.md")
    assert readme and home
    assert home[0] == readme[0]
