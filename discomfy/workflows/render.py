"""Turning a workflow template plus user values into a graph for POST /prompt, without side effects."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from discomfy.workflows.errors import MissingParameterError, OverrideError, UnknownParameterError
from discomfy.workflows.graph import Graph, InputRef, copy_graph, is_link, node_title, sorted_nodes
from discomfy.workflows.model import BuiltWorkflow, WorkflowSpec
from discomfy.workflows.seeds import apply_seed, check_seed, new_seed
from discomfy.workflows.values import coerce_value, parse_text_like

log = logging.getLogger(__name__)


def build_workflow(
    spec: WorkflowSpec, values: Mapping[str, Any] | None = None, *, seed: int | None = None
) -> BuiltWorkflow:
    """Check `values` against the mapping and fill a fresh copy of the graph; None = not given.

    Raises:
        UnknownParameterError, MissingParameterError, InvalidParameterError: in plain words.
    """
    resolved = resolve_values(spec, values or {})
    graph = copy.deepcopy(spec.graph)
    for param in spec.parameters:
        for ref in param.targets:
            graph[ref.node]["inputs"][ref.input] = resolved[param.name]
    chosen: int | None = None
    seeds: dict[InputRef, int] = {}
    if spec.seed_inputs:
        chosen = new_seed() if seed is None else check_seed(seed)
        seeds = apply_seed(graph, spec.seed_inputs, chosen)
    elif seed is not None:
        log.debug("Workflow %s has no seed input; seed %s ignored", spec.name, seed)
    return BuiltWorkflow(
        name=spec.name,
        graph=graph,
        seed=chosen,
        seeds=MappingProxyType(seeds),
        values=MappingProxyType(resolved),
        outputs=spec.outputs,
    )


def resolve_values(spec: WorkflowSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter's final value: the user's (checked), else the default."""
    names = spec.parameter_names
    unknown = [key for key in values if key not in names]
    if unknown:
        offered = ", ".join(names) if names else "none"
        raise UnknownParameterError(
            f"{spec.title} has no option called {unknown[0]!r}. Its options are: {offered}.",
            parameter=unknown[0],
            allowed=offered,
        )
    resolved: dict[str, Any] = {}
    for param in spec.parameters:
        given = values.get(param.name)
        if given is not None:
            resolved[param.name] = coerce_value(param, given)
        elif param.required:
            raise MissingParameterError(
                f"{spec.title} needs {param.name}: {param.describe_allowed()}.",
                parameter=param.name,
                allowed=param.describe_allowed(),
            )
        else:
            resolved[param.name] = param.default
    return resolved


def apply_overrides(graph: Mapping[str, Mapping[str, Any]], overrides: Mapping[str, Any]) -> Graph:
    """Copy `graph` with `{"NODE_ID.INPUT": value}` set; text is read as the type it replaces.

    Raises:
        OverrideError: unknown node or input, a linked input, or a value of the wrong type.
    """
    result = copy_graph(graph)
    for key, raw in overrides.items():
        ref = InputRef.parse(key)
        node = result.get(ref.node)
        if node is None:
            ids = ", ".join(node_id for node_id, _ in sorted_nodes(result))
            raise OverrideError(f"there is no node {ref.node!r}; nodes: {ids}", node=ref.node)
        inputs = node["inputs"]
        if ref.input not in inputs:
            known = ", ".join(inputs) or "none"
            raise OverrideError(
                f"{node_title(node)} ({node['class_type']}) has no such input; inputs: {known}",
                node=ref.node,
                input=ref.input,
            )
        current = inputs[ref.input]
        if is_link(current):
            raise OverrideError(
                f"is wired to node {current[0]!r}; only constant inputs can be set",
                node=ref.node,
                input=ref.input,
            )
        inputs[ref.input] = _override_value(ref, raw, current)
    return result


def _override_value(ref: InputRef, raw: Any, current: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return parse_text_like(raw, current)
    except ValueError as exc:
        raise OverrideError(
            f"{raw!r} does not fit (currently {current!r}): {exc}", node=ref.node, input=ref.input
        ) from None
