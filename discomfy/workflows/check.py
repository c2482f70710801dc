"""Checking loaded workflows against what a live ComfyUI server offers (its /object_info)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from discomfy.workflows.errors import ServerMismatchError, WorkflowError
from discomfy.workflows.graph import InputRef, is_link, node_title, sorted_nodes
from discomfy.workflows.model import ParamSpec, ParamType, WorkflowSpec
from discomfy.workflows.seeds import SEED_MAX

if TYPE_CHECKING:
    from discomfy.comfy.object_info import InputSpec, ObjectInfo
    from discomfy.workflows.library import WorkflowLibrary

log = logging.getLogger(__name__)

_LIST_AT_MOST = 15


def check_against_object_info(
    workflows: WorkflowSpec | WorkflowLibrary | Iterable[WorkflowSpec], info: ObjectInfo
) -> list[WorkflowError]:
    """Every way the workflows need what the server lacks: node classes, files, ranges, outputs."""
    specs = (workflows,) if isinstance(workflows, WorkflowSpec) else tuple(workflows)
    problems: list[WorkflowError] = []
    for spec in specs:
        found = [*_graph_problems(spec, info), *_parameter_problems(spec, info)]
        if found:
            log.warning("Workflow %s does not fit the server: %d problem(s)", spec.name, len(found))
        problems.extend(found)
    return problems


def _graph_problems(spec: WorkflowSpec, info: ObjectInfo) -> list[WorkflowError]:
    file = str(spec.graph_path)
    problems: list[WorkflowError] = []
    mapped = {ref for param in spec.parameters for ref in param.targets}
    seeds = set(spec.seed_inputs)
    has_output = unknown_class = False
    for node_id, node in sorted_nodes(spec.graph):
        cls = node["class_type"]
        if not info.has_class(cls):
            problems.append(_missing_class(file, node_id, node))
            unknown_class = True
            continue
        has_output = has_output or info.is_output_node(cls)
        problems.extend(
            ServerMismatchError(
                f"{cls} requires this input but the graph does not set it",
                file=file,
                node=node_id,
                input=name,
            )
            for name in info.required_inputs(cls)
            if name not in node["inputs"]
        )
        for name, value in node["inputs"].items():
            ref = InputRef(node_id, name)
            if ref in mapped or is_link(value):
                continue
            problem = _value_problem(file, ref, cls, value, info, is_seed=ref in seeds)
            if problem is not None:
                problems.append(problem)
    if not has_output and not unknown_class:
        problems.append(ServerMismatchError("the graph has no output node (nothing would be saved)", file=file))
    return problems


def _missing_class(file: str, node_id: str, node: Mapping[str, Any]) -> WorkflowError:
    cls = node["class_type"]
    return ServerMismatchError(
        f"node class {cls!r} ({node_title(node)}) is not installed on the ComfyUI server; "
        "install the custom node pack that provides it, or update ComfyUI",
        file=file,
        node=node_id,
    )


def _value_problem(
    file: str, ref: InputRef, cls: str, value: Any, info: ObjectInfo, *, is_seed: bool
) -> WorkflowError | None:
    spec = info.input_spec(cls, ref.input)
    if spec is None:
        return None
    if spec.choices is not None and value not in spec.choices:
        return _unavailable(file, ref, value, spec.choices)
    if is_seed and spec.max is not None and spec.max < SEED_MAX:
        return ServerMismatchError(
            f"takes seeds up to {spec.max:g} but DisComfy picks them up to {SEED_MAX}; list it "
            "under exclude_seeds in the mapping",
            file=file,
            node=ref.node,
            input=ref.input,
        )
    return _range_problem(file, ref, spec, value)


def _unavailable(file: str, ref: InputRef, value: Any, choices: tuple[Any, ...]) -> WorkflowError:
    return ServerMismatchError(
        f"{value!r} is not available on the server; it offers: {_listing(choices)}",
        file=file,
        node=ref.node,
        input=ref.input,
    )


def _range_problem(file: str, ref: InputRef, spec: InputSpec, value: Any) -> WorkflowError | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
        return ServerMismatchError(
            f"{value!r} is outside what the server accepts ({_bounds(spec)})",
            file=file,
            node=ref.node,
            input=ref.input,
        )
    return None


def _parameter_problems(spec: WorkflowSpec, info: ObjectInfo) -> list[WorkflowError]:
    problems: list[WorkflowError] = []
    for param in spec.parameters:
        for ref in param.targets:
            cls = spec.graph[ref.node]["class_type"]
            input_spec = info.input_spec(cls, ref.input) if info.has_class(cls) else None
            if input_spec is not None:
                problems.extend(_param_fit(spec, param, ref, input_spec))
    return problems


def _param_fit(spec: WorkflowSpec, param: ParamSpec, ref: InputRef, server: InputSpec) -> list[WorkflowError]:
    where = {"file": str(spec.mapping_path), "node": ref.node, "input": ref.input}
    problems: list[WorkflowError] = []
    offered = server.choices
    if param.type is ParamType.CHOICE and offered is not None:
        missing = [c for c in param.choices or () if c not in offered]
        if missing:
            problems.append(
                ServerMismatchError(
                    f"parameters.{param.name}: the server does not have "
                    f"{', '.join(map(repr, missing))}; it offers: {_listing(offered)}",
                    **where,
                )
            )
    image_default = param.type is ParamType.IMAGE and not param.required
    if image_default and offered is not None and param.default not in offered:
        problems.append(
            ServerMismatchError(
                f"parameters.{param.name}: the default image {param.default!r} is not in the "
                f"server's input folder; make the parameter required or upload the image",
                **where,
            )
        )
    if param.type in (ParamType.INT, ParamType.FLOAT):
        low = server.min is not None and (param.min is None or param.min < server.min)
        high = server.max is not None and (param.max is None or param.max > server.max)
        if low or high:
            problems.append(
                ServerMismatchError(
                    f"parameters.{param.name}: allows values the server refuses; keep min and "
                    f"max within {_bounds(server)}",
                    **where,
                )
            )
    return problems


def _bounds(spec: InputSpec) -> str:
    low = "any" if spec.min is None else f"{spec.min:g}"
    high = "any" if spec.max is None else f"{spec.max:g}"
    return f"{low} to {high}"


def _listing(choices: tuple[Any, ...]) -> str:
    if not choices:
        return "nothing"
    shown = ", ".join(str(c) for c in choices[:_LIST_AT_MOST])
    more = len(choices) - _LIST_AT_MOST
    return shown + (f" and {more} more" if more > 0 else "")


#: What a model file's name ends with (checkpoints, LoRAs, VAEs, upscalers, text encoders, GGUF...).
MODEL_SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".onnx")


def missing_pieces(graph: Mapping[str, Any], info: ObjectInfo) -> tuple[str, ...]:
    """What a server lacks to run this exact graph: node classes, and the model files its loaders name.

    Only those two, which differ between servers: other choices are the same everywhere (or checked by ComfyUI
    itself), and input images are uploaded to whichever server the job goes to.
    """
    missing: dict[str, None] = {}  # ordered, without repeats
    for node in graph.values():
        if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str):
            continue
        cls = node["class_type"]
        if not info.has_class(cls):
            missing[f"the node {cls!r} (a custom node pack)"] = None
            continue
        for name, value in (node.get("inputs") or {}).items():
            if not isinstance(value, str) or not value.lower().endswith(MODEL_SUFFIXES):
                continue
            spec = info.input_spec(cls, name)
            if spec is not None and spec.choices is not None and value not in spec.choices:
                missing[f"the file {value!r} ({cls} {name})"] = None
    return tuple(missing)
