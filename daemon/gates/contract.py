"""SK004: the API contract.

Existing routes keep method, path, response model and status code; a new route must
appear in the feature's ``contracts/`` (OpenAPI) or be named in the spec or plan
(``GET /api/{user_id}/tasks``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

import yaml

from daemon.gates.model import RULES, Change, LintFinding, RuleConfig, Status
from daemon.gates.routes import METHODS, Route, normalize, routes
from daemon.spec.yamldoc import load_plain

_NAMED: Final = re.compile(
    r"\b(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+`?(/[^\s`'\"),;|]*)", re.IGNORECASE
)


def _openapi(text: str, path: str) -> set[tuple[str, str]]:
    """Endpoints of an OpenAPI document (YAML or JSON); none when it does not parse."""
    try:
        data = json.loads(text) if path.endswith(".json") else load_plain(text)
    except (ValueError, yaml.YAMLError, RecursionError):
        return set()
    paths = data.get("paths") if isinstance(data, dict) else None
    if not isinstance(paths, dict):
        return set()
    found: set[tuple[str, str]] = set()
    for route, operations in paths.items():
        if isinstance(operations, dict):
            found |= {
                (m.upper(), normalize(str(route))) for m in operations if str(m).lower() in METHODS
            }
    return found


def contract_endpoints(texts: Mapping[str, str]) -> set[tuple[str, str]]:
    """Endpoints the contracts (``contracts/*``) define and the spec/plan texts name."""
    found: set[tuple[str, str]] = set()
    for path, text in texts.items():
        if "contracts/" in path and path.endswith((".yaml", ".yml", ".json")):
            found |= _openapi(text, path)
        else:
            found |= {(m.group(1).upper(), normalize(m.group(2))) for m in _NAMED.finditer(text)}
    return found


def _texts(change: Change, side: str) -> dict[str, str]:
    """Python sources of one side: the unchanged files plus that side of the changed ones."""
    files = dict(change.base_files if side == "old" else change.head_files)
    for changed in change.files:
        if not changed.path.endswith(".py"):
            continue
        text = changed.old if side == "old" else changed.new
        path = (changed.old_path or changed.path) if side == "old" else changed.path
        if text is None or (side == "new" and changed.status is Status.DELETED):
            files.pop(path, None)
        else:
            files[path] = text
    return files


def _describe(route: Route) -> str:
    return f"{route.method} {route.path}"


def check_contract(change: Change, config: RuleConfig) -> list[LintFinding]:
    """SK004: compare the routes before and after the change, and new ones with contracts."""
    if "SK004" not in config.rules:
        return []
    info = RULES["SK004"]
    findings: list[LintFinding] = []

    def add(route_file: str, line: int, message: str) -> None:
        findings.append(LintFinding("SK004", info.severity, route_file, line, message, info.help))

    before = routes(_texts(change, "old"))
    after = routes(_texts(change, "new"))
    old_by_function = {(r.file, r.function, r.endpoint): r for r in before}
    new_by_function = {(r.file, r.function, r.endpoint): r for r in after}
    old_endpoints = {r.endpoint for r in before}
    allowed = contract_endpoints(change.texts)
    for key, route in new_by_function.items():
        old = old_by_function.get(key)
        if old is not None:
            if (old.response_model, old.status_code) != (route.response_model, route.status_code):
                was = f"response_model={old.response_model}, status_code={old.status_code}"
                now = f"response_model={route.response_model}, status_code={route.status_code}"
                add(route.file, route.line, f"changes {_describe(route)} from {was} to {now}")
        elif route.endpoint not in old_endpoints and route.endpoint not in allowed:
            add(route.file, route.line, f"adds {_describe(route)}, which no contract or spec names")
    new_endpoints = {r.endpoint for r in after}
    for route in before:
        if route.endpoint not in new_endpoints:
            moved = next(
                (r for r in after if (r.file, r.function) == (route.file, route.function)), None
            )
            where, line = (moved.file, moved.line) if moved else (route.file, 0)
            add(where, line, f"removes {_describe(route)} (existing routes keep their contract)")
    return findings
