"""Errors of workflow files, mappings and parameter values; each names the file, node and input it can."""

from __future__ import annotations

from discomfy.errors import DiscomfyError


class WorkflowError(DiscomfyError):
    """A workflow file, its mapping or a value for it is wrong; names file, node and input where known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        node: str | None = None,
        input: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.node = node
        self.input = input
        parts = [p for p in (file, _node_part(node, input)) if p]
        super().__init__(": ".join([*parts, message]))


def _node_part(node: str | None, input_name: str | None) -> str | None:
    if node is None:
        return None
    return f"node {node!r} input {input_name!r}" if input_name else f"node {node!r}"


class WorkflowFileError(WorkflowError):
    """A workflow or mapping file is missing or unreadable; `line` points into it when known."""

    def __init__(self, message: str, *, file: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(message, file=f"{file}:{line}" if line else file)
        self.file = file


class WorkflowFormatError(WorkflowFileError):
    """The JSON is not a ComfyUI API-format graph (for example a UI-format save), so it cannot be sent."""


class MappingError(WorkflowError):
    """The mapping YAML is wrong or does not fit its graph; `key` is the YAML key path at fault."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        key: str | None = None,
        node: str | None = None,
        input: str | None = None,
    ) -> None:
        self.key = key
        super().__init__(f"{key}: {message}" if key else message, file=file, node=node, input=input)


class WorkflowLoadError(WorkflowError):
    """Loading the workflows folder found problems; carries every one of them, from every file."""

    def __init__(self, problems: list[WorkflowError] | tuple[WorkflowError, ...]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the workflows:\n{lines}")


class UnknownWorkflowError(WorkflowError):
    """Someone asked for a workflow name the library does not have."""

    def __init__(self, name: str, available: tuple[str, ...]) -> None:
        self.name = name
        self.available = available
        listed = ", ".join(available) if available else "none are loaded"
        super().__init__(f"There is no workflow called {name!r}. Available: {listed}.")


class ParameterError(WorkflowError):
    """A value given for a workflow parameter is not acceptable; the message is meant for the user."""

    def __init__(self, message: str, *, parameter: str, allowed: str = "") -> None:
        self.parameter = parameter
        self.allowed = allowed
        super().__init__(message)


class UnknownParameterError(ParameterError):
    """The user set a parameter the workflow does not have."""


class MissingParameterError(ParameterError):
    """The user left out a parameter the workflow requires."""


class InvalidParameterError(ParameterError):
    """The value has the wrong type, is out of range, too long or not one of the choices."""


class OverrideError(WorkflowError):
    """A `NODE_ID.INPUT=VALUE` override does not fit the graph it is applied to."""


class ServerMismatchError(WorkflowError):
    """The workflow needs something the ComfyUI server does not offer (a node class or a file)."""


class ConversionError(WorkflowFormatError):
    """A UI-format workflow cannot be turned into the API format; `problems` has one line per node at fault."""

    def __init__(self, problems: list[str] | tuple[str, ...], *, file: str) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"cannot convert this UI-format workflow to the API format:\n{lines}", file=file)


class ObjectInfoNeededError(WorkflowFormatError):
    """A UI-format workflow was found where no ComfyUI node list (`/object_info`) was at hand to convert it."""
