"""Griffe extension used by the documentation build (see mkdocs.yml).

Two adjustments to what static analysis of softeqx gives mkdocstrings:

- The straight-through variants (`softeqx.abs_st`, ...) are made at import time
  by `register(op)` in `softeqx._ops.straight_through`, so static analysis sees
  attributes without signatures or docstrings. Each becomes a function with the
  signature of the op it wraps (taken from the statically loaded op,
  annotations included) and the docstring `register` gives it at run time.
- Display maths (`$$ ... $$`) written inside a paragraph of a docstring is only
  recognised by `pymdownx.arithmatex` as a block of its own, so blank lines
  are put around it.
"""

import importlib
from typing import Any

import griffe


STRAIGHT_THROUGH_MODULE = "_ops.straight_through"


def separate_display_math(text: str) -> str:
    """Put blank lines before and after every `$$ ... $$` block of `text`."""
    out: list[str] = []
    inside = False
    close_pending = False
    for line in text.split("\n"):
        stripped = line.strip()
        if close_pending:
            if stripped:
                out.append("")
            close_pending = False
        if not inside and stripped.startswith("$$"):
            if out and out[-1].strip():
                out.append("")
            inside = not (len(stripped) > 2 and stripped.endswith("$$"))
            close_pending = not inside
        elif inside and stripped.endswith("$$"):
            inside = False
            close_pending = True
        out.append(line)
    return "\n".join(out)


def _objects(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_objects(member))  # type: ignore[arg-type]
    return found


class StraightThroughVariants(griffe.Extension):
    """Document the `*_st` variants and separate display maths (see above)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name != "softeqx":
            return
        module = pkg.get_member(STRAIGHT_THROUGH_MODULE)
        runtime = importlib.import_module(f"softeqx.{STRAIGHT_THROUGH_MODULE}")
        for name, variant in runtime.STRAIGHT_THROUGH.items():
            wrapped = variant.__wrapped__
            source = pkg.get_member(
                f"{wrapped.__module__.removeprefix('softeqx.')}.{wrapped.__name__}"
            )
            attribute = module.get_member(name)
            function = griffe.Function(
                name,
                lineno=attribute.lineno,
                endlineno=attribute.endlineno,
                parameters=source.parameters,
                returns=source.returns,
                docstring=griffe.Docstring(variant.__doc__, lineno=attribute.lineno),
            )
            module.set_member(name, function)
        for obj in _objects(pkg):
            if obj.docstring is not None:
                obj.docstring.value = separate_display_math(obj.docstring.value)
