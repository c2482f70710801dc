"""What DisComfy knows about well-known ComfyUI node classes, without asking a server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from discomfy.workflows.graph import sorted_nodes

IMAGE_OUTPUT_CLASSES = frozenset({"SaveImage", "PreviewImage", "Image Save", "SaveImageWebsocket"})
VIDEO_OUTPUT_CLASSES = frozenset(
    {
        "SaveVideo",
        "SaveWEBM",
        "SaveAnimatedWEBP",
        "SaveAnimatedPNG",
        "VHS_VideoCombine",
    }
)
OUTPUT_CLASSES = IMAGE_OUTPUT_CLASSES | VIDEO_OUTPUT_CLASSES | {"SaveAudio", "PreviewAny"}
IMAGE_INPUT_CLASSES = frozenset({"LoadImage", "LoadImageMask", "LoadImageOutput"})


def infer_kind(graph: Mapping[str, Mapping[str, Any]]) -> str:
    """'video' when the graph saves a video or an animation, else 'image'."""
    classes = {str(node.get("class_type")) for node in graph.values()}
    return "video" if classes & VIDEO_OUTPUT_CLASSES else "image"


def output_nodes(graph: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    """Ids of the nodes that save or preview results, as far as DisComfy knows the classes."""
    return tuple(node_id for node_id, node in sorted_nodes(graph) if node.get("class_type") in OUTPUT_CLASSES)
