"""Loading the workflows folder: every mapping YAML with its graph, all problems reported at once."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from discomfy.workflows.errors import MappingError, WorkflowError, WorkflowFileError, WorkflowLoadError
from discomfy.workflows.graph import dangling_links, read_text
from discomfy.workflows.library import WorkflowLibrary
from discomfy.workflows.mapping import MappingReader
from discomfy.workflows.model import WorkflowSpec
from discomfy.workflows.source import is_ui_file, load_graph

if TYPE_CHECKING:
    from discomfy.comfy.object_info import ObjectInfo

log = logging.getLogger(__name__)

MAPPING_SUFFIXES = (".yaml", ".yml")


def load_workflows(directory: Path | str, object_info: ObjectInfo | None = None) -> WorkflowLibrary:
    """Load and validate every mapping in `directory` (not its subfolders).

    `object_info` (the server's node list) lets graphs saved in the UI format be converted on the way in.

    Raises:
        WorkflowLoadError: with every problem of every file, each naming file, node and input.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise WorkflowLoadError([WorkflowFileError("workflows folder not found", file=str(folder))])
    specs: list[WorkflowSpec] = []
    problems: list[WorkflowError] = []
    mappings = sorted(p for p in folder.iterdir() if p.suffix in MAPPING_SUFFIXES and p.is_file())
    for path in mappings:
        spec, found = read_workflow(path, object_info)
        problems.extend(found)
        if spec is not None:
            specs.append(spec)
    problems.extend(_duplicate_names(specs))
    if problems:
        raise WorkflowLoadError(problems)
    _log_unmapped_graphs(folder, specs)
    log.info("Loaded %d workflows from %s: %s", len(specs), folder, ", ".join(s.name for s in specs))
    return WorkflowLibrary(tuple(specs), directory=folder)


def load_workflow(mapping_path: Path | str, object_info: ObjectInfo | None = None) -> WorkflowSpec:
    """Load one mapping and its graph; raises WorkflowLoadError listing all its problems."""
    spec, problems = read_workflow(Path(mapping_path), object_info)
    if spec is None:
        raise WorkflowLoadError(problems)
    return spec


def read_workflow(
    mapping_path: Path, object_info: ObjectInfo | None = None
) -> tuple[WorkflowSpec | None, list[WorkflowError]]:
    """The spec of one mapping file, or None, plus every problem found in it and its graph."""
    try:
        data = _read_yaml(mapping_path)
        graph_path = mapping_path.parent / _graph_name(data, mapping_path)
        graph = load_graph(graph_path, object_info)
    except WorkflowError as exc:
        return None, [exc]
    problems = dangling_links(graph, file=str(graph_path))
    reader = MappingReader(mapping_path, graph_path, graph)
    spec = reader.read(data)
    problems.extend(reader.problems)
    return (None if problems else spec), problems


def _read_yaml(path: Path) -> Mapping[str, Any]:
    text = read_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise WorkflowFileError(f"invalid YAML: {reason}", file=str(path), line=line) from exc
    except yaml.YAMLError as exc:
        raise WorkflowFileError(f"invalid YAML: {exc}", file=str(path)) from exc
    except RecursionError:
        raise WorkflowFileError("invalid YAML: nested too deeply", file=str(path)) from None
    if not isinstance(data, Mapping):
        raise WorkflowFileError("must be a YAML mapping (graph:, parameters:, ...)", file=str(path))
    return data


def _graph_name(data: Mapping[str, Any], path: Path) -> str:
    graph = data.get("graph")
    if not isinstance(graph, str) or not graph.strip() or "\0" in graph:
        raise MappingError(
            f"must name the exported API-format JSON beside it, e.g. graph: {path.stem}.json",
            file=str(path),
            key="graph",
        )
    return graph.strip()


def _duplicate_names(specs: list[WorkflowSpec]) -> list[WorkflowError]:
    first: dict[str, WorkflowSpec] = {}
    problems: list[WorkflowError] = []
    for spec in specs:
        if spec.name in first:
            other = first[spec.name].mapping_path.name
            problems.append(
                MappingError(
                    f"workflow name {spec.name!r} is already used by {other}; names must be unique",
                    file=str(spec.mapping_path),
                    key="name",
                )
            )
        first.setdefault(spec.name, spec)
    return problems


def _log_unmapped_graphs(folder: Path, specs: list[WorkflowSpec]) -> None:
    used = {spec.graph_path.resolve() for spec in specs}
    for path in sorted(folder.glob("*.json")):
        if path.resolve() not in used:
            log.info("%s has no mapping; `python -m discomfy analyze %s` writes one", path, path)


def has_ui_graphs(directory: Path | str) -> bool:
    """True if the folder holds a UI-format JSON, which only loads with the server's node list at hand."""
    folder = Path(directory)
    return folder.is_dir() and any(is_ui_file(path) for path in sorted(folder.glob("*.json")))
