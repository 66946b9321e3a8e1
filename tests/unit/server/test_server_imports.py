"""The server package's import graph, read from the source: no import cycles, no module
that reaches into the assembled server (`ironwall.server.app`), no core code that leans
on a module, and ``modules/`` holding modules.

Imports inside ``if TYPE_CHECKING:`` are only seen by the type checker: they count for
"nothing imports the app" (a module typed against the whole server would use all of
it), not for cycles (they never run).
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

import ironwall.server

PACKAGE = Path(ironwall.server.__file__).parent
MODULES = PACKAGE / "modules"


@dataclass(frozen=True)
class _Import:
    target: str
    line: int
    type_only: bool


def _name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[_Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
    found: list[_Import] = []

    def visit(nodes: list[ast.stmt], type_only: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If):
                visit(node.body, type_only or _is_type_checking(node.test))
                visit(node.orelse, type_only)
            elif isinstance(node, ast.Import):
                found.extend(_Import(a.name, node.lineno, type_only) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    # `from package import module` imports the module.
                    candidate = f"{base}.{alias.name}"
                    target = candidate if _is_module(candidate) else base
                    found.append(_Import(target, node.lineno, type_only))
            elif isinstance(node, ast.Try | ast.With):
                # (Imports inside functions run on a call, not on loading: not visited.)
                visit(node.body, type_only)

    visit(tree.body, False)
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ModuleNotFoundError, ValueError):
        return False


def _graph() -> dict[str, list[_Import]]:
    return {_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_the_server_package_has_no_import_cycle() -> None:
    graph = _graph()
    edges = {
        name: sorted({i.target for i in imports if not i.type_only and i.target in graph})
        for name, imports in graph.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, str] = {}

    def walk(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in edges[name]:
            if state.get(target) == "open":
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target, [*path, target])
        state[name] = "done"

    for name in edges:
        if name not in state:
            walk(name, [name])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_module_imports_the_assembled_server() -> None:
    offenders = [
        f"{name}:{i.line}"
        for name, imports in _graph().items()
        if name.startswith("ironwall.server.modules")
        for i in imports
        if i.target == "ironwall.server.app"
    ]
    assert offenders == [], f"modules see the server through ModuleHost only: {offenders}"


def test_core_code_imports_no_module() -> None:
    offenders = [
        f"{name}:{i.line} imports {i.target}"
        for name, imports in _graph().items()
        if not name.startswith("ironwall.server.modules") and name != "ironwall.server.app"
        for i in imports
        if i.target.startswith("ironwall.server.modules.") and not i.type_only
    ]
    assert offenders == [], f"helpers core code needs live outside modules/: {offenders}"


def test_each_file_in_modules_is_a_module_or_beside_its_module() -> None:
    """A module is a file or package with ``MODULE``; its helpers live in its package."""
    for entry in sorted(MODULES.iterdir()):
        if entry.name.startswith("__") or entry.suffix not in (".py", ""):
            continue
        name = f"ironwall.server.modules.{entry.stem}"
        loaded = importlib.import_module(name)
        assert hasattr(loaded, "MODULE"), f"{name} is not a module (no MODULE): move it"
