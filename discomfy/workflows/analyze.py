"""Finding the inputs of any API graph a user would want to tune, named and grouped for a mapping.

Prompts are told apart by following links: a text encoder reached from a sampler through an input
called `negative` is a negative prompt; one reached any other way (also) is a positive prompt.
Titles are only used in descriptions.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from discomfy.workflows.catalog import (
    IMAGE_INPUT_CLASSES,
    OUTPUT_CLASSES,
    infer_kind,
    output_nodes,
)
from discomfy.workflows.graph import (
    Graph,
    InputRef,
    downstream,
    is_int,
    is_link,
    node_title,
    sorted_nodes,
)
from discomfy.workflows.mapping import slug
from discomfy.workflows.model import ParamType
from discomfy.workflows.seeds import find_seed_inputs

if TYPE_CHECKING:
    from discomfy.comfy.object_info import InputSpec, ObjectInfo

log = logging.getLogger(__name__)


class Group(enum.StrEnum):
    SEEDS = "seeds"
    PROMPTS = "prompts"
    SAMPLING = "sampling"
    RESOLUTION = "resolution"
    MODELS = "models and LoRAs"
    IMAGES = "input images"
    VIDEO = "video and other"
    OTHER = "other inputs"


@dataclass(frozen=True, slots=True)
class Tunable:
    """One proposed parameter: the node inputs it sets, its current value and sensible limits."""

    name: str
    group: Group
    type: ParamType
    targets: tuple[InputRef, ...]
    value: Any
    label: str  # class and title of the first target's node, for people
    description: str = ""
    required: bool = False
    advanced: bool = False  # proposed commented-out: rarely something a Discord user picks
    min: float | None = None
    max: float | None = None
    multiple_of: int | None = None
    choices: tuple[str, ...] | None = None
    max_length: int | None = None
    mergeable: bool = False


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything `analyze` found in one graph."""

    node_count: int
    kind: str
    outputs: tuple[str, ...]
    seeds: tuple[Tunable, ...]
    tunables: tuple[Tunable, ...]

    def group(self, group: Group) -> tuple[Tunable, ...]:
        return self.seeds if group is Group.SEEDS else tuple(t for t in self.tunables if t.group is group)


@dataclass(frozen=True, slots=True)
class _Rule:
    group: Group
    base: str
    type: ParamType
    description: str
    min: float | None = None
    max: float | None = None
    advanced: bool = False
    mergeable: bool = True


_F, _I, _C = ParamType.FLOAT, ParamType.INT, ParamType.CHOICE
RULES: Mapping[str, _Rule] = {
    "steps": _Rule(Group.SAMPLING, "steps", _I, "Sampling steps", 1, 100),
    "cfg": _Rule(Group.SAMPLING, "cfg", _F, "How closely to follow the prompt", 0, 30),
    "sampler_name": _Rule(Group.SAMPLING, "sampler", _C, "Sampler"),
    "scheduler": _Rule(Group.SAMPLING, "scheduler", _C, "Noise schedule"),
    "denoise": _Rule(Group.SAMPLING, "denoise", _F, "How much to change (0 to 1)", 0, 1),
    "guidance": _Rule(Group.SAMPLING, "guidance", _F, "Guidance strength", 0, 30),
    "shift": _Rule(Group.SAMPLING, "shift", _F, "Sampling shift", 0, 20, advanced=True),
    "width": _Rule(Group.RESOLUTION, "width", _I, "Width in pixels", 64, 2048),
    "height": _Rule(Group.RESOLUTION, "height", _I, "Height in pixels", 64, 2048),
    "batch_size": _Rule(Group.RESOLUTION, "batch_size", _I, "Images per job", 1, 4),
    "megapixels": _Rule(Group.RESOLUTION, "megapixels", _F, "Size in megapixels", 0.1, 4),
    "scale_by": _Rule(Group.RESOLUTION, "scale_by", _F, "Upscale factor", 0.1, 4),
    "upscale_by": _Rule(Group.RESOLUTION, "upscale_by", _F, "Upscale factor", 0.1, 4),
    "length": _Rule(Group.VIDEO, "frames", _I, "Number of frames", 1, 121),
    "num_frames": _Rule(Group.VIDEO, "frames", _I, "Number of frames", 1, 121),
    "video_frames": _Rule(Group.VIDEO, "frames", _I, "Number of frames", 1, 121),
    "fps": _Rule(Group.VIDEO, "fps", _F, "Frames per second", 1, 60),
    "frame_rate": _Rule(Group.VIDEO, "fps", _F, "Frames per second", 1, 60),
    "ckpt_name": _Rule(Group.MODELS, "checkpoint", _C, "Model checkpoint", mergeable=False),
    "unet_name": _Rule(Group.MODELS, "model", _C, "Diffusion model", mergeable=False),
    "vae_name": _Rule(Group.MODELS, "vae", _C, "VAE", advanced=True, mergeable=False),
    "clip_name": _Rule(Group.MODELS, "text_encoder", _C, "Text encoder", advanced=True),
    "clip_name1": _Rule(Group.MODELS, "text_encoder", _C, "Text encoder", advanced=True),
    "clip_name2": _Rule(Group.MODELS, "text_encoder", _C, "Text encoder", advanced=True),
    "clip_name3": _Rule(Group.MODELS, "text_encoder", _C, "Text encoder", advanced=True),
    "model_name": _Rule(Group.MODELS, "upscale_model", _C, "Upscale model", advanced=True),
    "control_net_name": _Rule(Group.MODELS, "controlnet", _C, "ControlNet", advanced=True),
}
CLASS_RULES: Mapping[tuple[str, str], _Rule] = {
    ("CLIPVisionLoader", "clip_name"): _Rule(Group.MODELS, "clip_vision", _C, "CLIP vision model", advanced=True),
}
PROMPT_INPUTS = frozenset(
    {"text", "prompt", "text_g", "text_l", "clip_l", "clip_g", "t5xxl", "llama", "bert", "mt5xl"}
    | {"positive", "negative", "text_positive", "text_negative", "positive_prompt"}
)
STRING_SOURCE_INPUTS = ("value", "string", "text", "prompt")
PROMPT_MAX_LENGTH = 2000
_POSITIVE, _NEGATIVE = "positive", "negative"


def analyze_graph(graph: Graph, object_info: ObjectInfo | None = None) -> Analysis:
    """Propose seeds and parameters for any API-format graph (pure).

    With the server's `object_info`, every input gets the server's type, limits, step, choices and tooltip,
    multiline text inputs of any node become prompts, and the inputs no rule knows are offered too.
    """
    roles = conditioning_roles(graph)
    seeds = find_seed_inputs(graph)
    found = [*_prompts(graph, roles, object_info), *_images(graph), *_by_rule(graph), *_loras(graph)]
    found = [t for t in found if not set(t.targets) & set(seeds)]  # seeds are not parameters
    if object_info is not None:
        found = [_with_server_limits(t, graph, object_info) for t in found]
        covered = {ref for t in found for ref in t.targets} | set(seeds)
        found += _other_inputs(graph, object_info, covered)
    tunables = _name_uniquely(_merge(found))
    order = list(Group)
    tunables.sort(key=lambda t: order.index(t.group))
    outputs = output_nodes(graph)
    if object_info is not None:
        outputs = tuple(n for n, node in sorted_nodes(graph) if _is_output(node, object_info))
    return Analysis(
        node_count=len(graph),
        kind=infer_kind(graph),
        outputs=outputs,
        seeds=tuple(_seed(graph, ref) for ref in seeds),
        tunables=tuple(tunables),
    )


def conditioning_roles(graph: Graph) -> dict[str, set[str]]:
    """For each node, whether it feeds some result as positive and/or negative conditioning."""
    consumers = downstream(graph)
    roles: dict[str, set[str]] = {node_id: set() for node_id in graph}
    queue = deque((node_id, _POSITIVE) for node_id, used in consumers.items() if not used)
    while queue:
        node_id, role = queue.popleft()
        if role in roles[node_id]:
            continue
        roles[node_id].add(role)
        for name, value in graph[node_id]["inputs"].items():
            if is_link(value) and value[0] in graph:
                queue.append((value[0], _NEGATIVE if name.startswith("negative") else role))
    return roles


def _label(graph: Graph, node_id: str) -> str:
    node = graph[node_id]
    title = node_title(node)
    cls = node["class_type"]
    return f"{cls} (node {node_id})" if title == cls else f'{cls} "{title}" (node {node_id})'


def _seed(graph: Graph, ref: InputRef) -> Tunable:
    value = graph[ref.node]["inputs"][ref.input]
    return Tunable(ref.input, Group.SEEDS, _I, (ref,), value, _label(graph, ref.node))


def _is_text_encoder(node: Mapping[str, Any]) -> bool:
    cls = str(node["class_type"]).lower()
    return is_link(node["inputs"].get("clip")) or "textencode" in cls or "prompt" in cls


def _prompts(graph: Graph, roles: Mapping[str, set[str]], info: ObjectInfo | None) -> list[Tunable]:
    seen: dict[InputRef, Tunable] = {}
    for node_id, node in sorted_nodes(graph):
        multiline = _multiline_inputs(node, info)
        if not multiline and not _is_text_encoder(node):
            continue
        negative = roles[node_id] == {_NEGATIVE}
        for name, value in node["inputs"].items():
            if name not in multiline and (name not in PROMPT_INPUTS or not _is_text_encoder(node)):
                continue
            ref = _string_at(graph, InputRef(node_id, name), value)
            if ref is None or ref in seen:
                continue
            text = graph[ref.node]["inputs"][ref.input]
            seen[ref] = Tunable(
                name="negative" if negative else "prompt",
                group=Group.PROMPTS,
                type=ParamType.STR,
                targets=(ref,),
                value=text,
                label=_label(graph, ref.node),
                description="What to leave out of the result" if negative else "What to create",
                max_length=max(PROMPT_MAX_LENGTH, len(text)),
                mergeable=True,
            )
    prompts = list(seen.values())
    return sorted(prompts, key=lambda t: t.name != "prompt")


def _multiline_inputs(node: Mapping[str, Any], info: ObjectInfo | None) -> frozenset[str]:
    """The node's inputs the server declares as multiline text: prompts, whatever the node is called."""
    if info is None:
        return frozenset()
    found = set()
    for name in node["inputs"]:
        spec = info.input_spec(node["class_type"], name)
        if spec is not None and spec.multiline:
            found.add(name)
    return frozenset(found)


def _string_at(graph: Graph, ref: InputRef, value: Any) -> InputRef | None:
    """The input holding the text: this one, or the string constant on the node it is wired to."""
    if isinstance(value, str):
        return ref
    if not is_link(value) or value[0] not in graph:
        return None
    source = graph[value[0]]["inputs"]
    for name in STRING_SOURCE_INPUTS:
        if isinstance(source.get(name), str):
            return InputRef(value[0], name)
    return None


def _images(graph: Graph) -> list[Tunable]:
    return [
        Tunable(
            name="image",
            group=Group.IMAGES,
            type=ParamType.IMAGE,
            targets=(InputRef(node_id, "image"),),
            value=node["inputs"]["image"],
            label=_label(graph, node_id),
            description=f"Input image ({node_title(node)})",
            required=True,
        )
        for node_id, node in sorted_nodes(graph)
        if node["class_type"] in IMAGE_INPUT_CLASSES and isinstance(node["inputs"].get("image"), str)
    ]


def _loras(graph: Graph) -> list[Tunable]:
    """Each LoRA loader's file and strengths, named lora, lora_strength, lora_2, lora_2_strength..."""
    found: list[Tunable] = []
    loaders = [(n, node) for n, node in sorted_nodes(graph) if _const(node, "lora_name", str)]
    for index, (node_id, node) in enumerate(loaders, start=1):
        prefix = "lora" if index == 1 else f"lora_{index}"
        inputs, label = node["inputs"], _label(graph, node_id)
        found.append(
            Tunable(prefix, Group.MODELS, _C, (InputRef(node_id, "lora_name"),),
                    inputs["lora_name"], label, f"LoRA {index}", choices=(inputs["lora_name"],))
        )  # fmt: skip
        for key, suffix, words in (
            ("strength_model", "strength", "strength"),
            ("strength_clip", "clip_strength", "text strength"),
        ):
            if _const(node, key, int | float):
                value = inputs[key]
                found.append(
                    Tunable(f"{prefix}_{suffix}", Group.MODELS, _F, (InputRef(node_id, key),),
                            value, label, f"LoRA {index} {words}", min=min(-2, value),
                            max=max(2, value))
                )  # fmt: skip
    return found


def _const(node: Mapping[str, Any], name: str, kind: Any) -> bool:
    value = node["inputs"].get(name)
    return isinstance(value, kind) and not isinstance(value, bool)


def _by_rule(graph: Graph) -> list[Tunable]:
    found = []
    for node_id, node in sorted_nodes(graph):
        for name, value in node["inputs"].items():
            rule = CLASS_RULES.get((node["class_type"], name)) or RULES.get(name)
            if rule is None or name == "lora_name" or not _rule_fits(rule, value):
                continue
            found.append(_from_rule(graph, InputRef(node_id, name), rule, value))
    return found


def _rule_fits(rule: _Rule, value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if rule.type is ParamType.CHOICE:
        return isinstance(value, str)
    if rule.base == "fps":
        return isinstance(value, int | float)
    return is_int(value) if rule.type is ParamType.INT else isinstance(value, float | int)


def _from_rule(graph: Graph, ref: InputRef, rule: _Rule, value: Any) -> Tunable:
    ptype = rule.type
    if rule.base == "fps" and is_int(value):
        ptype = ParamType.INT
    numeric = ptype in (ParamType.INT, ParamType.FLOAT)
    return Tunable(
        name=rule.base,
        group=rule.group,
        type=ptype,
        targets=(ref,),
        value=value,
        label=_label(graph, ref.node),
        description=rule.description,
        advanced=rule.advanced,
        min=min(rule.min, value) if numeric and rule.min is not None else None,
        max=max(rule.max, value) if numeric and rule.max is not None else None,
        multiple_of=_size_step(graph[ref.node]["class_type"], ref.input, value),
        choices=(value,) if ptype is ParamType.CHOICE else None,
        mergeable=rule.mergeable,
    )


def _size_step(class_type: str, name: str, value: Any) -> int | None:
    """Latent sizes come in steps of 8 (16 for SD3, Flux-style and video latents)."""
    if name not in ("width", "height") or not is_int(value):
        return None
    if not any(word in class_type for word in ("Latent", "ModelSampling", "ToVideo")):
        return None
    wide = any(word in class_type for word in ("SD3", "Hunyuan", "Wan", "Video", "Mochi", "LTXV"))
    step = 16 if wide else 8
    return step if value % step == 0 else None


def _merge(found: list[Tunable]) -> list[Tunable]:
    """One parameter for equal values of the same kind (latent + ModelSamplingFlux width...)."""
    position: dict[tuple[Any, ...], int] = {}
    result: list[Tunable] = []
    for tunable in found:
        key = (tunable.group, tunable.name, tunable.type, repr(tunable.value))
        if tunable.mergeable and key in position:
            first = result[position[key]]
            result[position[key]] = replace(
                first,
                targets=first.targets + tunable.targets,
                multiple_of=max(first.multiple_of or 0, tunable.multiple_of or 0) or None,
            )
        else:
            position.setdefault(key, len(result))
            result.append(tunable)
    return result


def _name_uniquely(tunables: list[Tunable]) -> list[Tunable]:
    """base, base_2, base_3... in graph order; the first positive prompt becomes required."""
    taken: set[str] = set()
    named = []
    for tunable in tunables:
        name, count = tunable.name, 1
        while name in taken:
            count += 1
            name = f"{tunable.name}_{count}"
        taken.add(name)
        named.append(replace(tunable, name=name, required=tunable.required or name == "prompt"))
    return named


def _with_server_limits(tunable: Tunable, graph: Graph, info: ObjectInfo) -> Tunable:
    """The server's limits, step, choices and tooltip, widened only to keep the graph's own value valid."""
    specs = [spec for ref in tunable.targets if (spec := info.input_spec(graph[ref.node]["class_type"], ref.input))]
    if not specs:
        return tunable
    changes: dict[str, Any] = {}
    if tooltip := specs[0].tooltip:
        changes["description"] = tooltip
    if tunable.type is ParamType.CHOICE:
        offered = specs[0].choices
        if offered:
            changes["choices"] = tuple(dict.fromkeys([tunable.value, *(str(c) for c in offered)]))
    elif tunable.type in (ParamType.INT, ParamType.FLOAT) and isinstance(tunable.value, int | float):
        changes.update(_numeric_limits(specs, tunable.value, integer=tunable.type is ParamType.INT))
    return replace(tunable, **changes)


def _numeric_limits(specs: list[InputSpec], value: float, *, integer: bool) -> dict[str, Any]:
    """The tightest of the targets' declared limits, and an INT step when the value is on it."""
    limits: dict[str, Any] = {}
    lows = [spec.min for spec in specs if spec.min is not None]
    highs = [spec.max for spec in specs if spec.max is not None]
    if lows:
        limits["min"] = min(max(lows), value)
    if highs:
        limits["max"] = max(min(highs), value)
    steps = [int(spec.step) for spec in specs if spec.step is not None and float(spec.step).is_integer()]
    step = max(steps, default=1)
    if integer and step > 1 and int(value) % step == 0:
        limits["multiple_of"] = step
    return limits


_SERVER_TYPES: Mapping[str, ParamType] = {
    "INT": ParamType.INT,
    "FLOAT": ParamType.FLOAT,
    "BOOLEAN": ParamType.BOOL,
    "COMBO": ParamType.CHOICE,
    "STRING": ParamType.STR,
}


def _other_inputs(graph: Graph, info: ObjectInfo, covered: set[InputRef]) -> list[Tunable]:
    """Every other constant input the server declares, typed by it: numbers and switches of custom nodes
    proposed live, the rest commented out."""
    found: list[Tunable] = []
    for node_id, node in sorted_nodes(graph):
        custom = info.python_module(node["class_type"]).startswith("custom_nodes")
        for name, value in node["inputs"].items():
            ref = InputRef(node_id, name)
            spec = info.input_spec(node["class_type"], name)
            ptype = _SERVER_TYPES.get(spec.type) if spec else None
            if ref in covered or spec is None or ptype is None or is_link(value) or not _fits(ptype, value):
                continue
            tunable = Tunable(
                name=_param_name(name),
                group=Group.OTHER,
                type=ptype,
                targets=(ref,),
                value=value,
                label=_label(graph, node_id),
                advanced=not (custom and ptype in (ParamType.INT, ParamType.FLOAT, ParamType.BOOL)),
                choices=(value,) if ptype is ParamType.CHOICE else None,
            )
            found.append(_with_server_limits(tunable, graph, info))
    return found


def _param_name(input_name: str) -> str:
    """A valid parameter name from an input name: lowercase, starts with a letter, at most 32, not `seed`."""
    name = slug(input_name, limit=30)
    if not name[:1].isalpha() or name == "seed":
        name = f"p_{name}"[:32]
    return name


def _fits(ptype: ParamType, value: Any) -> bool:
    if ptype is ParamType.BOOL:
        return isinstance(value, bool)
    if ptype is ParamType.INT:
        return is_int(value)
    if ptype is ParamType.FLOAT:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def _is_output(node: Mapping[str, Any], info: ObjectInfo) -> bool:
    cls = node["class_type"]
    return info.is_output_node(cls) if info.has_class(cls) else cls in OUTPUT_CLASSES
