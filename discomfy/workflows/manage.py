"""Adding, removing and reloading the bot's workflows while it runs (what `/workflow` does), on disk.

Every change is checked before it counts: an added workflow is converted, analyzed and loaded from a staging
copy first, and the folder is then loaded as a whole; if that fails, the files written are taken back and the
library keeps the set it had. The library is replaced in one step, so lookups and autocomplete never see a mix.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from discomfy.workflows.analyze import Analysis, analyze_graph
from discomfy.workflows.check import check_against_object_info
from discomfy.workflows.errors import MappingError, WorkflowError, WorkflowFileError, WorkflowLoadError
from discomfy.workflows.library import WorkflowLibrary
from discomfy.workflows.loader import has_ui_graphs, load_workflows, read_workflow
from discomfy.workflows.mapping import NAME_RE, slug
from discomfy.workflows.model import WorkflowSpec
from discomfy.workflows.source import graph_from_data
from discomfy.workflows.template import render_template

if TYPE_CHECKING:
    from collections.abc import Mapping

    from discomfy.comfy.object_info import ObjectInfo
    from discomfy.workflows.graph import Graph

log = logging.getLogger(__name__)

MAX_WORKFLOW_BYTES = 8 * 2**20  # a workflow JSON larger than this is refused before it is read


@dataclass(frozen=True, slots=True)
class Draft:
    """A workflow ready to be written: its API graph, what analysis found, and what the server lacks for it."""

    name: str
    graph: Graph
    analysis: Analysis
    spec: WorkflowSpec
    missing: tuple[WorkflowError, ...]  # node classes or model files the server does not have

    def mapping_text(self, *, title: str | None = None, description: str = "") -> str:
        return render_template(
            self.analysis, name=self.name, graph_file=f"{self.name}.json", title=title, description=description
        )


def draft_workflow(data: bytes, *, filename: str, name: str | None, info: ObjectInfo) -> Draft:
    """Convert (if saved in the UI format), analyze and validate an uploaded workflow; nothing is written.

    Raises:
        WorkflowError: the same precise messages as for files on disk (naming the upload, node and input).
    """
    name = _name(name, filename)
    if len(data) > MAX_WORKFLOW_BYTES:
        raise WorkflowFileError(f"is {len(data) / 2**20:.1f} MB; a workflow is at most 8 MB", file=filename)
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise WorkflowFileError(f"is not UTF-8 text: {exc.reason}", file=filename) from exc
    except json.JSONDecodeError as exc:
        raise WorkflowFileError(
            f"invalid JSON: {exc.msg} (column {exc.colno})", file=filename, line=exc.lineno
        ) from exc
    except RecursionError:
        raise WorkflowFileError("invalid JSON: nested too deeply", file=filename) from None
    graph = graph_from_data(parsed, file=filename, object_info=info)
    analysis = analyze_graph(graph, info)
    with tempfile.TemporaryDirectory(prefix="discomfy-draft-") as staging:
        folder = Path(staging)
        _write(folder / f"{name}.json", _graph_text(graph))
        _write(folder / f"{name}.yaml", render_template(analysis, name=name, graph_file=f"{name}.json"))
        spec, problems = read_workflow(folder / f"{name}.yaml")
    if spec is None:
        raise WorkflowLoadError([_renamed(p, filename) for p in problems])
    return Draft(name, graph, analysis, spec, tuple(check_against_object_info(spec, info)))


def add_workflow(
    library: WorkflowLibrary,
    draft: Draft,
    *,
    title: str | None = None,
    description: str = "",
    info: ObjectInfo | None = None,
    replace: bool = False,
) -> WorkflowSpec:
    """Write the draft's JSON and YAML into the library's folder and make the new set live.

    Raises:
        MappingError: the name is taken (and `replace` is not set).
        WorkflowLoadError: the folder with it does not load; the files were taken back.
    """
    folder = _folder(library)
    if draft.name in library and not replace:
        raise MappingError(f"a workflow called {draft.name!r} exists; remove it first", file=str(folder), key="name")
    graph_file, mapping_file = folder / f"{draft.name}.json", folder / f"{draft.name}.yaml"
    backups = {path: path.read_bytes() for path in (graph_file, mapping_file) if path.exists()}
    _write(graph_file, _graph_text(draft.graph))
    _write(mapping_file, draft.mapping_text(title=title, description=description))
    try:
        reload_workflows(library, info)
    except WorkflowError:
        for path in (graph_file, mapping_file):
            if path in backups:
                path.write_bytes(backups[path])
            else:
                path.unlink(missing_ok=True)
        raise
    log.info("Workflow %s added to %s", draft.name, folder)
    return library.get(draft.name)


def remove_workflow(library: WorkflowLibrary, name: str) -> WorkflowSpec:
    """Delete a workflow's mapping (and its graph, unless another mapping uses it) and make the rest live.

    The rest is the live set without it, not the folder read again: a file broken by hand elsewhere in the folder
    cannot leave the removed workflow live (/workflow reload reports such files).
    """
    spec = library.get(name)
    shared = any(other.graph_path == spec.graph_path for other in library if other.name != spec.name)
    spec.mapping_path.unlink(missing_ok=True)
    if not shared:
        spec.graph_path.unlink(missing_ok=True)
    library.replace(WorkflowLibrary([other for other in library if other.name != name], library.directory))
    log.info("Workflow %s removed", name)
    return spec


def reload_workflows(library: WorkflowLibrary, info: ObjectInfo | None = None) -> WorkflowLibrary:
    """Load the library's folder again and make it live; if it does not load, the old set stays live.

    Raises:
        WorkflowLoadError: every problem of every file at once.
    """
    fresh = load_workflows(_folder(library), info)
    library.replace(fresh)
    return library


def needs_node_list(library: WorkflowLibrary) -> bool:
    """True if reloading the folder needs the server's node list (it holds UI-format saves)."""
    return library.directory is not None and has_ui_graphs(library.directory)


def server_fit(
    library: WorkflowLibrary, servers: Mapping[str, ObjectInfo]
) -> dict[str, dict[str, tuple[WorkflowError, ...]]]:
    """For each workflow, for each server (by label), what that server lacks to run it (empty: it can)."""
    return {
        spec.name: {label: tuple(check_against_object_info(spec, info)) for label, info in servers.items()}
        for spec in library
    }


def mapping_text(spec: WorkflowSpec) -> str:
    """The workflow's mapping YAML as it is on disk."""
    try:
        return spec.mapping_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkflowFileError(f"cannot be read: {exc}", file=str(spec.mapping_path)) from exc


def _name(name: str | None, filename: str) -> str:
    if name is None:
        return slug(Path(filename).stem.removesuffix(".api"))
    if not NAME_RE.fullmatch(name):
        raise MappingError("use lowercase letters, digits, '-' or '_' (at most 64)", file=filename, key="name")
    return name


def _folder(library: WorkflowLibrary) -> Path:
    if library.directory is None:
        raise WorkflowFileError("this workflow set has no folder", file="workflows")
    return library.directory


def _graph_text(graph: Graph) -> str:
    return json.dumps(graph, indent=2, ensure_ascii=False) + "\n"


def _write(path: Path, text: str) -> None:
    """Write through a temporary file and a rename, so a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _renamed(problem: WorkflowError, filename: str) -> WorkflowError:
    """A staging file's problem as the upload's (the temporary folder means nothing to the admin)."""
    text: Any = problem.message
    return WorkflowError(str(text), file=filename, node=problem.node, input=problem.input)
