"""Reading ComfyUI API-format graphs: the one place that knows their JSON shape and the UI-format trap."""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from discomfy.workflows.errors import OverrideError, WorkflowError, WorkflowFileError, WorkflowFormatError

log = logging.getLogger(__name__)

Graph: TypeAlias = dict[str, dict[str, Any]]

EXPORT_API_ADVICE = (
    "DisComfy needs the API format: in ComfyUI open the workflow and use Workflow menu > "
    "Export (API) (older frontends: enable the dev mode options in the settings, then "
    "'Save (API Format)')"
)


@dataclass(frozen=True, slots=True, order=True)
class InputRef:
    """One input of one node, written `NODE_ID.INPUT` in mappings and on the command line."""

    node: str
    input: str

    def __str__(self) -> str:
        return f"{self.node}.{self.input}"

    @classmethod
    def parse(cls, text: str) -> InputRef:
        """Split `NODE_ID.INPUT` at the first dot (node ids never hold one; input names may)."""
        node, dot, name = str(text).strip().partition(".")
        if not dot or not node or not name:
            raise OverrideError(f"{text!r} is not NODE_ID.INPUT (for example 3.steps)")
        return cls(node, name)


def is_link(value: Any) -> bool:
    """True for `[source_node_id, output_index]`, the way API format wires an input to a node."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def node_sort_key(node_id: str) -> tuple[tuple[int, int | str], ...]:
    """Order ids as numbers where they are numbers ("2" < "10"; subgraph ids like "75:64" too)."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"[:.]", node_id))


def sorted_nodes(graph: Mapping[str, Mapping[str, Any]]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for node_id in sorted(graph, key=node_sort_key):
        yield node_id, graph[node_id]


def copy_graph(graph: Mapping[str, Mapping[str, Any]]) -> Graph:
    """A deep copy whose nodes are dicts, whatever Mappings the template used, so it can be filled in."""
    return {node_id: copy.deepcopy(dict(node)) for node_id, node in graph.items()}


def node_title(node: Mapping[str, Any]) -> str:
    meta = node.get("_meta")
    title = meta.get("title") if isinstance(meta, Mapping) else None
    return str(title) if title else str(node.get("class_type", "?"))


def read_text(path: Path) -> str:
    """A workflow or mapping file's text (a BOM tolerated); raises WorkflowFileError naming the file."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise WorkflowFileError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowFileError(f"cannot be read: {exc}", file=str(path)) from exc
    except ValueError as exc:  # a NUL character in the name a mapping gave
        raise WorkflowFileError(f"is not a usable file name: {exc}", file=repr(str(path))) from exc


def read_json(path: Path) -> Any:
    """A workflow file's JSON; raises WorkflowFileError naming the file (and the line of a syntax error)."""
    return parse_json(read_text(path), file=str(path))


def parse_json(text: str, *, file: str) -> Any:
    """Parsed JSON text; raises WorkflowFileError naming `file` and the line of a syntax error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowFileError(f"invalid JSON: {exc.msg} (column {exc.colno})", file=file, line=exc.lineno) from exc
    except RecursionError:
        raise WorkflowFileError("invalid JSON: nested too deeply", file=file) from None


def parse_graph(data: Any, *, file: str) -> Graph:
    """Accept only an API-format graph; say how to get one when handed anything else."""
    if isinstance(data, Mapping) and "nodes" in data and "links" in data:
        raise WorkflowFormatError(
            f"this is a UI-format workflow (it has 'nodes' and 'links'). {EXPORT_API_ADVICE}",
            file=file,
        )
    if isinstance(data, Mapping) and isinstance(data.get("prompt"), Mapping) and "class_type" not in data:
        raise WorkflowFormatError(
            "this looks like a /prompt request body; save only the value of its 'prompt' key",
            file=file,
        )
    if not isinstance(data, Mapping):
        raise WorkflowFormatError(f"expected a JSON object of node ids to nodes. {EXPORT_API_ADVICE}", file=file)
    if not data:
        raise WorkflowFormatError("the graph has no nodes", file=file)
    bad = [str(k) for k, node in data.items() if not _is_api_node(node)]
    if bad:
        listed = ", ".join(repr(b) for b in bad[:8]) + (" ..." if len(bad) > 8 else "")
        raise WorkflowFormatError(
            f"node(s) {listed} lack 'class_type' or 'inputs', so this is not an API-format graph. {EXPORT_API_ADVICE}",
            file=file,
        )
    return {str(k): dict(v) for k, v in data.items()}


def _is_api_node(node: Any) -> bool:
    return (
        isinstance(node, Mapping)
        and isinstance(node.get("class_type"), str)
        and isinstance(node.get("inputs"), Mapping)
    )


def dangling_links(graph: Graph, *, file: str) -> list[WorkflowError]:
    """Links to nodes that are not in the graph (ComfyUI would refuse the whole prompt)."""
    problems = []
    for node_id, node in sorted_nodes(graph):
        for name, value in node["inputs"].items():
            if is_link(value) and value[0] not in graph:
                problems.append(
                    WorkflowError(
                        f"links to node {value[0]!r}, which is not in the graph",
                        file=file,
                        node=node_id,
                        input=name,
                    )
                )
    return problems


def downstream(graph: Graph) -> dict[str, list[tuple[str, str]]]:
    """For each node id, the (consumer node id, input name) pairs its outputs feed."""
    consumers: dict[str, list[tuple[str, str]]] = {node_id: [] for node_id in graph}
    for node_id, node in sorted_nodes(graph):
        for name, value in node["inputs"].items():
            if is_link(value) and value[0] in consumers:
                consumers[value[0]].append((node_id, name))
    return consumers
