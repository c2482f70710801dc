"""A sweep file to start from (`analyze WF.json --sweep`): the graph's tunable inputs with suggested ranges around
their current values, within the limits `analyze` knows or the server declares."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from discomfy.workflows.analyze import Analysis, Group, Tunable
from discomfy.workflows.model import ParamType, WorkflowSpec

if TYPE_CHECKING:
    from discomfy.comfy.object_info import ObjectInfo
    from discomfy.workflows.graph import Graph

ACTIVE_GROUPS = (Group.SAMPLING,)  # varied in the template; the others are listed commented out


def render_sweep_template(
    analysis: Analysis,
    graph: Graph,
    *,
    workflow: str,
    info: ObjectInfo | None = None,
    mapping: WorkflowSpec | None = None,
) -> str:
    """YAML text of a Sobol sweep over the sampling inputs, the rest commented out, the prompts fixed."""
    lines = [
        f"# Sweep of {workflow}: python -m discomfy sweep THIS_FILE",
        f"workflow: {workflow}",
        "strategy: sobol          # grid | sobol | lhs | random",
        "samples: 16              # ignored for grid",
        "seeds_per_sample: 1      # or seeds: [1, 2]",
        "in_flight: 2             # prompts kept queued in ComfyUI",
        "out: sweeps",
        "parameters:",
    ]
    fixed = []
    for tunable in analysis.tunables:
        if tunable.group is Group.PROMPTS:
            fixed.append(f"  {tunable.name}: {json.dumps(tunable.value)}")
            continue
        entry = _entry(_as_mapped(tunable, mapping), graph, info)
        if entry is not None:
            active = tunable.group in ACTIVE_GROUPS and not tunable.advanced
            lines.append(f"  {'' if active else '# '}{tunable.name}: {entry}")
    lines += ["set:", *(fixed or ["  {}"])] if fixed else ["set: {}"]
    return "\n".join(lines) + "\n"


def _as_mapped(tunable: Tunable, mapping: WorkflowSpec | None) -> Tunable:
    """The mapping's limits and choices for an input it maps (they are what the bot allows)."""
    param = mapping.parameter(tunable.name) if mapping is not None else None
    if param is None or param.targets[0] != tunable.targets[0]:
        return tunable
    return replace(tunable, min=param.min, max=param.max, choices=param.choices, multiple_of=param.multiple_of)


def _entry(tunable: Tunable, graph: Graph, info: ObjectInfo | None) -> str | None:
    low, high = _limits(tunable, graph, info)
    value = tunable.value
    if tunable.type is ParamType.CHOICE:
        choices = _choices(tunable, graph, info)
        more = f"  # also: {', '.join(str(c) for c in choices[4:12])}" if choices[4:] else ""
        return "{values: " + json.dumps(choices[:4]) + "}" + more
    if tunable.type is ParamType.INT and isinstance(value, int):
        lo, hi = _clip(max(1, value // 2), low, high), _clip(max(value * 2, value + 1), low, high)
        return f"{{min: {lo}, max: {hi}, step: {max(1, (hi - lo) // 6)}}}  # now {value}"
    if tunable.type is ParamType.FLOAT and isinstance(value, int | float):
        lo, hi = _clip(round(value * 0.5, 3), low, high), _clip(round(max(value * 1.5, value + 0.5), 3), low, high)
        return f"{{min: {lo:g}, max: {hi:g}}}  # now {value:g}"
    return None


def _limits(tunable: Tunable, graph: Graph, info: ObjectInfo | None) -> tuple[float | None, float | None]:
    low, high = tunable.min, tunable.max
    ref = tunable.targets[0]
    declared = info.input_spec(graph[ref.node]["class_type"], ref.input) if info is not None else None
    if declared is not None:
        low = max(v for v in (low, declared.min) if v is not None) if declared.min is not None else low
        high = min(v for v in (high, declared.max) if v is not None) if declared.max is not None else high
    return low, high


def _choices(tunable: Tunable, graph: Graph, info: ObjectInfo | None) -> list[Any]:
    if tunable.choices is not None and len(tunable.choices) > 1:  # the mapping's
        return list(dict.fromkeys([tunable.value, *tunable.choices]))
    ref = tunable.targets[0]
    offered = info.choices(graph[ref.node]["class_type"], ref.input) if info is not None else None
    return list(dict.fromkeys([tunable.value, *(offered or tunable.choices or ())]))


def _clip(value: Any, low: float | None, high: float | None) -> Any:
    if low is not None and value < low:
        value = type(value)(low)
    if high is not None and value > high:
        value = type(value)(high)
    return value
