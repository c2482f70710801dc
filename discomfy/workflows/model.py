"""The typed results of loading and building workflows: what the rest of the bot is allowed to see."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from discomfy.workflows.graph import Graph, InputRef


class ParamType(enum.StrEnum):
    """The kinds of value a workflow parameter takes; `image` is an uploaded input file name."""

    STR = "str"
    INT = "int"
    FLOAT = "float"
    CHOICE = "choice"
    IMAGE = "image"
    BOOL = "bool"


class WorkflowKind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One user-facing parameter and the node inputs it sets, with the limits its values obey."""

    name: str
    type: ParamType
    targets: tuple[InputRef, ...]
    default: Any = None  # None when required
    required: bool = False
    description: str = ""
    min: float | None = None
    max: float | None = None
    multiple_of: int | None = None
    choices: tuple[str, ...] | None = None
    max_length: int | None = None

    def describe_allowed(self) -> str:
        """The allowed values in plain words, for error messages and help text."""
        if self.choices is not None:
            return "one of: " + ", ".join(self.choices)
        if self.type is ParamType.BOOL:
            return "true or false"
        if self.type in (ParamType.INT, ParamType.FLOAT):
            noun = "a whole number" if self.type is ParamType.INT else "a number"
            words = [noun]
            if self.min is not None and self.max is not None:
                words.append(f"from {_num(self.min)} to {_num(self.max)}")
            elif self.min is not None:
                words.append(f"of at least {_num(self.min)}")
            elif self.max is not None:
                words.append(f"of at most {_num(self.max)}")
            if self.multiple_of:
                words.append(f"in steps of {self.multiple_of}")
            return " ".join(words)
        if self.type is ParamType.IMAGE:
            return "an image"
        return f"text of at most {self.max_length} characters" if self.max_length else "text"


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    """A loaded, validated workflow: its graph template, parameters, seed inputs and files."""

    name: str
    title: str
    description: str
    kind: WorkflowKind
    graph: Graph = field(repr=False)  # the template; never mutated (builds deep-copy it)
    parameters: tuple[ParamSpec, ...]
    seed_inputs: tuple[InputRef, ...]
    outputs: tuple[str, ...]  # node ids to collect; empty = every output node
    mapping_path: Path
    graph_path: Path
    nsfw: bool = False  # age-restricted: runs only in age-restricted channels, never in DMs

    @property
    def files(self) -> tuple[Path, Path]:
        return (self.mapping_path, self.graph_path)

    def parameter(self, name: str) -> ParamSpec | None:
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def takes_images(self) -> bool:
        """It has input images, which are uploaded to the server that runs it."""
        return any(p.type is ParamType.IMAGE for p in self.parameters)


@dataclass(frozen=True, slots=True)
class BuiltWorkflow:
    """A graph ready for POST /prompt, with the seed and values that went into it."""

    name: str
    graph: Graph = field(repr=False)  # a new dict, safe to send or change
    seed: int | None  # None when the graph has no seed input
    seeds: Mapping[InputRef, int]
    values: Mapping[str, Any]  # every parameter, resolved (given or default)
    outputs: tuple[str, ...]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
