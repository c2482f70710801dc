"""How much one user, and everyone together, may have waiting on the one GPU: checked and taken in one step.

A request's slots are reserved synchronously when it is admitted, before any await (the deferral, an image
upload, the store write), so concurrent requests cannot all pass a limit that only one of them fits. The
reservation hands its slots over to the jobs as they are registered, and whatever is left is freed when it
is released.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self

from discomfy.config import LimitSettings
from discomfy.errors import DiscomfyError
from discomfy.store import JobRecord

PRUNE_AT = 256  # cooldown entries kept before the expired ones are dropped: memory stays bounded


class LimitError(DiscomfyError):
    """A user asked for more than the bot allows right now (pending jobs, cooldown, sizes)."""


class Reservation:
    """Slots held for one request between its admission and the registration of its jobs."""

    def __init__(self, quota: Quota, owner_id: int, slots: int) -> None:
        self._quota = quota
        self.owner_id = owner_id
        self.slots = slots
        self.key = uuid.uuid4().hex  # the request, as the per-user limit counts it; the batch id once known

    def claim(self, record: JobRecord) -> None:
        """One of the request's jobs is registered: it counts itself from now on."""
        self.key = record.batch_id or record.job_id
        self.slots = max(0, self.slots - 1)
        if not self.slots:
            self.release()

    def release(self) -> None:
        """Free what was not claimed (the request failed, or was smaller); idempotent."""
        self.slots = 0
        self._quota.forget(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class Quota:
    """The limits of `limits:` in the config, over the pending jobs and the reservations not yet claimed."""

    def __init__(self, limits: LimitSettings, pending: Callable[[], Iterable[JobRecord]]) -> None:
        self.limits = limits
        self._pending = pending  # the records of jobs not finished in ComfyUI yet
        self._reserved: set[Reservation] = set()
        self._last_start: dict[int, float] = {}

    def reserve(self, owner_id: int, count: int = 1, *, exempt: bool = False) -> Reservation:
        """Check the limits for `count` more jobs of `owner_id` and hold them, in one synchronous step.

        Raises:
            LimitError: saying which limit and when to try again.
        """
        pending = list(self._pending())
        waiting = len(pending) + sum(r.slots for r in self._reserved)
        if waiting + count > self.limits.max_pending_total:
            raise LimitError(
                f"The queue is full ({waiting} jobs waiting, at most {self.limits.max_pending_total}). "
                "Try again in a few minutes."
            )
        now = time.monotonic()
        if not exempt:
            self._check_user(owner_id, pending, now)
        reservation = Reservation(self, owner_id, count)
        self._reserved.add(reservation)
        self._last_start[owner_id] = now
        if len(self._last_start) > PRUNE_AT:
            self._prune(now)
        return reservation

    def forget(self, reservation: Reservation) -> None:
        self._reserved.discard(reservation)

    def _check_user(self, owner_id: int, pending: list[JobRecord], now: float) -> None:
        mine = {r.batch_id or r.job_id for r in pending if r.owner_id == owner_id}
        mine |= {r.key for r in self._reserved if r.owner_id == owner_id}
        if len(mine) >= self.limits.max_pending_per_user:
            raise LimitError(
                f"You already have {len(mine)} request(s) waiting (at most {self.limits.max_pending_per_user}). "
                "Wait for one to finish, or cancel one."
            )
        last = self._last_start.get(owner_id)
        wait = self.limits.cooldown_seconds - (now - last) if last is not None else 0
        if wait > 0:
            raise LimitError(f"Slow down a little: you can start a new job in {wait:.0f} s.")

    def _prune(self, now: float) -> None:
        expired = [owner for owner, at in self._last_start.items() if now - at >= self.limits.cooldown_seconds]
        for owner in expired:
            del self._last_start[owner]

    @property
    def remembered_users(self) -> int:
        """Users whose last start is kept for the cooldown (bounded by pruning)."""
        return len(self._last_start)
