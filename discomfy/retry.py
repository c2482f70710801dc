"""One way to try again: exponential backoff, capped and optionally jittered, for every retry loop we have."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits of `first`, twice that, four times... never more than `cap`; jitter spreads clients apart."""

    first: float = 1.0
    cap: float = 60.0
    jitter: bool = False

    def delay(self, retry: int) -> float:
        """The wait before retry number `retry` (0 for the first retry)."""
        delay = min(self.cap, self.first * 2.0**retry)
        return delay * (0.5 + random.random() / 2) if self.jitter else delay


async def retry(
    action: Callable[[], Awaitable[T]],
    *,
    retry_on: tuple[type[BaseException], ...] | Callable[[BaseException], bool],
    tries: int | None,
    backoff: Backoff,
    what: str,
    logger: logging.Logger = log,
) -> T:
    """Run `action` until it succeeds, waiting after each retryable error; `tries` None means until cancelled.

    Raises:
        Exception: the error of the last try once `tries` are used up, or at once any error not retryable.
    """
    attempt = 0
    while True:
        try:
            return await action()
        except Exception as exc:
            retryable = isinstance(exc, retry_on) if isinstance(retry_on, tuple) else retry_on(exc)
            if not retryable or (tries is not None and attempt + 1 >= tries):
                raise
            delay = backoff.delay(attempt)
            logger.warning("%s failed (%s); trying again in %.1f s", what, exc, delay)
        attempt += 1
        await asyncio.sleep(delay)
