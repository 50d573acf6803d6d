"""Render prompt templates in Jinja2's immutable sandbox, and reject what a template must not do.

Validation reads the template's syntax tree: a variable outside the documented set, an attribute or key
starting with ``_`` (``''.__class__`` and every attribute walk to Python internals start that way), a call
other than the few read-only methods below, and ``include`` / ``import`` / ``extends`` (templates do not
reach other templates) are each reported with their line. The sandbox and strict undefined stay on at
render time as the second fence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ibflow.core.errors import ValidationError

SAFE_METHODS = frozenset({"items", "keys", "values", "get", "upper", "lower", "title", "strip"})
TEMPLATE_NAME = "<prompt>"

_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong with a template, at a line."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def problems(body: str, allowed: Iterable[str]) -> list[TemplateProblem]:
    """Return every problem of ``body`` for a template that may use the ``allowed`` variables."""
    try:
        tree = _ENV.parse(body)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(exc.lineno, f"syntax error: {exc.message}")]
    known = set(allowed) | {"loop"}  # the for-loop helper jinja provides
    found: list[TemplateProblem] = []
    local = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for node in tree.find_all(nodes.Node):
        problem = _node_problem(node, known | local)
        if problem is not None:
            found.append(TemplateProblem(node.lineno, problem))
    return sorted(set(found), key=lambda p: (p.line, p.message))


def _node_problem(node: nodes.Node, known: set[str]) -> str | None:  # noqa: PLR0911 (one branch per construct)
    if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in known:
        return f"unknown variable {node.name!r} (see the documented variables)"
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return f"attribute {node.attr!r} is not allowed (names starting with '_' are internal)"
    key = node.arg.value if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) else None
    if isinstance(key, str) and key.startswith("_"):
        return f"key {key!r} is not allowed (names starting with '_' are internal)"
    if isinstance(node, nodes.Call) and not (
        isinstance(node.node, nodes.Getattr) and node.node.attr in SAFE_METHODS
    ):
        return f"calls are limited to {', '.join(sorted(SAFE_METHODS))} (use filters instead)"
    if isinstance(node, nodes.Include | nodes.Import | nodes.FromImport | nodes.Extends):
        return "templates cannot include, import or extend other templates"
    if isinstance(node, nodes.Macro | nodes.CallBlock):
        return "macros are not supported in prompts"
    return None


def validate(body: str, allowed: Iterable[str]) -> None:
    """Raise ``ValidationError`` listing each problem with its line, if there is any."""
    found = problems(body, allowed)
    if found:
        raise ValidationError(
            f"the template has {len(found)} problem(s): " + "; ".join(map(str, found)),
            {f"line {p.line}": p.message for p in found},
        )


def render(body: str, variables: Mapping[str, Any]) -> str:
    """Render ``body``; an undefined value or a sandbox refusal is a ``ValidationError`` with its line."""
    try:
        return _compiled(body).render(dict(variables)).strip()
    except (UndefinedError, SecurityError, TemplateSyntaxError) as exc:
        line = _template_line(exc)
        where = f"line {line}: " if line else ""
        raise ValidationError(f"the template does not render: {where}{exc}") from exc


@lru_cache(maxsize=256)
def _compiled(body: str) -> Template:
    """Compile once per text: versions are immutable, and compiling is most of a render's time."""
    return _ENV.from_string(body)


def _template_line(exc: BaseException) -> int | None:
    if isinstance(exc, TemplateSyntaxError):
        return exc.lineno
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
