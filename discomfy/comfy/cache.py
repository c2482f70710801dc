"""How much of a prompt ComfyUI served from its cache (`execution_cached`): all of it, some nodes, or nothing."""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable


class CacheUse(enum.StrEnum):
    NONE = ""
    PARTIAL = "partial"
    ALL = "all"  # nothing ran: an identical prompt had run before, and its outputs were reused


def cache_use(cached_nodes: Iterable[str], graph_nodes: Collection[str]) -> CacheUse:
    """ALL when every node of the graph was cached, PARTIAL when some were."""
    cached = set(cached_nodes)
    if not cached:
        return CacheUse.NONE
    return CacheUse.ALL if cached >= set(graph_nodes) else CacheUse.PARTIAL


def cache_note(cached_nodes: Iterable[str], graph_nodes: Collection[str]) -> str | None:
    """The line a person reads: "served from ComfyUI's cache", or which nodes were; None when nothing was."""
    cached = sorted(set(cached_nodes), key=lambda n: (len(n), n))
    use = cache_use(cached, graph_nodes)
    if use is CacheUse.NONE:
        return None
    if use is CacheUse.ALL:
        return "served from ComfyUI's cache"
    return f"served partly from ComfyUI's cache (node{'s' if len(cached) > 1 else ''} {', '.join(cached)})"
