"""SK005: user isolation.

Queries on a user-owned table filter by the authenticated user, and an object
fetched by id has its ownership checked before it is used.

- Owned tables: SQLModel classes with ``table=True`` that declare an owner column
  (settings: ``user_id``, ``owner_id``).
- A filter counts when it compares the owner column with something about a user
  (``Task.user_id == current_user.id``, ``filter_by(user_id=user_id)``), or passes a
  user to a helper (``.where(owned_by(current_user))``).
- After ``task = session.get(Task, id)``, a comparison of ``task.user_id`` with a user,
  or a helper given both ``task`` and a user, counts as the ownership check.

Only functions the change adds or edits are judged.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from daemon.gates.model import RULES, Change, LintFinding, RuleConfig, Status
from daemon.gates.pyast import Function, functions, names_in, parse, source_of
from daemon.globs import matches
from daemon.spec.text import split_lines

_QUERIES: Final = frozenset({"select", "delete", "update"})
_FILTERS: Final = frozenset({"where", "filter", "filter_by", "having"})
_CALLS: Final = re.compile(r"\b(?:select|delete|update|query|get)\s*\(")


def owned_tables(sources: Iterable[str], owner_columns: tuple[str, ...]) -> dict[str, str]:
    """Table class name → its owner column, for SQLModel ``table=True`` classes."""
    owned: dict[str, str] = {}
    for text in sources:
        module = parse(text) if "table=True" in text.replace(" ", "") else None
        for node in module.body if module else ():
            if not isinstance(node, ast.ClassDef):
                continue
            table = any(
                k.arg == "table" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords
            )
            columns = [
                item.target.id
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            ]
            owner = next((c for c in columns if c in owner_columns), None)
            if table and owner:
                owned[node.name] = owner
    return owned


def _userish(node: ast.AST) -> bool:
    return any("user" in name.lower() or "owner" in name.lower() for name in names_in(node))


def _filters_owner(expression: ast.AST, owner: str) -> bool:
    """Whether a filter expression restricts rows to the authenticated user."""
    for node in ast.walk(expression):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            on_owner = [s for s in sides if isinstance(s, ast.Attribute) and s.attr == owner]
            if on_owner and any(_userish(s) for s in sides if s not in on_owner):
                return True
        elif (isinstance(node, ast.keyword) and node.arg == owner and _userish(node.value)) or (
            isinstance(node, ast.Call) and any(_userish(arg) for arg in node.args)
        ):
            return True
    return False


def _descend(call: ast.Call) -> tuple[ast.AST, list[ast.AST]]:
    """The innermost call of a chain like ``select(T).where(a).order_by(b)``, with its filters."""
    filters: list[ast.AST] = []
    node: ast.AST = call
    while (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
    ):
        if node.func.attr in _FILTERS:
            filters += [*node.args, *node.keywords]
        node = node.func.value
    return node, filters


def _assignment(node: ast.AST) -> tuple[str, ast.Call] | None:
    """``name = <call>``: the name and the call."""
    target: ast.expr
    value: ast.expr | None
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign):
        target, value = node.target, node.value
    else:
        return None
    if isinstance(target, ast.Name) and isinstance(value, ast.Call):
        return target.id, value
    return None


def _attribute_of(node: ast.AST, name: str, attribute: str) -> bool:
    """Whether ``node`` is ``name.attribute``."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == attribute
        and isinstance(node.value, ast.Name)
        and node.value.id == name
    )


def _table_of(call: ast.Call, owned: Mapping[str, str]) -> str | None:
    first = call.args[0] if call.args else None
    return first.id if isinstance(first, ast.Name) and first.id in owned else None


@dataclass(slots=True)
class _Function:
    """One walk's worth of facts about a function: queries, chains, names, checks."""

    queries: list[tuple[ast.Call, str, str]] = field(default_factory=list)
    chained: dict[int, list[ast.AST]] = field(default_factory=dict)  # id(query) → filters
    names: dict[int, str] = field(
        default_factory=dict
    )  # id(query) → the variable it is assigned to
    filter_calls: list[ast.Call] = field(default_factory=list)
    compares: list[ast.Compare] = field(default_factory=list)
    calls: list[ast.Call] = field(default_factory=list)


def _read(function: Function, owned: Mapping[str, str]) -> _Function:
    facts = _Function()
    for node in ast.walk(function):
        assigned = _assignment(node)
        if assigned is not None:
            bottom, _ = _descend(assigned[1])
            facts.names[id(bottom)] = assigned[0]
        if isinstance(node, ast.Compare):
            facts.compares.append(node)
            continue
        if not isinstance(node, ast.Call):
            continue
        facts.calls.append(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _FILTERS:
            facts.filter_calls.append(node)
            bottom, filters = _descend(node)
            facts.chained.setdefault(id(bottom), []).extend(filters)
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name in _QUERIES or name in {"query", "get"}:
            table = _table_of(node, owned)
            if table is not None:
                facts.queries.append((node, name, table))
    return facts


def _later_filters(facts: _Function, name: str, after: int) -> list[ast.AST]:
    """Filters added later to a statement variable: ``stmt = stmt.where(...)``."""
    found: list[ast.AST] = []
    for call in facts.filter_calls:
        base = call.func.value if isinstance(call.func, ast.Attribute) else None
        if call.lineno >= after and base is not None and name in names_in(base):
            found += [*call.args, *call.keywords]
    return found


def _ownership_checked(facts: _Function, name: str, owner: str, after: int) -> bool:
    """Whether ``name`` (a fetched object) has its owner compared with a user later on."""
    for compare in facts.compares:
        if compare.lineno < after:
            continue
        sides = [compare.left, *compare.comparators]
        on_owner = [s for s in sides if _attribute_of(s, name, owner)]
        if on_owner and any(_userish(s) for s in sides if s not in on_owner):
            return True
    for call in facts.calls:
        if call.lineno < after:
            continue
        args = [*call.args, *(k.value for k in call.keywords)]
        if any(isinstance(a, ast.Name) and a.id == name for a in args) and any(
            _userish(a) for a in args
        ):
            return True
    return False


def _violations(function: Function, owned: Mapping[str, str]) -> list[tuple[int, str]]:
    facts = _read(function, owned)
    found: list[tuple[int, str]] = []
    for node, name, table in facts.queries:
        owner = owned[table]
        variable = facts.names.get(id(node))
        if name in _QUERIES or name == "query":
            filters = list(facts.chained.get(id(node), []))
            if variable:
                filters += _later_filters(facts, variable, node.lineno)
            if not any(_filters_owner(f, owner) for f in filters):
                what = f"{name}({table}) is not filtered by {table}.{owner}"
                found.append((node.lineno, f"{what} of the authenticated user"))
        elif variable is None or not _ownership_checked(facts, variable, owner, node.lineno):
            what = f"get({table}, ...) is used without checking its {owner}"
            found.append((node.lineno, f"{what} against the authenticated user"))
    return found


def check_isolation(change: Change, config: RuleConfig) -> list[LintFinding]:
    """SK005 for functions the change adds or edits in Python files in scope."""
    if "SK005" not in config.rules:
        return []
    info = RULES["SK005"]
    sources = dict(change.head_files)
    sources.update(
        {c.path: c.new for c in change.files if c.new is not None and c.path.endswith(".py")}
    )
    owned = owned_tables(sources.values(), config.owner_columns)
    if not owned:
        return []
    findings: list[LintFinding] = []
    for changed in change.files:
        if (
            changed.status is Status.DELETED
            or not changed.path.endswith(".py")
            or changed.new is None
        ):
            continue
        if not matches(changed.path, config.write_scope):
            continue
        module = parse(changed.new)
        old_module = parse(changed.old)
        before = {}
        if old_module is not None and changed.old is not None:
            before = {d.qualname: source_of(changed.old, d.node) for d in functions(old_module)}
        lines = split_lines(changed.new)  # LF only, as Python numbers lines
        for defined in functions(module) if module else ():
            node = defined.node
            body = "\n".join(lines[node.lineno - 1 : node.end_lineno])
            if not any(table in body for table in owned) or not _CALLS.search(body):
                continue  # no query on an owned table can be in here
            if before.get(defined.qualname) == source_of(changed.new, defined.node):
                continue
            for line, message in _violations(defined.node, owned):
                findings.append(
                    LintFinding("SK005", info.severity, changed.path, line, message, info.help)
                )
    return findings
