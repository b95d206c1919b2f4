"""The modules of ``workshop_server`` import one another without a circle (TYPE_CHECKING imports and
imports inside functions included): connections reach rooms through ``handle.py`` only."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "workshop_server"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(f): f for f in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        here[: len(here) - node.level + 1] + ([node.module] if node.module else [])
                    )
                for alias in node.names:  # ``from pkg import module`` depends on the module
                    deps.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def test_no_module_imports_itself_through_others() -> None:
    graph = import_graph()
    assert "workshop_server.session" in graph and "workshop_server.hub" in graph

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for dep in graph[todo.pop()]:
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    circles = sorted(name for name in graph if name in reachable(name))
    assert circles == [], f"modules in an import circle: {circles}"


def test_the_connection_layer_does_not_import_the_hub() -> None:
    graph = import_graph()
    assert "workshop_server.hub" not in graph["workshop_server.session"]
    assert "workshop_server.handle" in graph["workshop_server.session"]
