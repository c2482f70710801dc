"""The one retry helper: how often it tries, what it retries, and the waits in between."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from discomfy import retry as retry_module
from discomfy.retry import Backoff, retry


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The sleeps the helper asked for, without sleeping."""
    asked: list[float] = []

    async def sleep(delay: float) -> None:
        asked.append(delay)

    monkeypatch.setattr(retry_module.asyncio, "sleep", sleep)
    return asked


def _failing(times: int, error: Exception) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def action() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "ok"

    return calls, action


async def test_a_retryable_error_is_tried_again_with_doubling_waits(waits: list[float]) -> None:
    calls, action = _failing(3, ConnectionError("reset"))
    result = await retry(action, retry_on=(ConnectionError,), tries=4, backoff=Backoff(first=1.0), what="x")
    assert result == "ok"
    assert len(calls) == 4
    assert waits == [1.0, 2.0, 4.0]


async def test_the_last_error_is_raised_once_the_tries_are_used_up(waits: list[float]) -> None:
    calls, action = _failing(10, ConnectionError("reset"))
    with pytest.raises(ConnectionError):
        await retry(action, retry_on=(ConnectionError,), tries=3, backoff=Backoff(), what="x")
    assert len(calls) == 3
    assert len(waits) == 2


async def test_an_error_that_is_not_retryable_is_raised_at_once(waits: list[float]) -> None:
    calls, action = _failing(1, ValueError("refused"))
    with pytest.raises(ValueError, match="refused"):
        await retry(
            action, retry_on=lambda exc: isinstance(exc, ConnectionError), tries=None, backoff=Backoff(), what="x"
        )
    assert len(calls) == 1
    assert waits == []


async def test_without_a_limit_it_goes_on_and_the_waits_stop_growing_at_the_cap(waits: list[float]) -> None:
    calls, action = _failing(12, ConnectionError("down"))
    await retry(action, retry_on=(ConnectionError,), tries=None, backoff=Backoff(first=5.0, cap=300.0), what="x")
    assert len(calls) == 13
    assert max(waits) == 300.0
    assert waits[:4] == [5.0, 10.0, 20.0, 40.0]


def test_jitter_keeps_each_wait_between_half_and_the_full_delay() -> None:
    backoff = Backoff(first=0.25, cap=8.0, jitter=True)
    for attempt in range(10):
        full = min(8.0, 0.25 * 2**attempt)
        assert full / 2 <= backoff.delay(attempt) <= full
