"""SK006: public functions the change adds or edits have type hints and docstrings."""

from __future__ import annotations

import ast

from daemon.gates.model import RULES, Change, LintFinding, RuleConfig, Status
from daemon.gates.pyast import Defined, functions, parse, source_of
from daemon.globs import matches


def _missing(defined: Defined) -> list[str]:
    node = defined.node
    args = node.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if defined.method and params and params[0].arg in {"self", "cls"}:
        params = params[1:]
    params += [arg for arg in (args.vararg, args.kwarg) if arg is not None]
    missing = [f"parameter {arg.arg!r}" for arg in params if arg.annotation is None]
    if node.returns is None:
        missing.append("the return type")
    if ast.get_docstring(node) is None:
        missing.append("a docstring")
    return missing


def check_typing(change: Change, config: RuleConfig) -> list[LintFinding]:
    """SK006 for public functions that are new or edited in Python files in scope."""
    if "SK006" not in config.rules:
        return []
    info = RULES["SK006"]
    findings: list[LintFinding] = []
    for changed in change.files:
        if changed.status is Status.DELETED or not changed.path.endswith(".py"):
            continue
        if not matches(changed.path, config.write_scope):
            continue
        module = parse(changed.new)
        if module is None or changed.new is None:
            continue
        before: dict[str, str] = {}
        old_module = parse(changed.old)
        if old_module is not None and changed.old is not None:
            before = {d.qualname: source_of(changed.old, d.node) for d in functions(old_module)}
        for defined in functions(module):
            name = defined.qualname.rsplit(".", 1)[-1]
            if name.startswith("_") or any(
                p.startswith("_") for p in defined.qualname.split(".")[:-1]
            ):
                continue
            if before.get(defined.qualname) == source_of(changed.new, defined.node):
                continue  # untouched by this change
            missing = _missing(defined)
            if missing:
                message = f"public function {defined.qualname}() lacks {', '.join(missing)}"
                findings.append(
                    LintFinding(
                        "SK006",
                        info.severity,
                        changed.path,
                        defined.node.lineno,
                        message,
                        info.help,
                    )
                )
    return findings
