"""The root of every error DisComfy raises on purpose, so one handler can speak to the user about all of them."""

from __future__ import annotations


class DiscomfyError(Exception):
    """Root of the hierarchy: anything under it has a message fit to show a user or an admin."""


class ConfigError(DiscomfyError):
    """The configuration cannot be used; names the file and the key path that is wrong."""

    def __init__(self, file: str, field: str, message: str) -> None:
        self.file = file
        self.field = field
        self.message = message
        where = f"{file}: {field}" if field else file
        super().__init__(f"{where}: {message}")


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


class LimitError(DiscomfyError):
    """A user asked for more than the bot allows right now (pending jobs, cooldown, sizes)."""
