"""Points of a sweep: the grid's product, or scrambled Sobol / Latin hypercube / random points (scipy.stats.qmc)
mapped from the unit cube onto each axis; reproducible from one recorded RNG seed, rounded, without duplicates."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import qmc

from discomfy.sweep.spec import Strategy

Point = tuple[Any, ...]  # one value per axis, in the axes' order


@dataclass(frozen=True, slots=True)
class Axis:
    """One varied input as sampling sees it: a list of `levels`, or a continuous range from `low` to `high`."""

    name: str
    levels: tuple[Any, ...] | None = None  # values, or the steps of a stepped range
    low: float = 0.0
    high: float = 0.0
    integer: bool = False  # round sampled values to whole numbers
    digits: int | None = None  # decimals kept of a sampled float; None: from the range's width
    count: int | None = None  # the grid's points across a continuous range
    multiple: int | None = None  # whole numbers in steps of this (a mapping's multiple_of, e.g. sizes of 8)

    def value_at(self, u: float) -> Any:
        """The axis' value at `u` in [0, 1): levels are spread evenly over the interval, a range linearly."""
        if self.levels is not None:
            return self.levels[min(int(u * len(self.levels)), len(self.levels) - 1)]
        return self.round(self.low + u * (self.high - self.low))

    def round(self, value: float) -> int | float:
        if self.integer:
            step = self.multiple or 1
            lowest, highest = math.ceil(self.low / step) * step, math.floor(self.high / step) * step
            return min(max(math.floor(value / step + 0.5) * step, lowest), highest)
        digits = self.digits if self.digits is not None else _default_digits(self.high - self.low)
        return min(max(round(value, digits), self.low), self.high)

    def grid_levels(self) -> tuple[Any, ...]:
        """Every value the grid takes on this axis: the levels, or `count` points across the range, ends included."""
        if self.levels is not None:
            return self.levels
        if self.count is None:
            raise ValueError(f"{self.name}: a grid needs step, count or values for a range")
        points = (self.round(self.low + i * (self.high - self.low) / (self.count - 1)) for i in range(self.count))
        return tuple(dict.fromkeys(points))


def stepped_levels(low: float, high: float, step: float, *, integer: bool) -> tuple[int | float, ...]:
    """low, low+step, ... up to high (a step that overshoots high is left out)."""
    count = math.floor((high - low) / step + 1e-9) + 1
    digits = max(_decimals(low), _decimals(step))
    values = (low + i * step for i in range(count))
    return tuple(round(v) if integer else round(v, digits) for v in values)


def grid_points(axes: Sequence[Axis]) -> list[Point]:
    """The product of every axis' levels, the first axis varying slowest."""
    return list(itertools.product(*(axis.grid_levels() for axis in axes)))


def grid_size(axes: Sequence[Axis]) -> int:
    return math.prod(len(axis.grid_levels()) for axis in axes)


def unit_points(strategy: Strategy, count: int, dimensions: int, rng_seed: int) -> np.ndarray:
    """`count` points in [0, 1)^dimensions; the same seed gives the same points."""
    if strategy is Strategy.SOBOL:
        with warnings.catch_warnings():  # balance is best at powers of 2; any count is still well spread
            warnings.simplefilter("ignore", UserWarning)
            return qmc.Sobol(dimensions, scramble=True, rng=rng_seed).random(count)
    if strategy is Strategy.LHS:
        return qmc.LatinHypercube(dimensions, rng=rng_seed).random(count)
    if strategy is Strategy.RANDOM:
        return np.random.default_rng(rng_seed).random((count, dimensions))
    raise ValueError(f"{strategy} does not sample the unit cube")


def sample_points(axes: Sequence[Axis], strategy: Strategy, count: int, rng_seed: int) -> list[Point]:
    """The grid, or `count` sampled points mapped onto the axes; duplicates (after rounding) removed, in order."""
    if strategy is Strategy.GRID:
        return grid_points(axes)
    if not axes:
        return [()]
    cube = unit_points(strategy, count, len(axes), rng_seed)
    points = (tuple(axis.value_at(float(u)) for axis, u in zip(axes, row, strict=True)) for row in cube)
    return list(dict.fromkeys(points))


def draw_seeds(count: int, rng_seed: int) -> tuple[int, ...]:
    """`count` distinct 64-bit seeds from the sweep's RNG (a stream of its own, apart from the points')."""
    rng = np.random.default_rng([rng_seed, 1])
    seeds: dict[int, None] = {}
    while len(seeds) < count:
        seeds[int(rng.integers(0, 2**64, dtype=np.uint64))] = None
    return tuple(seeds)


def _default_digits(width: float) -> int:
    """About four significant digits of the range: 1..8 keeps 3 decimals, 0.4..1 keeps 4."""
    if width <= 0:
        return 6
    return max(0, 3 - math.floor(math.log10(width)))


def _decimals(number: float) -> int:
    text = f"{number:.12g}"
    return len(text.partition(".")[2]) if "e" not in text else 12
