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
CORE = [
    "comfy",
    "workflows",
    "store",
    "media",
    "jobs.py",
    "config.py",
    "config_schema.py",
    "log.py",
    "health.py",
    "contact_sheet.py",
    "tasks.py",
    "progress.py",
    "errors.py",
]


def _python_files(entry: str) -> list[Path]:
    path = ROOT / entry
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_core_never_imports_discord():
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for entry in CORE
        for path in _python_files(entry)
        for name in _imports(path)
        if name == "discord" or name.startswith("discord.")
    ]
    assert offenders == []


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
            if is_print and not path.name.startswith("cli") and path.name not in {"checks.py", "health.py"}:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} prints")
    assert offenders == []


def _check_failure() -> type[Exception]:
    from discord.app_commands import CheckFailure

    return CheckFailure


_DISCORD_CHECK_FAILURE = _check_failure()
