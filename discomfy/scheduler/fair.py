"""FairQueue: the bot's own queue, handed out round robin across users so one user's batch cannot hold the rest.

Pure (no I/O, no clock): each owner has a FIFO line, owners take turns in the order they first arrived, and
the turn moves on after every item taken. Priority owners (admins, when `scheduler.admins_first`) all go first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class _Turns(Generic[T]):
    """One round-robin ring of owners, each with the items they wait with, oldest first."""

    def __init__(self) -> None:
        self._lines: dict[int, deque[T]] = {}  # insertion order is the ring's order
        self._last: int | None = None  # the owner served last; the next turn is the owner after it

    def __len__(self) -> int:
        return sum(len(line) for line in self._lines.values())

    def add(self, owner: int, item: T) -> None:
        self._lines.setdefault(owner, deque()).append(item)

    def served(self, owner: int) -> None:
        self._last = owner

    def owner_of(self, item: T) -> int | None:
        return next((owner for owner, line in self._lines.items() if item in line), None)

    def remove(self, owner: int, item: T, *, served: bool) -> None:
        """Take `item` out; `served`: it is going to run, so the turn passes to the next owner."""
        line = self._lines[owner]
        line.remove(item)
        if served:
            self._last = owner
        if not line:
            self._drop(owner)

    def _drop(self, owner: int) -> None:
        """An owner with nothing left leaves the ring; the turn stays where it was."""
        owners = list(self._lines)
        if self._last == owner and len(owners) > 1:
            self._last = owners[owners.index(owner) - 1]  # so the owner after it still comes next
        del self._lines[owner]  # alone, it stays the last served: whoever comes next goes before its next job

    def order(self) -> Iterator[T]:
        """Every item in the order they would be handed out if each could go now: one per owner per round."""
        owners = list(self._lines)
        if not owners:
            return
        start = (owners.index(self._last) + 1) % len(owners) if self._last in self._lines else 0
        lines = [iter(self._lines[owner]) for owner in owners[start:] + owners[:start]]
        while lines:
            still = []
            for line in lines:
                item = next(line, None)
                if item is not None:
                    yield item
                    still.append(line)
            lines = still


class FairQueue(Generic[T]):
    """Items waiting for a turn, by owner; priority owners' items before everyone else's."""

    def __init__(self) -> None:
        self._priority: _Turns[T] = _Turns()
        self._normal: _Turns[T] = _Turns()

    def __len__(self) -> int:
        return len(self._priority) + len(self._normal)

    def __contains__(self, item: T) -> bool:
        return self._find(item) is not None

    def add(self, owner: int, item: T, *, priority: bool = False) -> None:
        """Queue `item` at the end of its owner's line (a new owner joins the ring last)."""
        (self._priority if priority else self._normal).add(owner, item)

    def take(self, item: T) -> None:
        """`item` goes to run now: out of the queue, and the turn passes to the next owner."""
        self._remove(item, served=True)

    def discard(self, item: T) -> bool:
        """`item` leaves without running (cancelled): the turns stay as they were. False if it was not queued."""
        return self._remove(item, served=False)

    def served(self, owner: int) -> None:
        """`owner` was the last one whose item went to run (so after a restart the turns go on where they were)."""
        self._normal.served(owner)

    def order(self) -> list[T]:
        """The items in the order they are to be handed out."""
        return [*self._priority.order(), *self._normal.order()]

    def _find(self, item: T) -> tuple[_Turns[T], int] | None:
        for turns in (self._priority, self._normal):
            owner = turns.owner_of(item)
            if owner is not None:
                return turns, owner
        return None

    def _remove(self, item: T, *, served: bool) -> bool:
        found = self._find(item)
        if found is None:
            return False
        turns, owner = found
        turns.remove(owner, item, served=served)
        return True
