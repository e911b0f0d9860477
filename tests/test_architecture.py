"""The house's rules, checked by reading every server module's import
statements (``ast``, so imports under ``if TYPE_CHECKING:`` and inside
functions count too), after importing every module once.

- No part imports the wiring (``server.node``): parts are given their
  collaborators when they are built. Only the CLI (wiring itself) may.
- The core imports nothing with I/O, a clock or randomness.
- No import cycle among server modules, type-only imports included.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "server"

WIRING = {"server.node", "server.cli"}
"""Wiring: may import anything; nothing else may import ``server.node``."""

CORE_MAY_IMPORT = {
    "__future__", "base64", "binascii", "collections", "collections.abc", "dataclasses", "enum", "functools", "hashlib", "itertools",
    "logging", "re", "typing", "unicodedata", "msgspec", "msgspec.structs", "phonenumbers", "protocol",
}
"""Pure libraries (and logging, which writes through handlers the process
configures); everything of ``protocol`` and ``server.core`` besides."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(SERVER.rglob("*.py"))}


def imports_of(name: str) -> Iterator[str]:
    """Every module ``name`` imports (``from a import b``: ``a.b`` when that is a module)."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found = False
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    found = True
                    yield f"{base}.{alias.name}"
            if not found:
                yield base


GRAPH = {name: {i for i in imports_of(name) if i in MODULES and i != name} for name in MODULES}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_server_module_imports(name: str) -> None:
    importlib.import_module(name)


def test_no_part_imports_the_node() -> None:
    offenders = sorted(name for name, deps in GRAPH.items() if "server.node" in deps and name not in WIRING)
    assert offenders == []


def test_the_core_imports_nothing_with_io() -> None:
    offenders = {}
    for name in MODULES:
        if name == "server.core" or name.startswith("server.core."):
            bad = {
                i
                for i in imports_of(name)
                if i not in CORE_MAY_IMPORT
                and not i.startswith(("protocol.", "server.core.", "msgspec."))
                and i != "server.core"
            }
            if bad:
                offenders[name] = sorted(bad)
    assert offenders == {}


def test_no_import_cycles_counting_type_only_imports() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dep in sorted(GRAPH[name]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        path.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)
    assert cycles == []


def test_the_checks_see_what_they_check() -> None:
    """The graph is not vacuous: known edges are found, type-only ones too."""
    assert "server.app.changes" in GRAPH["server.app.commands"]
    assert "server.node" in GRAPH["server.cli"]
    assert "server.core.conversation" in GRAPH["server.app.changes"]
    tree_with_type_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from server.node import Node\n"
    found = [n for n in ast.walk(ast.parse(tree_with_type_only)) if isinstance(n, ast.ImportFrom)]
    assert [n.module for n in found] == ["typing", "server.node"]
