"""A request's input images on the servers: uploaded where the job goes, once per server, even for a batch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from discomfy.workflows import build_workflow

if TYPE_CHECKING:
    from discomfy.comfy import PoolServer
    from discomfy.store import JobRecord
    from discomfy.workflows import WorkflowSpec


@dataclass(frozen=True, slots=True)
class InputImage:
    """An image a user attached, to be uploaded to ComfyUI for a LoadImage parameter."""

    data: bytes = field(repr=False)
    filename: str


class Inputs:
    """A request's input images, and what each server calls them once uploaded there (a batch uploads once)."""

    def __init__(self, images: Mapping[str, InputImage]) -> None:
        self.images = dict(images)
        self.references: dict[str, dict[str, str]] = {}  # server -> parameter -> ComfyUI's name for the file


async def upload(inputs: Inputs, server: PoolServer) -> dict[str, str]:
    """Upload the input images to `server` once; their names there, by parameter.

    Raises:
        ComfyError: the server refused an image or could not be reached.
    """
    if server.name not in inputs.references:
        references = {}
        for name, image in inputs.images.items():
            references[name] = (await server.service.upload_image(image.data, image.filename)).reference
        inputs.references[server.name] = references
    return inputs.references[server.name]


async def graph_for(
    record: JobRecord, spec: WorkflowSpec | None, inputs: Inputs | None, server: PoolServer
) -> Mapping[str, Any]:
    """A job's graph for `server`: as stored, or with its input images uploaded there first (it moved)."""
    if record.server in (None, server.name) or inputs is None or spec is None:
        return record.graph or {}
    values = {**record.params, **await upload(inputs, server)}
    return build_workflow(spec, values, seed=record.seed).graph
