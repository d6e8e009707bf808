"""Python source as the AST rules read it: safe parsing, functions with qualified names."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass

Function = ast.FunctionDef | ast.AsyncFunctionDef


def parse(text: str | None) -> ast.Module | None:
    """The module's AST, or None when it is absent or does not parse (ruff reports that).

    Cached by text: every rule reads the same files, and the AST is not mutated.
    """
    return None if text is None else _parse(text)


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return None


def clear_cache() -> None:
    """Forget parsed modules (benchmarks measure cold runs)."""
    _parse.cache_clear()


@dataclass(frozen=True, slots=True)
class Defined:
    """A function with its qualified name and whether it is a method."""

    qualname: str
    node: Function
    method: bool


def functions(module: ast.Module) -> Iterator[Defined]:
    """Module-level functions and the methods of module-level classes."""
    for node in module.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield Defined(node.name, node, method=False)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield Defined(f"{node.name}.{item.name}", item, method=True)


def source_of(text: str, node: ast.AST) -> str:
    """A node's source text (decorators included for functions)."""
    first = min([node.lineno, *[d.lineno for d in getattr(node, "decorator_list", [])]])  # type: ignore[attr-defined]
    lines = text.split("\n")[first - 1 : node.end_lineno]  # type: ignore[attr-defined]
    return "\n".join(lines)


def names_in(node: ast.AST) -> set[str]:
    """Every identifier and attribute name used inside ``node``."""
    found: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
        elif isinstance(child, ast.arg):
            found.add(child.arg)
    return found
