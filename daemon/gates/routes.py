"""FastAPI routes, read from Python source (pure).

A route is a function decorated with ``@x.get("/path", response_model=..., status_code=...)``
(or ``post``, ``put``, ``patch``, ``delete``, ``head``, ``options``, ``api_route``) where
``x`` is a module-level ``APIRouter(...)`` or ``FastAPI(...)``. Its full path joins the
router's ``prefix=`` with the prefixes of every ``include_router(..., prefix=...)`` on
the way from an app, resolved through the modules' imports.
"""

from __future__ import annotations

import ast
import dataclasses
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from daemon.gates.pyast import parse

METHODS: Final = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})
_PARAM: Final = re.compile(r"\{[^}/]*\}")


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: where it is declared and what its contract says."""

    method: str
    path: str
    response_model: str | None
    status_code: str | None
    file: str
    line: int
    function: str

    @property
    def endpoint(self) -> tuple[str, str]:
        """Method and path with parameter names erased, for comparing with contracts."""
        return self.method, normalize(self.path)


def normalize(path: str) -> str:
    """``/api//{user_id}/tasks/`` → ``/api/{}/tasks``."""
    path = re.sub(r"/+", "/", "/" + path.strip())
    path = _PARAM.sub("{}", path)
    return path.rstrip("/") or "/"


def _const(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


@dataclass(slots=True)
class _Module:
    path: str
    routers: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name → (prefix, is app)
    imports: dict[str, str] = field(
        default_factory=dict
    )  # local name → dotted module or module.attr
    includes: list[tuple[str, ast.expr, str]] = field(default_factory=list)  # parent, child, prefix
    routes: list[tuple[str, Route]] = field(default_factory=list)  # router name, route


def _module_name(path: str, level: int, module: str | None) -> str:
    """The dotted name an import refers to (relative imports resolved against ``path``)."""
    if level == 0:
        return module or ""
    package = posixpath.dirname(path).split("/")
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, *([module] if module else [])])


def _read_top_level(found: _Module, node: ast.stmt) -> None:
    """Routers (``x = APIRouter(prefix=...)``) and imports declared at module level."""
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
        callee = node.value.func
        kind = callee.id if isinstance(callee, ast.Name) else getattr(callee, "attr", "")
        if kind in {"APIRouter", "FastAPI"}:
            prefix = _const(_keyword(node.value, "prefix")) or ""
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.routers[target.id] = (prefix, kind == "FastAPI")
    elif isinstance(node, ast.ImportFrom):
        source = _module_name(found.path, node.level, node.module)
        for alias in node.names:
            found.imports[alias.asname or alias.name] = f"{source}.{alias.name}".strip(".")
    elif isinstance(node, ast.Import):
        for alias in node.names:
            found.imports[alias.asname or alias.name.split(".")[0]] = alias.name


def _read_module(path: str, tree: ast.Module) -> _Module:
    found = _Module(path)
    for node in tree.body:
        _read_top_level(found, node)
    if not found.routers:
        return found  # routes and includes hang off a router or app declared here
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.routes += _routes_of(path, node, found.routers)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = node.value
            func = call.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "include_router"
                and isinstance(func.value, ast.Name)
                and call.args
            ):
                prefix = _const(_keyword(call, "prefix")) or ""
                found.includes.append((func.value.id, call.args[0], prefix))
    return found


def _routes_of(
    path: str, node: ast.FunctionDef | ast.AsyncFunctionDef, routers: Mapping[str, tuple[str, bool]]
) -> list[tuple[str, Route]]:
    found: list[tuple[str, Route]] = []
    for decorator in node.decorator_list:
        if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
            continue
        owner = decorator.func.value
        if not (isinstance(owner, ast.Name) and owner.id in routers):
            continue
        verb = decorator.func.attr
        methods = [verb] if verb in METHODS else []
        if verb == "api_route":
            listed = _keyword(decorator, "methods")
            items = listed.elts if isinstance(listed, ast.List | ast.Tuple) else []
            methods = [m.lower() for e in items if (m := _const(e))]
        route_path = (
            _const(decorator.args[0]) if decorator.args else _const(_keyword(decorator, "path"))
        )
        if route_path is None:
            continue
        model = _keyword(decorator, "response_model")
        status = _keyword(decorator, "status_code")
        for method in methods:
            route = Route(
                method.upper(),
                route_path,
                ast.unparse(model) if model is not None else None,
                ast.unparse(status) if status is not None else None,
                path,
                decorator.lineno,
                node.name,
            )
            found.append((owner.id, route))
    return found


def _file_for(dotted: str, near: str, paths: list[str]) -> str | None:
    """The file a dotted module name refers to; of several, the one nearest to ``near``."""
    tail = dotted.replace(".", "/")
    endings = (f"{tail}.py", f"{tail}/__init__.py")
    candidates = [p for p in paths if p in endings or p.endswith(tuple("/" + e for e in endings))]
    if not candidates:
        return None
    return max(candidates, key=lambda p: len(posixpath.commonprefix([p, near])))


def _resolve(child: ast.expr, module: _Module, paths: list[str]) -> tuple[str, str] | None:
    """The (file, router name) an ``include_router`` argument names."""
    if isinstance(child, ast.Name):
        if child.id in module.routers:
            return module.path, child.id
        target = module.imports.get(child.id)
        if target and "." in target:
            dotted, name = target.rsplit(".", 1)
            file = _file_for(dotted, module.path, paths)
            return (file, name) if file else None
    if isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name):
        target = module.imports.get(child.value.id)
        file = _file_for(target, module.path, paths) if target else None
        return (file, child.attr) if file else None
    return None


def routes(files: Mapping[str, str]) -> list[Route]:
    """Every route declared in ``files`` (path → Python source), with full paths."""
    modules = {
        path: _read_module(path, tree)
        for path, text in files.items()
        if path.endswith(".py") and (tree := parse(text)) is not None
    }
    paths = sorted(modules)
    parents: dict[tuple[str, str], list[tuple[tuple[str, str], str]]] = {}
    for module in modules.values():
        for parent, child, prefix in module.includes:
            target = _resolve(child, module, paths)
            if target is not None and parent in module.routers:
                parents.setdefault(target, []).append(((module.path, parent), prefix))

    def prefixes(key: tuple[str, str], depth: int = 0) -> list[str]:
        own = modules[key[0]].routers.get(key[1], ("", False))[0] if key[0] in modules else ""
        above = parents.get(key, [])
        if not above or depth > 8:
            return [own]
        return [
            outer + include + own
            for parent, include in above
            for outer in prefixes(parent, depth + 1)
        ]

    found: list[Route] = []
    for module in modules.values():
        for router, route in module.routes:
            for prefix in prefixes((module.path, router)):
                full = re.sub(r"/+", "/", f"/{prefix}/{route.path}")
                if full != "/" and not route.path.endswith("/"):
                    full = full.rstrip("/")
                found.append(dataclasses.replace(route, path=full))
    return found
