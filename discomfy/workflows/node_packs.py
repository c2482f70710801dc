"""Which custom node pack a node class the server lacks probably comes from, so the error can say what to install."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Class name prefixes and suffixes of widely used packs (only where the UI save does not name its pack).
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("VHS_", "ComfyUI-VideoHelperSuite (https://github.com/Kosinkadink/ComfyUI-VideoHelperSuite)"),
    ("IPAdapter", "ComfyUI_IPAdapter_plus (https://github.com/cubiq/ComfyUI_IPAdapter_plus)"),
    ("WanVideo", "ComfyUI-WanVideoWrapper (https://github.com/kijai/ComfyUI-WanVideoWrapper)"),
    ("ControlNetPreprocessor", "comfyui_controlnet_aux (https://github.com/Fannovel16/comfyui_controlnet_aux)"),
    ("UltimateSDUpscale", "ComfyUI_UltimateSDUpscale (https://github.com/ssitu/ComfyUI_UltimateSDUpscale)"),
    ("Impact", "ComfyUI-Impact-Pack (https://github.com/ltdrdata/ComfyUI-Impact-Pack)"),
    ("easy ", "ComfyUI-Easy-Use (https://github.com/yolain/ComfyUI-Easy-Use)"),
    ("GGUF", "ComfyUI-GGUF (https://github.com/city96/ComfyUI-GGUF)"),
)
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("(rgthree)", "rgthree-comfy (https://github.com/rgthree/rgthree-comfy)"),
    ("|pysssss", "ComfyUI-Custom-Scripts (https://github.com/pythongosssss/ComfyUI-Custom-Scripts)"),
    ("GGUF", "ComfyUI-GGUF (https://github.com/city96/ComfyUI-GGUF)"),
)


def likely_pack(class_type: str, properties: Mapping[str, Any] | None = None) -> str | None:
    """The pack named in the save (`cnr_id`, `aux_id`, as newer frontends write), else a well-known one."""
    props = properties if isinstance(properties, Mapping) else {}
    cnr_id, aux_id = props.get("cnr_id"), props.get("aux_id")
    if isinstance(aux_id, str) and aux_id:
        return f"{cnr_id or aux_id.rpartition('/')[2]} (https://github.com/{aux_id})"
    if isinstance(cnr_id, str) and cnr_id and cnr_id != "comfy-core":
        return f"{cnr_id} (https://registry.comfy.org/nodes/{cnr_id})"
    for prefix, pack in _PREFIXES:
        if class_type.startswith(prefix):
            return pack
    for suffix, pack in _SUFFIXES:
        if class_type.endswith(suffix):
            return pack
    if cnr_id == "comfy-core":
        return "ComfyUI itself (a newer version than the server runs)"
    return None
