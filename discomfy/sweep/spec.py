"""The sweep file (YAML): what to run and what to vary, as a frozen pydantic model checked when read."""

from __future__ import annotations

import enum
import hashlib
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from discomfy.sweep.errors import SweepError
from discomfy.workflows.seeds import SEED_MAX

DEFAULT_MAX_RUNS = 1000

_Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]


class Strategy(enum.StrEnum):
    GRID = "grid"
    SOBOL = "sobol"
    LHS = "lhs"
    RANDOM = "random"


class AxisSpec(BaseModel):
    """One varied input: a range (`min`, `max`, optionally `step` or `count`) or a list of `values`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: int | float | None = None  # ints stay ints: a whole-number range of an untyped input samples integers
    max: int | float | None = None
    step: Annotated[int | float, Field(gt=0)] | None = None
    count: Annotated[int, Field(ge=2)] | None = None  # grid points of a continuous range, ends included
    values: Annotated[list[Any], Field(min_length=1)] | None = None
    digits: Annotated[int, Field(ge=0, le=12)] | None = None  # decimals kept of a sampled float

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        ranged = self.min is not None or self.max is not None
        if self.values is not None and (ranged or self.step is not None or self.count is not None):
            raise ValueError("give either values: [...] or min/max (with step or count), not both")
        if self.values is None and (self.min is None or self.max is None):
            raise ValueError("needs min and max, or values: [...]")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g})")
        if self.step is not None and self.count is not None:
            raise ValueError("give step or count, not both")
        return self

    @property
    def continuous(self) -> bool:
        return self.values is None and self.step is None


class SweepSpec(BaseModel):
    """A whole sweep file; `rng_seed` is filled in (and recorded) when the file leaves it out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workflow: Annotated[str, Field(min_length=1)]
    strategy: Strategy = Strategy.GRID
    samples: Annotated[int, Field(ge=1)] | None = None
    seeds_per_sample: Annotated[int, Field(ge=1)] = 1
    seeds: Annotated[list[_Seed], Field(min_length=1)] | None = None
    rng_seed: Annotated[int, Field(ge=0, lt=2**63)] | None = None
    parameters: dict[str, AxisSpec] = Field(default_factory=dict)
    set: dict[str, Any] = Field(default_factory=dict)
    out: Path = Path("output/sweeps")
    in_flight: Annotated[int, Field(ge=1, le=64)] = 2
    max_runs: Annotated[int, Field(ge=1)] = DEFAULT_MAX_RUNS

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.strategy is not Strategy.GRID and self.samples is None:
            raise ValueError(f"strategy {self.strategy.value} needs samples: N")
        if self.seeds is not None and "seeds_per_sample" in self.model_fields_set:
            raise ValueError("give seeds: [...] or seeds_per_sample, not both")
        if not self.parameters and self.seeds is None and self.seeds_per_sample == 1:
            raise ValueError("nothing varies: add parameters, seeds: [...] or seeds_per_sample")
        return self

    @property
    def seed_count(self) -> int:
        return len(self.seeds) if self.seeds is not None else self.seeds_per_sample


def read_sweep_file(path: Path) -> tuple[SweepSpec, str]:
    """The sweep file's model and its text's digest (which finds an unfinished sweep of the same file).

    Raises:
        SweepError: unreadable, not YAML, or a bad key (named with its path, e.g. parameters.cfg).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepError(f"cannot read it: {exc}", file=str(path)) from None
    return parse_sweep(text, file=str(path)), hashlib.sha256(text.encode()).hexdigest()


def parse_sweep(text: str, *, file: str) -> SweepSpec:
    """Read sweep YAML text; raises SweepError naming `file` and the key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SweepError(f"invalid YAML: {exc}", file=file) from None
    if not isinstance(data, dict):
        raise SweepError("must be a YAML mapping (workflow:, strategy:, parameters:, ...)", file=file)
    return spec_from_data(data, file=file)


def spec_from_data(data: dict[str, Any], *, file: str) -> SweepSpec:
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        lines = [f"{_key(error['loc']) or '(top level)'}: {error['msg']}" for error in exc.errors()]
        raise SweepError("\n  " + "\n  ".join(lines), file=file) from None


def _key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if not str(part).startswith("function-"))
