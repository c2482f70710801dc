"""What a ComfyUI server can run: a typed, read-only view of its `GET /object_info` answer (no I/O)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

log = logging.getLogger(__name__)

_SECTIONS = ("required", "optional", "hidden")
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One input of a node class as the server declares it, in V1 or V3 shape alike."""

    name: str
    type: str  # "INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", or a link type such as "MODEL"
    section: str  # "required", "optional" or "hidden"
    choices: tuple[str | int, ...] | None = None
    default: Any = None
    min: float | None = None
    max: float | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def is_widget(self) -> bool:
        """True for inputs that take a constant (a widget in the UI), not only a link."""
        return self.type in WIDGET_TYPES and not self.options.get("forceInput")

    @property
    def step(self) -> float | None:
        return _number(self.options.get("step"))

    @property
    def tooltip(self) -> str:
        tooltip = self.options.get("tooltip")
        return tooltip if isinstance(tooltip, str) else ""

    @property
    def multiline(self) -> bool:
        return self.type == "STRING" and bool(self.options.get("multiline"))


class ObjectInfo:
    """The node classes a server offers, their inputs, and the choices of their combo inputs."""

    __slots__ = ("_classes",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._classes: Mapping[str, Mapping[str, Any]] = MappingProxyType(
            {name: info for name, info in raw.items() if isinstance(info, Mapping)}
        )

    def __repr__(self) -> str:
        return f"ObjectInfo({len(self._classes)} node classes)"

    @property
    def class_names(self) -> frozenset[str]:
        return frozenset(self._classes)

    def has_class(self, name: str) -> bool:
        return name in self._classes

    def is_output_node(self, class_type: str) -> bool:
        return bool(self._classes.get(class_type, _EMPTY).get("output_node", False))

    def input_names(self, class_type: str) -> tuple[str, ...]:
        """Every declared input (required, optional, hidden) of a class; empty if it is unknown."""
        sections = self._sections(class_type)
        return tuple(name for section in _SECTIONS for name in sections.get(section, _EMPTY))

    def inputs(self, class_type: str) -> tuple[InputSpec, ...]:
        """The required, then the optional inputs of a class, in the server's order (the UI's widget order)."""
        sections = self._sections(class_type)
        return tuple(
            _parse_input(name, section, raw)
            for section in _SECTIONS[:2]
            if isinstance(entries := sections.get(section, _EMPTY), Mapping)
            for name, raw in entries.items()
        )

    def display_name(self, class_type: str) -> str:
        """The title the UI gives a new node of this class (what Export (API) writes as `_meta.title`)."""
        name = self._classes.get(class_type, _EMPTY).get("display_name")
        return name if isinstance(name, str) and name else class_type

    def python_module(self, class_type: str) -> str:
        """Where the server loaded the class from, e.g. `nodes` or `custom_nodes.ComfyUI-KJNodes`."""
        module = self._classes.get(class_type, _EMPTY).get("python_module")
        return module if isinstance(module, str) else ""

    def required_inputs(self, class_type: str) -> tuple[str, ...]:
        return tuple(self._sections(class_type).get("required", _EMPTY))

    def input_spec(self, class_type: str, input_name: str) -> InputSpec | None:
        """The declaration of one input, or None if the class or the input is unknown."""
        sections = self._sections(class_type)
        for section in _SECTIONS:
            entries = sections.get(section, _EMPTY)
            if isinstance(entries, Mapping) and input_name in entries:
                return _parse_input(input_name, section, entries[input_name])
        return None

    def choices(self, class_type: str, input_name: str) -> tuple[str | int, ...] | None:
        """The values a combo input accepts (V1 list or V3 `COMBO` options); None if not a combo."""
        spec = self.input_spec(class_type, input_name)
        return spec.choices if spec else None

    def _sections(self, class_type: str) -> Mapping[str, Any]:
        sections = self._classes.get(class_type, _EMPTY).get("input", _EMPTY)
        return sections if isinstance(sections, Mapping) else _EMPTY


def _parse_input(name: str, section: str, raw: Any) -> InputSpec:
    """Read `[TYPE, {opts}]`, `[[choice, ...], {opts}]`, `["COMBO", {"options": [...]}]` or `"PROMPT"`."""
    if isinstance(raw, str):
        return InputSpec(name=name, type=raw, section=section)
    if not isinstance(raw, list | tuple) or not raw:
        log.debug("Unreadable declaration for input %s: %r", name, raw)
        return InputSpec(name=name, type="*", section=section)
    head = raw[0]
    opts = raw[1] if len(raw) > 1 and isinstance(raw[1], Mapping) else _EMPTY
    choices: tuple[str | int, ...] | None = None
    if isinstance(head, list | tuple):
        type_name, choices = "COMBO", tuple(head)
    else:
        type_name = str(head)
        if type_name == "COMBO":
            choices = tuple(opts.get("options") or ())
    return InputSpec(
        name=name,
        type=type_name,
        section=section,
        choices=choices,
        default=opts.get("default"),
        min=_number(opts.get("min")),
        max=_number(opts.get("max")),
        options=MappingProxyType(dict(opts)),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value
