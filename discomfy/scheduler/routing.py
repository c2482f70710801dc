"""Where a job goes: the least loaded of the servers that may take it, by load per unit of weight. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Candidate(Generic[S]):
    """A server that may take the job now, with its load (prompts in its queue, ours and others')."""

    server: S
    load: int
    weight: float

    @property
    def share(self) -> float:
        return self.load / self.weight


def choose(candidates: Sequence[Candidate[S]], rotation: int) -> S | None:
    """The least loaded by load / weight; among equals, the `rotation`-th in turn, so ties take turns."""
    if not candidates:
        return None
    least = min(candidate.share for candidate in candidates)
    tied = [candidate for candidate in candidates if candidate.share == least]
    return tied[rotation % len(tied)].server
