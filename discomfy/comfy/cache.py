"""How much of a prompt ComfyUI served from its cache (`execution_cached`): all of it, some nodes, or nothing.

One wording for every place that says so: the job's message in Discord, `run`, and a sweep's sheet.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from discomfy.comfy.models import JobResult
from discomfy.workflows.graph import node_sort_key

CACHED = "Served from ComfyUI's cache"  # the outputs were reused: nothing ran again
PARTLY_CACHED = "Partly served from ComfyUI's cache"  # some nodes' outputs were reused, the rest ran


class CacheUse(enum.StrEnum):
    NONE = ""
    PARTIAL = "partial"
    ALL = "all"  # nothing ran: an identical prompt had run before, and its outputs were reused


def cache_use(result: JobResult, graph: Mapping[str, Any] | None) -> CacheUse:
    """ALL when the outputs (or every node of the graph) came from the cache, PARTIAL when some nodes did.

    ComfyUI runs only what its outputs need, so cached outputs mean nothing ran, whatever else the graph holds.
    """
    cached = set(result.cached_nodes)
    if not cached:
        return CacheUse.NONE
    outputs = {output.node_id for output in result.outputs}
    nodes = graph or {}
    if (outputs and outputs <= cached) or (nodes and nodes.keys() <= cached):
        return CacheUse.ALL
    return CacheUse.PARTIAL


def cache_note(result: JobResult, graph: Mapping[str, Any] | None) -> str | None:
    """The line a person reads: nothing ran again, or which nodes' outputs were reused; None when none were."""
    use = cache_use(result, graph)
    if use is CacheUse.NONE:
        return None
    if use is CacheUse.ALL:
        return f"{CACHED}: nothing ran again."
    nodes = graph or {}
    cached = sorted(set(result.cached_nodes), key=node_sort_key)
    return f"{PARTLY_CACHED}: " + ", ".join(f"{_class_type(nodes.get(node_id))} #{node_id}" for node_id in cached)


def _class_type(node: Any) -> str:
    return str(node.get("class_type") or "node") if isinstance(node, Mapping) else "node"
