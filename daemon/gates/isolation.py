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
from collections.abc import Iterable, Mapping
from typing import Final

from daemon.gates.model import RULES, Change, LintFinding, RuleConfig, Status
from daemon.gates.pyast import Function, functions, names_in, parse, source_of
from daemon.globs import matches

_QUERIES: Final = frozenset({"select", "delete", "update"})
_FILTERS: Final = frozenset({"where", "filter", "filter_by", "having"})


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


def _parents(root: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(root) for child in ast.iter_child_nodes(node)}


def _chain_filters(
    call: ast.Call, parents: Mapping[ast.AST, ast.AST]
) -> tuple[list[ast.AST], ast.AST]:
    """The filter arguments chained onto ``call`` (``.where(...)``...), and the chain's top."""
    filters: list[ast.AST] = []
    node: ast.AST = call
    while True:
        attribute = parents.get(node)
        outer = parents.get(attribute) if attribute is not None else None
        if not (
            isinstance(attribute, ast.Attribute)
            and isinstance(outer, ast.Call)
            and outer.func is attribute
        ):
            return filters, node
        if attribute.attr in _FILTERS:
            filters += [*outer.args, *outer.keywords]
        node = outer


def _assigned_name(node: ast.AST, parents: Mapping[ast.AST, ast.AST]) -> str | None:
    parent = parents.get(node)
    if isinstance(parent, ast.Assign | ast.AnnAssign):
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        if len(targets) == 1 and isinstance(targets[0], ast.Name):
            return targets[0].id
    return None


def _later_filters(function: Function, name: str, after: int) -> list[ast.AST]:
    """Filters added later to a statement variable: ``stmt = stmt.where(...)``."""
    found: list[ast.AST] = []
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _FILTERS
            and node.lineno >= after
            and name in names_in(node.func.value)
        ):
            found += [*node.args, *node.keywords]
    return found


def _ownership_checked(function: Function, name: str, owner: str, after: int) -> bool:
    """Whether ``name`` (a fetched object) has its owner compared with a user later on."""
    for node in ast.walk(function):
        if getattr(node, "lineno", 0) < after:
            continue
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            on_owner = [s for s in sides if _attribute_of(s, name, owner)]
            if on_owner and any(_userish(s) for s in sides if s not in on_owner):
                return True
        elif isinstance(node, ast.Call):
            args = [*node.args, *(k.value for k in node.keywords)]
            passes = any(isinstance(a, ast.Name) and a.id == name for a in args)
            if passes and any(_userish(a) for a in args):
                return True
    return False


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


def _violations(function: Function, owned: Mapping[str, str]) -> list[tuple[int, str]]:
    parents = _parents(function)
    found: list[tuple[int, str]] = []
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = (
            func.id
            if isinstance(func, ast.Name)
            else func.attr
            if isinstance(func, ast.Attribute)
            else ""
        )
        table = _table_of(node, owned)
        if table is None:
            continue
        owner = owned[table]
        if name in _QUERIES or name == "query":
            filters, top = _chain_filters(node, parents)
            variable = _assigned_name(top, parents)
            if variable:
                filters += _later_filters(function, variable, node.lineno)
            if not any(_filters_owner(f, owner) for f in filters):
                what = f"{name}({table}) is not filtered by {table}.{owner}"
                found.append((node.lineno, f"{what} of the authenticated user"))
        elif name == "get" and isinstance(func, ast.Attribute):
            variable = _assigned_name(node, parents)
            if variable is None or not _ownership_checked(function, variable, owner, node.lineno):
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
        for defined in functions(module) if module else ():
            if before.get(defined.qualname) == source_of(changed.new, defined.node):
                continue
            for line, message in _violations(defined.node, owned):
                findings.append(
                    LintFinding("SK005", info.severity, changed.path, line, message, info.help)
                )
    return findings
