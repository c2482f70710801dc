"""Errors of the ComfyUI service: every transport error is wrapped into one of these at the boundary."""

from __future__ import annotations

import re
from dataclasses import dataclass

from discomfy.errors import DiscomfyError


class ComfyError(DiscomfyError):
    """Something went wrong talking to ComfyUI or running a job there.

    `str(error)` is a short plain reason fit for users (jobs store it, embeds show it); `for_log` adds what
    an admin needs to find the cause (addresses, HTTP bodies, ComfyUI's own paths) and only goes to the log.
    """

    @property
    def for_log(self) -> str:
        return str(self)


class ComfyConnectionError(ComfyError):
    """ComfyUI could not be reached (refused, reset, DNS); says which URL."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__("ComfyUI is not reachable right now.")

    @property
    def for_log(self) -> str:
        return f"ComfyUI at {self.url} is unreachable: {self.reason}"


class ComfyTimeoutError(ComfyConnectionError):
    """ComfyUI did not answer in time."""


class ComfyHTTPError(ComfyError):
    """ComfyUI answered with an HTTP status we did not expect."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        super().__init__(f"ComfyUI answered with an error (HTTP {status}).")

    @property
    def for_log(self) -> str:
        return f"ComfyUI answered {self.status} to {self.method} {self.path}: {self.body[:300]}"


@dataclass(frozen=True, slots=True)
class NodeError:
    """One reason ComfyUI gave for refusing a node's input."""

    node_id: str
    class_type: str
    input_name: str | None
    kind: str
    message: str
    details: str

    def describe(self) -> str:
        """Say what is wrong in the words a user of the bot understands."""
        where = f"node {self.node_id} ({self.class_type})" if self.class_type else f"node {self.node_id}"
        if self.input_name:
            where += f", input '{self.input_name}'"
        text = _REASONS.get(self.kind, self.message)
        if self.details and self.details not in text:
            text = f"{text}: {self.details}"
        return f"{where}: {text}"


_REASONS = {
    "required_input_missing": "a required input is missing",
    "value_not_in_list": "that value is not offered by this server (a model file may not be installed)",
    "value_smaller_than_min": "the value is below the allowed minimum",
    "value_bigger_than_max": "the value is above the allowed maximum",
    "invalid_input_type": "the value has the wrong type",
    "return_type_mismatch": "it is linked to an output of the wrong type",
    "exception_during_validation": "it is linked to a node or output that does not exist",
}


class WorkflowRejectedError(ComfyError):
    """ComfyUI answered 400 to a submission: the workflow is invalid for this server. Never retried."""

    def __init__(self, error_type: str, message: str, details: str, node_errors: tuple[NodeError, ...]):
        self.error_type = error_type
        self.message = message
        self.details = details
        self.node_errors = node_errors
        self.queued_anyway = False  # ComfyUI queued the outputs that validated and dropped the rest
        lines = [f"ComfyUI rejected the workflow: {message.rstrip('.')}" + (f" ({details})" if details else "")]
        lines += [f"- {e.describe()}" for e in node_errors]
        super().__init__("\n".join(lines))


class ExecutionFailedError(ComfyError):
    """A node raised while the job ran."""

    def __init__(self, node_id: str | None, node_type: str | None, exception_type: str, message: str):
        self.node_id = node_id
        self.node_type = node_type
        self.exception_type = exception_type
        self.message = message.strip()
        self.where = f"node {node_id} ({node_type})" if node_id else "an unknown node"
        super().__init__(f"ComfyUI failed in {self.where}: {exception_type}: {without_paths(self.message)[:500]}")

    @property
    def for_log(self) -> str:
        return f"ComfyUI failed in {self.where}: {self.exception_type}: {self.message}"


class JobInterruptedError(ComfyError):
    """The job was interrupted (by /interrupt, an admin on the ComfyUI box, or a cancel)."""

    def __init__(self, prompt_id: str, node_id: str | None = None, node_type: str | None = None):
        self.prompt_id = prompt_id
        self.node_id = node_id
        self.node_type = node_type
        at = f" at node {node_id} ({node_type})" if node_id else ""
        super().__init__(f"The job was interrupted{at}.")


class JobCancelledError(ComfyError):
    """The job was removed from ComfyUI's queue before it ran."""

    def __init__(self, prompt_id: str) -> None:
        self.prompt_id = prompt_id
        super().__init__("The job was cancelled before it started.")


class JobMovedError(ComfyError):
    """The job left this server's queue for another server (its server was down too long); not a failure."""

    def __init__(self, prompt_id: str) -> None:
        self.prompt_id = prompt_id
        super().__init__("The job was moved to another ComfyUI server.")


class JobLostError(ComfyError):
    """ComfyUI no longer knows the job (it restarted, or someone cleared its queue)."""

    def __init__(self, prompt_id: str, reason: str | None = None) -> None:
        self.prompt_id = prompt_id
        super().__init__(
            f"This job's ComfyUI {reason}, so it cannot be followed."
            if reason
            else "ComfyUI no longer knows this job: it was probably restarted, or its queue was cleared."
        )


class OutputDownloadError(ComfyError):
    """A finished job's output file could not be fetched from ComfyUI."""

    def __init__(self, filename: str, reason: str, *, transient: bool = False) -> None:
        self.filename = filename
        self.reason = reason
        self.transient = transient  # the transfer broke (worth another try), rather than a refusal
        shown = "the connection broke" if transient else reason
        super().__init__(f"Could not fetch the result file {filename!r} from ComfyUI: {shown}.")

    @property
    def for_log(self) -> str:
        return f"Could not download output {self.filename!r}: {self.reason}"


_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\\/\s'\"]+){2,}")


def without_paths(text: str) -> str:
    """ComfyUI's messages name files on its own disk; a user needs the file's name, not where it lives."""
    return _PATH.sub(lambda match: "…/" + re.split(r"[\\/]", match.group(0))[-1], text)
