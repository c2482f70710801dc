"""The widgets ComfyUI's frontend gives a node, so that a UI-format `widgets_values` list can be read by name.

A UI-format save stores widget values by position, and the positions count widgets that are no inputs at all:
the `control_after_generate` companion of seed-like INT widgets (and of combos that ask for one, with its
filter list), upload buttons, audio players, 3D viewers. The layout below is derived from `/object_info` the
way the frontend (1.27) builds its widgets; the few core nodes whose widgets come from frontend extensions
are listed by class. What does not reach the API prompt (`to_api=False`) only holds its place.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from discomfy.comfy.object_info import InputSpec, ObjectInfo

#: Input types whose widget the frontend draws itself (a webcam, a recorder, a 3D viewer): they take a value.
CUSTOM_WIDGET_TYPES = frozenset({"WEBCAM", "AUDIO_RECORD", "LOAD_3D", "LOAD_3D_ANIMATION"})
_UPLOADS = ("image_upload", "video_upload", "animated_image_upload")


@dataclass(frozen=True, slots=True)
class Widget:
    """One widget of a node: its name, whether the API prompt gets its value, and its value before any save."""

    name: str
    to_api: bool = True
    saved: bool = True  # False: its place in widgets_values is left empty (null)
    default: Any = None
    dynamic_prompts: bool = False


_CONTROL = Widget("control_after_generate", to_api=False, default="randomize")
_FILTER = Widget("control_filter_list", to_api=False, default="")
_UPLOAD = Widget("upload", to_api=False)
_AUDIO_UI = Widget("audioUI", saved=False, default="")
_VIEWER = Widget("image", default="")

#: Widgets that core frontend extensions add after the inputs' own widgets, by node class.
TRAILING_WIDGETS: Mapping[str, tuple[Widget, ...]] = {
    "SaveAudio": (_AUDIO_UI,),
    "SaveAudioMP3": (_AUDIO_UI,),
    "SaveAudioOpus": (_AUDIO_UI,),
    "PreviewAudio": (_AUDIO_UI,),
    "PreviewAny": (Widget("preview", saved=False, default=""),),
    "Preview3D": (_VIEWER,),
    "Preview3DAnimation": (_VIEWER,),
    "SaveGLB": (_VIEWER,),
    "WebcamCapture": (Widget("waiting for camera..."),),
    "RecordAudio": (Widget("audio", to_api=False),),
}
#: Buttons that core frontend extensions put right after one input's widget, by (class, input).
BUTTONS_AFTER: Mapping[tuple[str, str], tuple[Widget, ...]] = {
    (cls, "model_file"): (Widget("upload 3d model"), Widget("upload extra resources"), Widget("clear"))
    for cls in ("Load3D", "Load3DAnimation")
}


def widget_layout(info: ObjectInfo, class_type: str) -> tuple[Widget, ...]:
    """The node's widgets in the frontend's order; empty for a class the server does not know."""
    specs = info.inputs(class_type)
    widgets: list[Widget] = []
    for spec in specs:
        if spec.options.get("forceInput") or not (spec.is_widget or spec.type in CUSTOM_WIDGET_TYPES):
            continue
        widgets.append(Widget(spec.name, default=_default(spec), dynamic_prompts=_dynamic(spec)))
        widgets.extend(_companions(spec))
        widgets.extend(BUTTONS_AFTER.get((class_type, spec.name), ()))
    options = [spec.options for spec in specs if spec.type == "COMBO"]
    if any(o.get("audio_upload") for o in options):
        widgets += [_AUDIO_UI, _UPLOAD]
    elif any(o.get(key) for o in options for key in _UPLOADS):
        widgets.append(_UPLOAD)
    widgets.extend(TRAILING_WIDGETS.get(class_type, ()))
    return tuple(widgets)


def _companions(spec: InputSpec) -> list[Widget]:
    """Widgets the frontend adds right after an input's own: seed controls and refresh buttons."""
    control = spec.options.get("control_after_generate")
    if spec.type == "INT" and (control if control is not None else spec.name in ("seed", "noise_seed")):
        return [_CONTROL]
    found: list[Widget] = []
    if spec.type == "COMBO" and control:
        found += [_CONTROL, _FILTER]
    remote = spec.options.get("remote")
    if spec.type == "COMBO" and isinstance(remote, Mapping) and remote.get("refresh_button"):
        if remote.get("control_after_refresh"):
            found.append(Widget("Auto-refresh after generation", to_api=False, default=False))
        found.append(Widget("refresh", default="refresh"))
    return found


def _default(spec: InputSpec) -> Any:
    """The value a freshly created widget holds, as the frontend sets it."""
    if spec.default is not None:
        return spec.default
    if spec.type in ("INT", "FLOAT"):
        return spec.min if spec.min is not None else 0
    if spec.type == "BOOLEAN":
        return False
    if spec.type == "COMBO":
        return spec.choices[0] if spec.choices else None
    return ""


def _dynamic(spec: InputSpec) -> bool:
    return spec.type == "STRING" and spec.options.get("dynamicPrompts") is True


def widget_values(layout: Sequence[Widget], saved: Sequence[Any] | Mapping[str, Any] | None) -> dict[str, Any]:
    """Each API-bound widget's value: from `widgets_values` (a list by position, or an object by name)."""
    values: dict[str, Any] = {}
    for index, widget in enumerate(layout):
        if not widget.to_api:
            continue
        value = widget.default  # None: the widget has no value (a combo without choices), so no input
        if isinstance(saved, Mapping):
            value = saved.get(widget.name, value)
        elif saved is not None and widget.saved and index < len(saved) and saved[index] is not None:
            value = saved[index]
        if value is not None:
            values[widget.name] = value
    return values


def migrate_widget_values(info: ObjectInfo, class_type: str, saved: list[Any]) -> list[Any]:
    """Drop the values old saves kept for `forceInput` inputs, as the frontend does when the count fits."""
    specs = [s for s in info.inputs(class_type) if s.is_widget or s.options.get("forceInput")]
    if not any(s.options.get("forceInput") for s in specs):
        return saved
    counts = [2 if s.options.get("control_after_generate") or s.name in ("seed", "noise_seed") else 1 for s in specs]
    if sum(counts) != len(saved):
        return saved
    kept: list[Any] = []
    position = 0
    for spec, count in zip(specs, counts, strict=True):
        if not spec.options.get("forceInput"):
            kept.extend(saved[position : position + count])
        position += count
    return kept


_COMMENTS = re.compile(r"/\*[\s\S]*?\*/|//.*")


def dynamic_prompt(text: str, choose: Callable[[list[str]], str] = random.choice) -> str:
    """What the frontend sends for a `dynamicPrompts` text: comments stripped, `{a|b}` resolved by `choose`."""
    source = _COMMENTS.sub("", text)
    result: list[str] = []
    index = 0
    while index < len(source):
        token, index = _token(source, index)
        if token == "{":
            options, index = _choice_block(source, index)
            token = dynamic_prompt(choose(options), choose)
        result.append(token)
    return re.sub(r"\\([{}|])", r"\1", "".join(result))


def _token(text: str, index: int) -> tuple[str, int]:
    """The character at `index` (a backslash together with the one it escapes), and where the next one starts."""
    if text[index] == "\\":
        return text[index : index + 2], index + 2
    return text[index], index + 1


def _choice_block(text: str, index: int) -> tuple[list[str], int]:
    """The options of one `{...}` block starting at `index`, and where the block ends."""
    options: list[str] = []
    current: list[str] = []
    depth = 0
    while index < len(text):
        token, index = _token(text, index)
        if token == "}" and not depth:
            break
        if token == "|" and not depth:
            options.append("".join(current))
            current = []
            continue
        depth += {"{": 1, "}": -1}.get(token, 0)
        current.append(token)
    options.append("".join(current))
    return options, index
