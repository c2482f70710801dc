"""Reading one mapping YAML against its graph into a WorkflowSpec, collecting every problem found."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from discomfy.workflows.catalog import IMAGE_INPUT_CLASSES, infer_kind
from discomfy.workflows.errors import InvalidParameterError, MappingError, OverrideError, WorkflowError
from discomfy.workflows.graph import Graph, InputRef, is_int, is_link, node_title
from discomfy.workflows.model import ParamSpec, ParamType, WorkflowKind, WorkflowSpec
from discomfy.workflows.seeds import find_seed_inputs
from discomfy.workflows.values import coerce_value

log = logging.getLogger(__name__)

TOP_KEYS = (
    "name", "title", "description", "kind", "graph",
    "parameters", "seeds", "exclude_seeds", "outputs", "nsfw",
)  # fmt: skip
PARAM_KEYS = (
    "node", "input", "targets", "type", "default", "required", "description",
    "min", "max", "multiple_of", "choices", "max_length",
)  # fmt: skip
RESERVED_PARAMS = frozenset({"seed"})
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
PARAM_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
MISSING: Any = object()  # what value_at gives after reporting why (null is a valid constant)


def slug(text: str, *, limit: int = 64) -> str:
    """A lowercase name made of letters, digits and underscores."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit] or "workflow"


class MappingReader:
    """Checks one mapping against one graph; `problems` lists everything wrong, not just the first."""

    def __init__(self, mapping_path: Path, graph_path: Path, graph: Graph) -> None:
        self.file = str(mapping_path)
        self.mapping_path = mapping_path
        self.graph_path = graph_path
        self.graph = graph
        self.problems: list[WorkflowError] = []

    def problem(self, message: str, key: str | None = None, ref: InputRef | None = None) -> None:
        self.problems.append(
            MappingError(
                message,
                file=self.file,
                key=key,
                node=ref.node if ref else None,
                input=ref.input if ref else None,
            )
        )

    def read(self, data: Mapping[str, Any]) -> WorkflowSpec | None:
        """The spec, or None when any problem was found."""
        for key in data:
            if key not in TOP_KEYS:
                self.problem(f"unknown key (known keys: {', '.join(TOP_KEYS)})", key=str(key))
        name = self._name(data.get("name"))
        params = self._parameters(data.get("parameters"))
        seeds = self._seeds(data.get("seeds"), data.get("exclude_seeds"), params)
        spec = WorkflowSpec(
            name=name,
            title=self._text(data, "title", name),
            description=self._text(data, "description", ""),
            kind=self._kind(data.get("kind")),
            graph=self.graph,
            parameters=params,
            seed_inputs=seeds,
            outputs=self._outputs(data.get("outputs")),
            mapping_path=self.mapping_path,
            graph_path=self.graph_path,
            nsfw=self._flag(data, "nsfw"),
        )
        return None if self.problems else spec

    def _name(self, raw: Any) -> str:
        if raw is None:
            return slug(self.mapping_path.stem)
        if not isinstance(raw, str) or not NAME_RE.fullmatch(raw):
            self.problem("must be lowercase letters, digits, '-' or '_' (at most 64)", key="name")
            return str(raw)
        return raw

    def _text(self, data: Mapping[str, Any], key: str, default: str) -> str:
        raw = data.get(key, default)
        if raw is None:
            return default
        if not isinstance(raw, str):
            self.problem("must be text", key=key)
            return default
        return raw.strip()

    def _flag(self, data: Mapping[str, Any], key: str) -> bool:
        raw = data.get(key, False)
        if not isinstance(raw, bool):
            self.problem("must be true or false", key=key)
            return False
        return raw

    def _kind(self, raw: Any) -> WorkflowKind:
        if raw is None:
            return WorkflowKind(infer_kind(self.graph))
        try:
            return WorkflowKind(raw)
        except ValueError:
            self.problem("must be 'image' or 'video'", key="kind")
            return WorkflowKind.IMAGE

    def _outputs(self, raw: Any) -> tuple[str, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.problem("must be a list of node ids", key="outputs")
            return ()
        outputs = tuple(str(item) for item in raw)
        for node_id in outputs:
            if node_id not in self.graph:
                self.problem(f"there is no node {node_id!r} in {self.graph_path.name}", "outputs")
        return outputs

    def _parameters(self, raw: Any) -> tuple[ParamSpec, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, Mapping):
            self.problem("must map parameter names to their settings", key="parameters")
            return ()
        params = []
        for name, settings in raw.items():
            param = ParamReader(self, str(name)).read(settings)
            if param is not None:
                params.append(param)
        self._check_shared_targets(params)
        return tuple(params)

    def _check_shared_targets(self, params: list[ParamSpec]) -> None:
        owner: dict[InputRef, str] = {}
        for param in params:
            for ref in param.targets:
                if ref in owner:
                    self.problem(f"is also set by parameter {owner[ref]!r}", f"parameters.{param.name}", ref)
                owner.setdefault(ref, param.name)

    def _seeds(self, raw: Any, exclude: Any, params: tuple[ParamSpec, ...]) -> tuple[InputRef, ...]:
        found = find_seed_inputs(self.graph)
        if raw is not None and exclude is not None:
            self.problem("give either 'seeds' or 'exclude_seeds', not both", key="seeds")
        if raw is not None:
            seeds = tuple(r for r in self._refs(raw, "seeds") if self._is_int_input(r, "seeds"))
        else:
            excluded = self._refs(exclude, "exclude_seeds") if exclude is not None else ()
            for ref in excluded:
                if ref not in found:
                    listed = ", ".join(map(str, found)) or "none"
                    self.problem(f"{ref} is not a seed input (found: {listed})", "exclude_seeds")
            seeds = tuple(ref for ref in found if ref not in excluded)
        for param in params:
            for ref in set(param.targets) & set(seeds):
                self.problem(
                    "sets a seed input, which gets the job's seed; drop it or list it under exclude_seeds",
                    f"parameters.{param.name}",
                    ref,
                )
        return seeds

    def _refs(self, raw: Any, key: str) -> tuple[InputRef, ...]:
        if not isinstance(raw, list):
            self.problem("must be a list of NODE_ID.INPUT entries (for example 3.seed)", key=key)
            return ()
        refs = []
        for item in raw:
            ref = self.ref(item, key)
            if ref is not None:
                refs.append(ref)
        return tuple(refs)

    def _is_int_input(self, ref: InputRef, key: str) -> bool:
        value = self.value_at(ref, key)
        if value is MISSING:
            return False
        if not is_int(value):
            self.problem(f"holds {value!r}, not a whole number", key, ref)
            return False
        return True

    def ref(self, item: Any, key: str) -> InputRef | None:
        """Read `"3.steps"` or `{node: 3, input: steps}`; report a malformed entry."""
        if isinstance(item, Mapping) and "node" in item and "input" in item:
            return InputRef(str(item["node"]), str(item["input"]))
        try:
            return InputRef.parse(str(item))
        except OverrideError:
            self.problem(f"{item!r} is not NODE_ID.INPUT (for example 3.steps)", key=key)
            return None

    def value_at(self, ref: InputRef, key: str) -> Any:
        """The constant at `ref`, or MISSING after reporting a missing node, input or a link."""
        node = self.graph.get(ref.node)
        if node is None:
            self.problem(f"there is no such node in {self.graph_path.name}", key, ref)
            return MISSING
        inputs = node["inputs"]
        if ref.input not in inputs:
            known = ", ".join(inputs) or "none"
            self.problem(f"{node_title(node)} has no such input (inputs: {known})", key, ref)
            return MISSING
        value = inputs[ref.input]
        if is_link(value):
            self.problem(
                f"is wired to node {value[0]!r}, not a constant: point the mapping at the input "
                f"that holds the value on node {value[0]!r}",
                key,
                ref,
            )
            return MISSING
        return value


class ParamReader:
    """Reads one entry of `parameters:` into a ParamSpec."""

    def __init__(self, mapping: MappingReader, name: str) -> None:
        self.m = mapping
        self.name = name
        self.key = f"parameters.{name}"

    def problem(self, message: str, ref: InputRef | None = None, sub: str | None = None) -> None:
        self.m.problem(message, f"{self.key}.{sub}" if sub else self.key, ref)

    def read(self, raw: Any) -> ParamSpec | None:
        start = len(self.m.problems)
        if not PARAM_NAME_RE.fullmatch(self.name) or self.name in RESERVED_PARAMS:
            self.problem(
                "a parameter name is 1-32 lowercase letters, digits or '_', starting with a "
                "letter, and not 'seed' (seeds are handled on their own)"
            )
        if not isinstance(raw, Mapping):
            self.problem("must be a mapping with at least node and input (or targets)")
            return None
        for key in raw:
            if key not in PARAM_KEYS:
                self.problem(f"unknown key (known keys: {', '.join(PARAM_KEYS)})", sub=str(key))
        targets, values = self._targets(raw)
        if not targets:
            return None
        ptype = self._type(raw.get("type"), targets[0], values[0])
        for ref, value in zip(targets, values, strict=True):
            if not _fits(ptype, value):
                self.problem(f"holds {value!r}, which is not a {ptype.value} value", ref)
        param = self._limits(raw, ptype, targets)
        if len(self.m.problems) > start:
            return None
        return self._with_default(raw, param, values[0])

    def _targets(self, raw: Mapping[str, Any]) -> tuple[list[InputRef], list[Any]]:
        if "targets" in raw:
            if "node" in raw or "input" in raw:
                self.problem("give either node/input or targets, not both")
            items = raw["targets"]
            if not isinstance(items, list) or not items:
                self.problem("must be a non-empty list of NODE_ID.INPUT entries", sub="targets")
                return [], []
        elif "node" in raw and "input" in raw:
            items = [{"node": raw["node"], "input": raw["input"]}]
        else:
            self.problem("needs node and input, or targets: [NODE_ID.INPUT, ...]")
            return [], []
        refs, values = [], []
        for item in items:
            ref = self.m.ref(item, self.key)
            value = self.m.value_at(ref, self.key) if ref else MISSING
            if ref is not None and value is not MISSING:
                refs.append(ref)
                values.append(value)
        return (refs, values) if len(refs) == len(items) else ([], [])

    def _type(self, raw: Any, first: InputRef, value: Any) -> ParamType:
        if raw is not None:
            try:
                return ParamType(raw)
            except ValueError:
                allowed = ", ".join(t.value for t in ParamType)
                self.problem(f"unknown type {raw!r} (types: {allowed})", sub="type")
        if self.m.graph[first.node]["class_type"] in IMAGE_INPUT_CLASSES and first.input == "image":
            return ParamType.IMAGE
        return _type_of(value)

    def _limits(self, raw: Mapping[str, Any], ptype: ParamType, targets: list[InputRef]) -> ParamSpec:
        numeric = ptype in (ParamType.INT, ParamType.FLOAT)
        lo = self._number(raw, "min", numeric)
        hi = self._number(raw, "max", numeric)
        if lo is not None and hi is not None and lo > hi:
            self.problem(f"min {lo} is above max {hi}", sub="min")
        step = self._positive_int(raw, "multiple_of", ptype is ParamType.INT)
        length = self._positive_int(raw, "max_length", ptype in (ParamType.STR, ParamType.IMAGE))
        choices = self._choices(raw.get("choices"), ptype)
        required = raw.get("required", False)
        if not isinstance(required, bool):
            self.problem("must be true or false", sub="required")
        description = raw.get("description", "")
        if not isinstance(description, str):
            self.problem("must be text", sub="description")
        return ParamSpec(
            name=self.name,
            type=ptype,
            targets=tuple(targets),
            required=required is True,
            description=str(description or "").strip(),
            min=lo,
            max=hi,
            multiple_of=step,
            choices=choices,
            max_length=length,
        )

    def _number(self, raw: Mapping[str, Any], key: str, allowed: bool) -> float | None:
        value = raw.get(key)
        if value is None:
            return None
        if not allowed:
            self.problem("only applies to int and float parameters", sub=key)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            self.problem("must be a number", sub=key)
        else:
            return value
        return None

    def _positive_int(self, raw: Mapping[str, Any], key: str, allowed: bool) -> int | None:
        value = raw.get(key)
        if value is None:
            return None
        if not allowed:
            self.problem("does not apply to this type", sub=key)
        elif not is_int(value) or value < 1:
            self.problem("must be a whole number of at least 1", sub=key)
        else:
            return value
        return None

    def _choices(self, raw: Any, ptype: ParamType) -> tuple[str, ...] | None:
        if ptype is not ParamType.CHOICE:
            if raw is not None:
                self.problem("only applies to type: choice", sub="choices")
            return None
        if not isinstance(raw, list) or not raw or not all(isinstance(c, str) for c in raw):
            self.problem("type choice needs choices: a non-empty list of text values")
            return None
        return tuple(dict.fromkeys(raw))

    def _with_default(self, raw: Mapping[str, Any], param: ParamSpec, graph_value: Any) -> ParamSpec | None:
        if param.required:
            if raw.get("default") is not None:
                self.problem("a required parameter takes no default; drop one of them")
                return None
            return param
        given = "default" in raw and raw["default"] is not None
        candidate = raw["default"] if given else graph_value
        try:
            default = coerce_value(param, candidate)
        except InvalidParameterError as exc:
            source = "the default" if given else f"the graph's value {graph_value!r}"
            self.problem(f"{source} is not allowed: {exc}", sub="default" if given else None)
            return None
        return replace(param, default=default)


def _type_of(value: Any) -> ParamType:
    if isinstance(value, bool):
        return ParamType.BOOL
    if isinstance(value, int):
        return ParamType.INT
    if isinstance(value, float):
        return ParamType.FLOAT
    return ParamType.STR


def _fits(ptype: ParamType, value: Any) -> bool:
    """Whether a graph constant can be replaced by values of this parameter type."""
    match ptype:
        case ParamType.BOOL:
            return isinstance(value, bool)
        case ParamType.INT:
            return is_int(value)
        case ParamType.FLOAT:
            return isinstance(value, int | float) and not isinstance(value, bool)
        case _:
            return isinstance(value, str)
