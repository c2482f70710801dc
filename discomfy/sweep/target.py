"""What a sweep's names set in its workflow: a mapped parameter, an input `analyze` proposes, or any NODE_ID.INPUT;
and each value checked against the mapping's limits and choices and the server's `/object_info`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from discomfy.sweep.errors import SweepError
from discomfy.workflows import analyze_graph, find_seed_inputs, load_graph, load_workflow, load_workflows
from discomfy.workflows.errors import ParameterError, WorkflowError
from discomfy.workflows.graph import Graph, InputRef, copy_graph, is_int, is_link, node_title
from discomfy.workflows.model import ParamSpec, ParamType, WorkflowSpec
from discomfy.workflows.values import coerce_value

if TYPE_CHECKING:
    from discomfy.comfy.object_info import InputSpec, ObjectInfo

MAPPING_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Binding:
    """A name of the sweep file and the graph inputs it sets; `param` when a mapping defines it."""

    name: str
    targets: tuple[InputRef, ...]
    param: ParamSpec | None = None
    type: ParamType | None = None  # known from the mapping, `analyze` or the server; None: from the graph

    def is_integer(self, graph: Graph, info: ObjectInfo | None, sample: tuple[Any, ...]) -> bool:
        """Whole numbers only? The mapping or server says so; else the graph holds an int and the range is ints."""
        kind = self.type or _server_type(self.targets[0], graph, info)
        if kind is not None:
            return kind is ParamType.INT
        current = graph[self.targets[0].node]["inputs"][self.targets[0].input]
        return is_int(current) and all(is_int(v) for v in sample if v is not None)


@dataclass(frozen=True, slots=True)
class Workflow:
    """The graph a sweep runs (mapped or not), where it came from, and how names resolve in it."""

    source: str  # the path or mapped name the sweep file gave
    graph: Graph = field(repr=False)
    spec: WorkflowSpec | None = None
    proposed: Mapping[str, Binding] = field(default_factory=dict, repr=False)  # from `analyze` when unmapped

    @property
    def seed_inputs(self) -> tuple[InputRef, ...]:
        return self.spec.seed_inputs if self.spec is not None else find_seed_inputs(self.graph)

    @property
    def output_nodes(self) -> tuple[str, ...]:
        return self.spec.outputs if self.spec is not None else ()

    def bind(self, name: str, *, key: str) -> Binding:
        """The binding of a sweep file name; raises SweepError naming `key` and the names on offer."""
        if self.spec is not None and (param := self.spec.parameter(name)) is not None:
            return Binding(name, param.targets, param, param.type)
        if name in self.proposed:
            return self.proposed[name]
        if "." in name:
            return Binding(name, (self._input(name, key),))
        offered = ", ".join(dict.fromkeys([*(self.spec.parameter_names if self.spec else ()), *self.proposed]))
        raise SweepError(f"no parameter called {name!r}; use one of: {offered or 'none'}, or NODE_ID.INPUT", key=key)

    def _input(self, name: str, key: str) -> InputRef:
        ref = InputRef.parse(name)
        node = self.graph.get(ref.node)
        if node is None:
            raise SweepError(f"there is no node {ref.node!r} in {self.source}", key=key)
        if ref.input not in node["inputs"]:
            known = ", ".join(node["inputs"]) or "none"
            raise SweepError(
                f"{node_title(node)} ({node['class_type']}) has no input {ref.input!r}; it has {known}", key=key
            )
        if is_link(node["inputs"][ref.input]):
            raise SweepError(f"is wired to node {node['inputs'][ref.input][0]!r}; only constants can vary", key=key)
        return ref


def resolve_workflow(
    name: str, *, base: Path, workflows_dir: Path | None, object_info: ObjectInfo | None = None
) -> Workflow:
    """Load the sweep's workflow: a JSON (with its mapping beside it, if any), a mapping YAML, or a mapped name.

    A graph saved in ComfyUI's UI format is converted with the server's node list (`object_info`).

    Raises:
        SweepError: the file or name is unknown, or it does not load (with the workflow's own reasons).
    """
    try:
        path = _find_file(name, base)
        if path is not None and path.suffix in MAPPING_SUFFIXES:
            return _mapped(name, load_workflow(path, object_info))
        if path is not None:
            mapping = mapping_beside(path, object_info)
            return _mapped(name, mapping) if mapping else _unmapped(name, load_graph(path, object_info))
        if workflows_dir is None:
            raise SweepError(f"{name!r} is neither a file nor a workflow name", key="workflow")
        return _mapped(name, load_workflows(workflows_dir, object_info).get(name))
    except WorkflowError as exc:
        raise SweepError(str(exc), key="workflow") from None


def _find_file(name: str, base: Path) -> Path | None:
    for candidate in (base / name, Path(name)):
        if candidate.suffix in (".json", *MAPPING_SUFFIXES) and candidate.is_file():
            return candidate
    if name.endswith((".json", *MAPPING_SUFFIXES)):
        raise SweepError(f"file not found: {name} (looked beside the sweep file and in {Path.cwd()})", key="workflow")
    return None


def mapping_beside(graph_path: Path, object_info: ObjectInfo | None = None) -> WorkflowSpec | None:
    """The mapping (same name, .yaml) whose graph is this file, if there is one; raises WorkflowLoadError."""
    for suffix in MAPPING_SUFFIXES:
        mapping = graph_path.with_suffix(suffix)
        if mapping.is_file():
            spec = load_workflow(mapping, object_info)
            if spec.graph_path.resolve() == graph_path.resolve():
                return spec
    return None


def _mapped(source: str, spec: WorkflowSpec) -> Workflow:
    """The mapping's names first; what `analyze` proposes covers the inputs it leaves out (e.g. denoise)."""
    graph = copy_graph(spec.graph)
    return Workflow(source, graph, spec, _proposed(graph))


def _unmapped(source: str, graph: Graph) -> Workflow:
    return Workflow(source, graph, None, _proposed(graph))


def _proposed(graph: Graph) -> dict[str, Binding]:
    return {t.name: Binding(t.name, t.targets, None, t.type) for t in analyze_graph(graph).tunables}


def check_value(binding: Binding, value: Any, graph: Graph, info: ObjectInfo | None, *, key: str) -> Any:
    """`value` as the graph needs it, checked against the mapping and the server; raises SweepError naming `key`."""
    if binding.param is not None:
        try:
            value = coerce_value(binding.param, value)
        except ParameterError as exc:
            raise SweepError(exc.message, key=key) from None
    for ref in binding.targets:
        declared = _declared(ref, graph, info)
        if declared is not None:
            value = _check_declared(declared, value, ref, key)
    return value


def _declared(ref: InputRef, graph: Graph, info: ObjectInfo | None) -> InputSpec | None:
    if info is None or ref.node not in graph:
        return None
    return info.input_spec(graph[ref.node]["class_type"], ref.input)


def _server_type(ref: InputRef, graph: Graph, info: ObjectInfo | None) -> ParamType | None:
    declared = _declared(ref, graph, info)
    kinds = {"INT": ParamType.INT, "FLOAT": ParamType.FLOAT, "BOOLEAN": ParamType.BOOL, "STRING": ParamType.STR}
    if declared is None:
        return None
    return ParamType.CHOICE if declared.choices is not None else kinds.get(declared.type)


def _check_declared(declared: InputSpec, value: Any, ref: InputRef, key: str) -> Any:
    """What ComfyUI itself would refuse (its validation: type, min, max, list), said before anything runs."""
    where = f"({ref} on the server)"
    if declared.choices is not None:
        if value not in declared.choices:
            shown = ", ".join(str(c) for c in declared.choices[:12])
            more = f" and {len(declared.choices) - 12} more" if len(declared.choices) > 12 else ""
            raise SweepError(f"{value!r} is not offered {where}; choose from {shown}{more}", key=key)
        return value
    if declared.type in ("INT", "FLOAT"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SweepError(f"{value!r} is not a number {where}", key=key)
        if declared.type == "INT" and not float(value).is_integer():
            raise SweepError(f"{value!r} is not a whole number {where}", key=key)
        if declared.min is not None and value < declared.min:
            raise SweepError(f"{value!r} is below the minimum {declared.min:g} {where}", key=key)
        if declared.max is not None and value > declared.max:
            raise SweepError(f"{value!r} is above the maximum {declared.max:g} {where}", key=key)
        return int(value) if declared.type == "INT" else value
    return value
