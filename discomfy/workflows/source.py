"""Reading a workflow file in either format: API-format graphs as they are, UI-format saves converted.

The conversion needs the server's node list (`/object_info`); callers that have one pass it, and a UI-format
file read without one is refused with a message that says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from discomfy.workflows.convert import convert_ui_workflow, is_ui_format
from discomfy.workflows.errors import ObjectInfoNeededError, WorkflowError
from discomfy.workflows.graph import EXPORT_API_ADVICE, Graph, parse_graph, read_json

if TYPE_CHECKING:
    from discomfy.comfy.object_info import ObjectInfo

NEEDS_SERVER = (
    "this is a UI-format workflow (it has 'nodes' and 'links'); converting it to the API format needs the "
    "ComfyUI server's node list, and the server could not be asked: start ComfyUI (or pass a saved "
    "/object_info with --object-info FILE)"
)


def load_graph(path: Path, object_info: ObjectInfo | None = None) -> Graph:
    """Read one workflow file as an API-format graph; raises WorkflowFileError / WorkflowFormatError."""
    return graph_from_data(read_json(path), file=str(path), object_info=object_info)


def graph_from_data(data: Any, *, file: str, object_info: ObjectInfo | None = None) -> Graph:
    """The API-format graph of a parsed workflow file, converting a UI-format save when it can."""
    if is_ui_format(data):
        if object_info is None:
            raise ObjectInfoNeededError(f"{NEEDS_SERVER}. Or: {EXPORT_API_ADVICE}", file=file)
        return parse_graph(convert_ui_workflow(data, object_info, file=file), file=file)
    return parse_graph(data, file=file)


def is_ui_file(path: Path) -> bool:
    """True if `path` holds a UI-format save (an unreadable file is not; reading it later says why)."""
    try:
        return is_ui_format(read_json(path))
    except WorkflowError:
        return False
