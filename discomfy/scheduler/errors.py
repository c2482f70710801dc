"""Errors of the scheduler: a job that no configured ComfyUI server can run."""

from __future__ import annotations

from collections.abc import Mapping

from discomfy.errors import DiscomfyError


class SchedulerError(DiscomfyError):
    """The root of the scheduler's errors."""


class UnknownServerError(SchedulerError):
    """An admin named a server that comfy.servers does not list."""

    def __init__(self, name: str, names: tuple[str, ...]) -> None:
        self.name = name
        super().__init__(f"There is no ComfyUI server called {name!r}; the servers are: {', '.join(names)}.")


class NoServerCanRunError(SchedulerError):
    """Every ComfyUI server lacks something the workflow needs; says what, per server."""

    def __init__(self, workflow: str, missing: Mapping[str, tuple[str, ...]]) -> None:
        self.workflow = workflow
        self.missing = dict(missing)
        if len(missing) == 1:
            text = "it lacks " + ", ".join(next(iter(missing.values()))[:5])
        else:
            text = "; ".join(f"{server} lacks {', '.join(found[:3])}" for server, found in missing.items())
        super().__init__(
            f"No ComfyUI server can run {workflow} right now: {text}. An admin can install what is missing "
            "(see python bot.py --check)."
        )
