"""Sweep axes typed by a user: lists (`3,5,7`), ranges (`10..40 step 10`) and seeds by count, each value checked.

Pure: no I/O and no discord. Every value goes through the workflow's own `coerce_value`, so an axis is refused
with the parameter's name and its limits or choices, exactly as a single value would be, before anything runs.
A grid's cells run row by row: cell `row * len(x) + column` has x's value of that column and y's of that row.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from discomfy.errors import DiscomfyError
from discomfy.store import SweepRecord
from discomfy.workflows import SEED_MAX, ParamSpec, ParamType, WorkflowSpec, new_seed, sweep_seeds
from discomfy.workflows.errors import InvalidParameterError, UnknownParameterError
from discomfy.workflows.values import coerce_value

MAX_DIGITS = 40  # more than any seed (20 digits) or limit needs
HUGE = 10**9  # "at least this many cells" is all a refusal needs to say of an absurd range
SEED = "seed"  # not a mapped parameter: the axis of seeds, given as a count or as the seeds themselves
SWEEPABLE = frozenset({ParamType.INT, ParamType.FLOAT, ParamType.CHOICE, ParamType.BOOL})
_RANGE = re.compile(r"^\s*(?P<start>\S+?)\s*\.\.\s*(?P<stop>\S+?)(?:\s+step\s+(?P<step>\S+))?\s*$", re.IGNORECASE)
_COUNT = re.compile(r"^\s*\d+\s*$")  # a seed axis given as a count
SEED_PARAM = ParamSpec(SEED, ParamType.INT, (), min=0, max=SEED_MAX)  # a seed axis given as the seeds themselves


class SweepSizeError(DiscomfyError):
    """A sweep asks for more cells than `limits.max_sweep_cells`; says the size asked and the cap."""

    def __init__(self, cells: int, cap: int, *, exact: bool = True) -> None:
        self.cells = cells
        self.cap = cap
        asked = f"{cells} cells" if exact else f"at least {cells} cells"
        super().__init__(f"This sweep has {asked}; at most {cap} are allowed here (limits.max_sweep_cells).")


@dataclass(frozen=True, slots=True)
class Axis:
    """One edge of the grid: a parameter (or `seed`) and its values, in the order given."""

    name: str
    values: tuple[Any, ...]

    def label(self, index: int) -> str:
        """The value as written on the grid's edge: `4.5`, `20`, `euler`."""
        return format_value(self.values[index])

    @property
    def labels(self) -> tuple[str, ...]:
        """Every value as written on the grid's edge."""
        return tuple(format_value(value) for value in self.values)


@dataclass(frozen=True, slots=True)
class Grid:
    """An X/Y plot: x varies along a row, y (if any) down the columns; `seed` is used where no axis is seed."""

    x: Axis
    y: Axis | None
    seed: int | None  # the one seed every cell shares when neither axis is `seed`; None on a seed axis, or once
    # stored (`Grid.of`): then each cell's job has its seed

    @property
    def columns(self) -> int:
        return len(self.x.values)

    @property
    def rows(self) -> int:
        return len(self.y.values) if self.y else 1

    @property
    def size(self) -> int:
        return self.columns * self.rows

    @property
    def axes(self) -> tuple[Axis, ...]:
        return (self.x, self.y) if self.y else (self.x,)

    def cell(self, index: int) -> tuple[dict[str, Any], int | None]:
        """Cell `index`'s parameter values and seed (row by row)."""
        row, column = divmod(index, self.columns)
        values = {self.x.name: self.x.values[column]}
        if self.y is not None:
            values[self.y.name] = self.y.values[row]
        seed = values.pop(SEED, self.seed)
        return values, seed

    def cells(self) -> list[tuple[dict[str, Any], int | None]]:
        return [self.cell(index) for index in range(self.size)]

    def label(self, index: int) -> str:
        """`cfg 5 · seed 12`: what distinguishes cell `index` from the others."""
        row, column = divmod(index, self.columns)
        parts = [f"{self.x.name} {self.x.label(column)}"]
        if self.y is not None:
            parts.append(f"{self.y.name} {self.y.label(row)}")
        return " · ".join(parts)

    def with_new_seeds(self) -> Grid:
        """The same grid with fresh random seeds: a seed axis gets as many new ones, the shared seed a new one."""
        axes = [Axis(a.name, sweep_seeds(len(a.values))) if a.name == SEED else a for a in self.axes]
        seeded = any(a.name == SEED for a in axes)
        return Grid(axes[0], axes[1] if len(axes) > 1 else None, None if seeded else new_seed())

    def record(self, batch_id: str) -> SweepRecord:
        """What the store keeps of the grid (its cells' seeds are in their jobs)."""
        return SweepRecord(batch_id, tuple((axis.name, axis.values) for axis in self.axes))

    @classmethod
    def of(cls, record: SweepRecord) -> Grid:
        """The grid a stored sweep was run on."""
        axes = [Axis(name, values) for name, values in record.axes]
        return cls(axes[0], axes[1] if len(axes) > 1 else None, None)


def parse_grid(
    spec: WorkflowSpec,
    x: tuple[str, str],
    y: tuple[str, str] | None,
    *,
    seed: int | None,
    cap: int,
) -> Grid:
    """The grid of `x` and `y` ((name, values text) each) for `spec`, within `cap` cells.

    `seed` is where a seed axis given as a count starts, and otherwise the seed every cell shares.

    Raises:
        UnknownParameterError, InvalidParameterError: a name or value the workflow does not take (names it).
        SweepSizeError: more cells than `cap`.
    """
    if y is not None and y[0].strip().lower() == x[0].strip().lower():
        raise InvalidParameterError(f"x and y are both `{x[0]}`; sweep two different parameters.", parameter="y")
    x_axis = parse_axis(spec, *x, seed=seed, cap=cap)
    y_axis = parse_axis(spec, *y, seed=seed, cap=cap) if y else None
    seeded = SEED in (x_axis.name, y_axis.name if y_axis else None)
    grid = Grid(x_axis, y_axis, None if seeded else seed if seed is not None else new_seed())
    if grid.size > cap:
        raise SweepSizeError(grid.size, cap)
    return grid


def parse_axis(spec: WorkflowSpec, name: str, text: str, *, seed: int | None = None, cap: int) -> Axis:
    """One axis: `name` a sweepable parameter of `spec` (or `seed`), `text` its values.

    Raises:
        UnknownParameterError, InvalidParameterError: the parameter, a value or the syntax is wrong.
        SweepSizeError: the axis alone has more values than `cap`.
    """
    name = name.strip().lower()
    if not text or not text.strip():
        message = f"Give the values of `{name}` (for example `3,5,7` or `10..40 step 10`)."
        raise InvalidParameterError(message, parameter=name)
    if name == SEED and not spec.seed_inputs:
        message = f"{spec.title} has no seed input: every seed would give the same result. Sweep another parameter."
        raise InvalidParameterError(message, parameter=name)
    if name == SEED and _COUNT.match(text):
        return Axis(SEED, _seed_count(int(text), seed, cap))
    param = SEED_PARAM if name == SEED else sweepable(spec, name)
    if _RANGE.match(text):
        values = _range(param, text, cap)
    else:
        values = [coerce_value(param, _typed(param, item)) for item in _items(param, text)]
    if len(values) > cap:
        raise SweepSizeError(len(values), cap, exact=False)
    return Axis(name, tuple(dict.fromkeys(values)))  # a repeated value would only repeat a column


def sweepable(spec: WorkflowSpec, name: str) -> ParamSpec:
    """The parameter `name` of `spec` if a sweep can vary it (numbers, choices, switches).

    Raises:
        UnknownParameterError: `spec` has no such parameter, or not one a sweep can vary.
    """
    param = spec.parameter(name)
    if param is None or param.type not in SWEEPABLE:
        offered = ", ".join([SEED, *sweepable_names(spec)])
        what = "no parameter" if param is None else "no parameter a sweep can vary called"
        raise UnknownParameterError(
            f"The workflow {spec.title} (`{spec.name}`) has {what} `{name}`. A sweep can vary: {offered}.",
            parameter=name,
            allowed=offered,
        )
    return param


def sweepable_names(spec: WorkflowSpec) -> list[str]:
    """The parameters of `spec` a sweep can vary, in the mapping's order (`seed` comes on top of them)."""
    return [p.name for p in spec.parameters if p.type in SWEEPABLE]


def format_value(value: Any) -> str:
    """A value as people write it: `4.5`, `20`, `euler`, `true` (never `4.500000001` nor `1e+01`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


# ---- values ----------------------------------------------------------------------------------------------


def _items(param: ParamSpec, text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if any(not item for item in items):
        raise InvalidParameterError(
            f"`{text.strip()}` has an empty value for {param.name}; separate values with commas, like `3,5,7`.",
            parameter=param.name,
            allowed=param.describe_allowed(),
        )
    return items


def _typed(param: ParamSpec, item: str) -> Any:
    """A number as typed (`20` stays 20, so a refusal quotes it so); anything else as text, for coerce_value."""
    if param.type in (ParamType.INT, ParamType.FLOAT):
        return _number(param, _decimal(param, item))
    return item


def _range(param: ParamSpec, text: str, cap: int) -> list[Any]:
    """`start..stop step s` (inclusive; s defaults to 1; counting down when start > stop), each value checked."""
    match = _RANGE.match(text)
    assert match is not None
    if param.type not in (ParamType.INT, ParamType.FLOAT):
        raise InvalidParameterError(
            f"{param.name} takes a list (like `{','.join((param.choices or ('a', 'b'))[:3])}`), not a range.",
            parameter=param.name,
            allowed=param.describe_allowed(),
        )
    start, stop = (_decimal(param, match[key]) for key in ("start", "stop"))
    step = _decimal(param, match["step"] or "1")
    if step <= 0:
        raise InvalidParameterError(f"The step of a range must be above 0 (got {match['step']}).", parameter=param.name)
    try:
        span = abs(stop - start) / step
    except ArithmeticError:  # beyond what Decimal can hold
        span = Decimal(HUGE)
    count = HUGE if span >= HUGE else math.floor(span) + 1  # never an int of a million digits
    if count > cap:
        raise SweepSizeError(count, cap, exact=False)
    sign = 1 if stop >= start else -1
    numbers = [start + sign * step * index for index in range(count)]
    return [coerce_value(param, _number(param, number)) for number in numbers]


def _decimal(param: ParamSpec, text: str) -> Decimal:
    """Exact decimal arithmetic: `0.1..0.3 step 0.1` gives 0.1, 0.2, 0.3, not 0.30000000000000004."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise InvalidParameterError(
            f"`{text}` is not a number ({param.name} must be {param.describe_allowed()}).",
            parameter=param.name,
            allowed=param.describe_allowed(),
        )
    return number


def _number(param: ParamSpec, number: Decimal) -> int | float | str:
    """The number in the parameter's type; as text when it is absurdly large, which coerce_value refuses."""
    if number.adjusted() > MAX_DIGITS:
        return str(number)
    if param.type is ParamType.INT:
        return int(number) if number == number.to_integral_value() else str(number)  # coerce names a fraction
    return int(number) if number == number.to_integral_value() else float(number)


def _seed_count(count: int, base: int | None, cap: int) -> tuple[int, ...]:
    """`count` seeds: `base`, `base + 1`... when given, else random ones."""
    if count < 1:
        raise InvalidParameterError("A seed axis needs at least 1 seed.", parameter=SEED)
    if count > cap:
        raise SweepSizeError(min(count, HUGE), cap, exact=False)
    return sweep_seeds(count, base)
