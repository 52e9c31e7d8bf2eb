"""Griffe extension used by the documentation build (see mkdocs.yml).

Two adjustments to what static analysis of softeqx gives mkdocstrings:

- The straight-through variants (`softeqx.abs_st`, ...) are made at import time
  by `register(op)` in `softeqx._ops.straight_through`, so static analysis sees
  attributes without signatures or docstrings. Each becomes a function with the
  signature of the op it wraps (taken from the statically loaded op,
  annotations included) and the docstring `register` gives it at run time.
- Equinox modules without a hand-written `__init__` (the annealing callbacks,
  the ordering methods) get theirs from `dataclasses`; static analysis does
  not see it, so their constructor signatures are taken from the runtime
  classes (with the fields' annotations as written in the source).
- Display maths (`$$ ... $$`) written inside a paragraph of a docstring is only
  recognised by `pymdownx.arithmatex` as a block of its own, so blank lines
  are put around it.
"""

import importlib
import inspect
from typing import Any

import equinox as eqx
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


def _runtime(obj: griffe.Object) -> Any:
    module = importlib.import_module(obj.module.path)
    return getattr(module, obj.name, None)


def _dataclass_init(cls: griffe.Class) -> griffe.Function | None:
    """The generated `__init__` of an Equinox module, or None for other classes."""
    if "__init__" in cls.members or cls.name.startswith("Abstract"):
        return None
    runtime = _runtime(cls)
    if not (isinstance(runtime, type) and issubclass(runtime, eqx.Module)):
        return None
    parameters = [griffe.Parameter("self", kind=griffe.ParameterKind.positional_only)]
    for name, parameter in inspect.signature(runtime).parameters.items():
        field = cls.members.get(name)
        default = parameter.default
        parameters.append(
            griffe.Parameter(
                name,
                annotation=getattr(field, "annotation", None),
                kind=griffe.ParameterKind(parameter.kind.description),
                default=None if default is inspect.Parameter.empty else repr(default),
            )
        )
    return griffe.Function(
        "__init__",
        lineno=cls.lineno,
        endlineno=cls.lineno,
        parameters=griffe.Parameters(*parameters),
    )


def _objects(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_objects(member))  # type: ignore[arg-type]
    return found


class StraightThroughVariants(griffe.Extension):
    """Document the `*_st` variants and Equinox constructors, separate display maths."""

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
            if isinstance(obj, griffe.Class) and not obj.name.startswith("_"):
                init = _dataclass_init(obj)
                if init is not None:
                    obj.set_member("__init__", init)
            if obj.docstring is not None:
                obj.docstring.value = separate_display_math(obj.docstring.value)
