"""A sweep's plan: every run (its varied values and seed) and the graph each one sends, all checked before the first
submission; saved as plan.json so a resumed sweep runs exactly what was planned."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from discomfy.sweep.errors import SweepError
from discomfy.sweep.sampling import Axis, draw_seeds, grid_size, sample_points, stepped_levels
from discomfy.sweep.spec import AxisSpec, Strategy, SweepSpec
from discomfy.sweep.target import Binding, Workflow, check_value
from discomfy.workflows import build_workflow
from discomfy.workflows.errors import ParameterError
from discomfy.workflows.graph import Graph, InputRef, copy_graph
from discomfy.workflows.model import ParamType

if TYPE_CHECKING:
    from discomfy.comfy.object_info import ObjectInfo

PLAN_VERSION = 1
_NOT_NUMERIC = (ParamType.CHOICE, ParamType.STR, ParamType.BOOL, ParamType.IMAGE)


@dataclass(frozen=True, slots=True)
class PlannedRun:
    index: int  # 1-based, the run's number everywhere (folder, CSV, sheet)
    values: Mapping[str, Any]  # the varied values, by the sweep file's names
    seed: int | None  # None when the workflow has no seed input
    name: str  # folder name under runs/, e.g. 0001_cfg4.5_steps20_s123


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything needed to run (and resume) a sweep without reading its workflow again."""

    workflow: str
    strategy: Strategy
    rng_seed: int
    source_sha256: str
    axes: tuple[Axis, ...]
    targets: Mapping[str, tuple[InputRef, ...]]  # the graph inputs each axis sets
    base_graph: Graph = field(repr=False)
    seed_inputs: tuple[InputRef, ...]
    output_nodes: tuple[str, ...]
    runs: tuple[PlannedRun, ...]
    samples: int | None = None  # asked for (sampled strategies); `points` is what was left after dedupe
    points: int = 0

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(axis.name for axis in self.axes)

    def graph_for(self, run: PlannedRun) -> Graph:
        """The graph this run sends: the base with its values and seed written in."""
        graph = copy_graph(self.base_graph)
        for name, value in run.values.items():
            for ref in self.targets[name]:
                graph[ref.node]["inputs"][ref.input] = value
        if run.seed is not None:
            for ref in self.seed_inputs:
                graph[ref.node]["inputs"][ref.input] = run.seed
        return graph

    def inputs_for(self, run: PlannedRun) -> dict[str, Any]:
        """The exact graph values this run sets, by NODE_ID.INPUT (params.json)."""
        graph = self.graph_for(run)
        refs = [ref for name in run.values for ref in self.targets[name]]
        refs += list(self.seed_inputs) if run.seed is not None else []
        return {str(ref): graph[ref.node]["inputs"][ref.input] for ref in refs}

    def describe(self) -> str:
        """One line: how the runs came about."""
        seeds = len({run.seed for run in self.runs})
        if self.strategy is Strategy.GRID:
            shape = " x ".join(str(len(axis.grid_levels())) for axis in self.axes) or "1"
            return f"grid {shape} x {seeds} seed(s) = {len(self.runs)} runs"
        duplicates = (self.samples or 0) - self.points
        dropped = f" ({duplicates} duplicate(s) after rounding dropped)" if duplicates > 0 else ""
        return f"{self.strategy.value}: {self.points} points{dropped} x {seeds} seed(s) = {len(self.runs)} runs"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = PLAN_VERSION
        data["targets"] = {name: [str(ref) for ref in refs] for name, refs in self.targets.items()}
        data["seed_inputs"] = [str(ref) for ref in self.seed_inputs]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        axes = tuple(
            Axis(**{**a, "levels": tuple(a["levels"]) if a["levels"] is not None else None}) for a in data["axes"]
        )
        return cls(
            workflow=data["workflow"],
            strategy=Strategy(data["strategy"]),
            rng_seed=data["rng_seed"],
            source_sha256=data["source_sha256"],
            axes=axes,
            targets={name: tuple(InputRef.parse(r) for r in refs) for name, refs in data["targets"].items()},
            base_graph=data["base_graph"],
            seed_inputs=tuple(InputRef.parse(r) for r in data["seed_inputs"]),
            output_nodes=tuple(data["output_nodes"]),
            runs=tuple(PlannedRun(r["index"], r["values"], r["seed"], r["name"]) for r in data["runs"]),
            samples=data.get("samples"),
            points=data.get("points", 0),
        )


def _levels(levels: list[Any] | None) -> tuple[Any, ...] | None:
    return tuple(levels) if levels is not None else None


def save_plan(plan: Plan, path: Path) -> None:
    path.write_text(json.dumps(plan.to_json(), indent=1), encoding="utf-8")


def load_plan(path: Path) -> Plan:
    """Raises SweepError when the folder holds no readable plan."""
    try:
        return Plan.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise SweepError("no plan.json: not a sweep folder", file=str(path.parent)) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SweepError(f"unreadable plan: {exc}", file=str(path)) from None


def make_plan(sweep: SweepSpec, workflow: Workflow, info: ObjectInfo | None, *, source_sha256: str = "") -> Plan:
    """Check every name and value of the sweep file and lay out its runs.

    Raises:
        SweepError: naming the key at fault (parameters.cfg, set.prompt, max_runs...).
    """
    rng_seed = sweep.rng_seed if sweep.rng_seed is not None else secrets.randbits(63)
    checker = _Checker(workflow, info)
    fixed = {name: checker.bound(name, value, f"set.{name}") for name, value in sweep.set.items()}
    bindings = {name: workflow.bind(name, key=f"parameters.{name}") for name in sweep.parameters}
    axes = tuple(checker.axis(bindings[name], axis, sweep.strategy) for name, axis in sweep.parameters.items())
    size = (grid_size(axes) if sweep.strategy is Strategy.GRID else sweep.samples or 1) * sweep.seed_count
    if size > sweep.max_runs:
        raise SweepError(f"the plan has {size} runs, above max_runs ({sweep.max_runs}); vary less", key="max_runs")
    points = [
        checker.point(p, axes, bindings) for p in sample_points(axes, sweep.strategy, sweep.samples or 0, rng_seed)
    ]
    taken = {ref for binding, _ in fixed.values() for ref in binding.targets}
    taken |= {ref for binding in bindings.values() for ref in binding.targets}
    seed_inputs = tuple(ref for ref in workflow.seed_inputs if ref not in taken)
    seeds = _seeds(sweep, seed_inputs, rng_seed)
    base = _base_graph(workflow, fixed, dict(zip(bindings, points[0], strict=True)) if points else {})
    runs = [
        _run(i * len(seeds) + j + 1, dict(zip(bindings, point, strict=True)), seed)
        for i, point in enumerate(points)
        for j, seed in enumerate(seeds)
    ]
    return Plan(
        workflow=workflow.source,
        strategy=sweep.strategy,
        rng_seed=rng_seed,
        source_sha256=source_sha256,
        axes=axes,
        targets={name: binding.targets for name, binding in bindings.items()},
        base_graph=base,
        seed_inputs=seed_inputs,
        output_nodes=workflow.output_nodes,
        runs=tuple(runs),
        samples=sweep.samples if sweep.strategy is not Strategy.GRID else None,
        points=len(points),
    )


@dataclass(frozen=True, slots=True)
class _Checker:
    """Checks values of one workflow against its mapping and the server's declarations."""

    workflow: Workflow
    info: ObjectInfo | None

    def check(self, binding: Binding, value: Any, key: str) -> Any:
        return check_value(binding, value, self.workflow.graph, self.info, key=key)

    def bound(self, name: str, value: Any, key: str) -> tuple[Binding, Any]:
        binding = self.workflow.bind(name, key=key)
        return binding, self.check(binding, value, key)

    def axis(self, binding: Binding, spec: AxisSpec, strategy: Strategy) -> Axis:
        """The sampling axis of one parameter, its ends (or every level) checked."""
        key = f"parameters.{binding.name}"
        if spec.values is not None:
            return Axis(binding.name, levels=tuple(dict.fromkeys(self.check(binding, v, key) for v in spec.values)))
        if binding.type in _NOT_NUMERIC:
            raise SweepError(f"is a {binding.type} parameter: give values: [...] instead of min/max", key=key)
        if spec.min is None or spec.max is None:
            raise SweepError("needs min and max, or values: [...]", key=key)
        integer = binding.is_integer(self.workflow.graph, self.info, (spec.min, spec.max, spec.step))
        low = self.check(binding, _whole(spec.min) if integer else spec.min, key)
        high = self.check(binding, _whole(spec.max) if integer else spec.max, key)
        if spec.step is not None:
            levels = stepped_levels(low, high, spec.step, integer=integer)
            return Axis(binding.name, levels=tuple(self.check(binding, v, key) for v in levels))
        if strategy is Strategy.GRID and spec.count is None:
            raise SweepError("a grid needs step: or count: for a min/max range (or values: [...])", key=key)
        multiple = binding.param.multiple_of if binding.param is not None else None
        return Axis(binding.name, None, low, high, integer, spec.digits, spec.count, multiple)

    def point(self, point: tuple[Any, ...], axes: tuple[Axis, ...], bindings: Mapping[str, Binding]) -> tuple[Any, ...]:
        return tuple(
            self.check(bindings[axis.name], value, f"parameters.{axis.name}")
            for axis, value in zip(axes, point, strict=True)
        )


def _whole(number: float) -> float:
    """An int for a whole float (10.0 -> 10), so an integer input's end is checked as the int it is."""
    return int(number) if float(number).is_integer() else number


def _seeds(sweep: SweepSpec, seed_inputs: tuple[InputRef, ...], rng_seed: int) -> tuple[int | None, ...]:
    """The seeds every point is run with (the same for all points, so that points compare)."""
    if not seed_inputs:
        if sweep.seed_count > 1 or sweep.seeds is not None:
            raise SweepError("the workflow has no seed input (or the sweep sets it), so it takes no seeds", key="seeds")
        return (None,)
    if sweep.seeds is not None:
        return tuple(dict.fromkeys(sweep.seeds))
    return draw_seeds(sweep.seed_count, rng_seed)


def _base_graph(workflow: Workflow, fixed: Mapping[str, tuple[Binding, Any]], first: Mapping[str, Any]) -> Graph:
    """The workflow with the fixed values in; a mapped one built as the bot builds it (defaults, required ones)."""
    if workflow.spec is not None:
        mapped = {name: value for name, (binding, value) in fixed.items() if binding.param is not None}
        mapped |= {name: value for name, value in first.items() if workflow.spec.parameter(name) is not None}
        try:
            graph = build_workflow(workflow.spec, mapped).graph
        except ParameterError as exc:
            raise SweepError(exc.message, key="set") from None
    else:
        graph = copy_graph(workflow.graph)
    for binding, value in fixed.values():
        for ref in binding.targets:
            graph[ref.node]["inputs"][ref.input] = value
    return graph


def _run(index: int, values: dict[str, Any], seed: int | None) -> PlannedRun:
    parts = [f"{index:04d}", *(f"{_slug(name)}{_slug(_text(value))}" for name, value in values.items())]
    if seed is not None:
        parts.append(f"s{seed}")
    return PlannedRun(index, values, seed, "_".join(parts)[:120])


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-")[:24]
