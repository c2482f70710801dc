"""Architecture rules that a reviewer should not have to check by eye."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import discomfy
from discomfy.errors import DiscomfyError

ROOT = Path(discomfy.__file__).parent
REPO = ROOT.parent
#: The Discord layer, and the one command-line module that prints the invite link's permissions.
MAY_IMPORT_DISCORD = ("bot/", "cli/check.py")


def _python_files() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, those under TYPE_CHECKING too (a cycle there is still a cycle)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


def _discomfy_graph() -> dict[str, set[str]]:
    modules = {_module(path): path for path in _python_files()}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_only_the_discord_layer_imports_discord():
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _python_files()
        if not str(path.relative_to(ROOT)).startswith(MAY_IMPORT_DISCORD)
        for name in _imports(path)
        if name == "discord" or name.startswith("discord.")
    ]
    assert offenders == []


def test_the_discord_layer_is_not_imported_by_the_core():
    offenders = [
        f"{name} imports {target}"
        for name, targets in _discomfy_graph().items()
        if not name.startswith(("discomfy.bot", "discomfy.app", "discomfy.cli"))
        for target in targets
        if target.startswith("discomfy.bot")
    ]
    assert offenders == []


def test_the_import_graph_has_no_cycle():
    graph = _discomfy_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[str] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_every_public_exception_is_a_discomfy_error():
    strays = []
    for module_info in pkgutil.walk_packages(discomfy.__path__, "discomfy."):
        module = importlib.import_module(module_info.name)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ != module.__name__ or name.startswith("_"):
                continue
            allowed = (DiscomfyError, _DISCORD_CHECK_FAILURE)
            if issubclass(obj, Exception) and not issubclass(obj, allowed):
                strays.append(f"{module.__name__}.{name}")
    assert strays == []


def test_no_blocking_http_or_print_in_the_package():
    offenders = []
    for path in ROOT.rglob("*.py"):
        imports = _imports(path)
        if {"requests", "urllib.request"} & imports:
            offenders.append(f"{path.relative_to(ROOT)} uses blocking HTTP")
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            is_print = isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
            if is_print and path.parent.name != "cli" and path.name != "health.py":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} prints")
    assert offenders == []


def _check_failure() -> type[Exception]:
    from discord.app_commands import CheckFailure

    return CheckFailure


_DISCORD_CHECK_FAILURE = _check_failure()
