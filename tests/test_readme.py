"""The README's map of the code stays true: everything it names exists, and every module is on it."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _map() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Development") :]
    return section[section.index("```\n") + 4 : section.index("\n```", section.index("```\n") + 4)]


def _entries() -> list[tuple[str, list[str]]]:
    """(parent folder, names) for each line of the map; indentation says which folder a name is in."""
    folders: list[tuple[int, str]] = []
    entries = []
    for line in _map().splitlines():
        match = re.match(r"^( *)(\S.*?)(?:\s{2,}|$)", line)
        if not match or not re.match(r"^[\w./]+(?:, [\w./]+)*$", match[2]):
            continue  # a continuation of the description column
        depth, names = len(match[1]), match[2].split(", ")
        folders = [(d, f) for d, f in folders if d < depth]
        parent = folders[-1][1] if folders else ""
        entries.append((parent, names))
        if names[0].endswith("/"):
            folders.append((depth, parent + names[0]))
    return entries


def test_everything_the_map_names_exists() -> None:
    missing = [parent + name for parent, names in _entries() for name in names if not (REPO / parent / name).exists()]
    assert missing == []


def test_every_module_of_the_package_and_its_discord_layer_is_on_the_map() -> None:
    named = {parent + name.rstrip("/") for parent, names in _entries() for name in names}
    for package in ("discomfy", "discomfy/bot"):
        for path in sorted((REPO / package).iterdir()):
            if path.name.startswith("_") or path.name == "__pycache__" or path.suffix not in {"", ".py"}:
                continue
            assert f"{package}/{path.name}" in named, f"{package}/{path.name} is not on the README's map"
