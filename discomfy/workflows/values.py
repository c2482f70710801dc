"""Checking user values against parameter specs, and reading typed values out of command-line text."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

from discomfy.workflows.errors import InvalidParameterError
from discomfy.workflows.model import ParamSpec, ParamType

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_INT_RE = re.compile(r"[+-]?\d+")
_INVISIBLE = frozenset({"Cc", "Cf"})  # control and format characters (zero-width space, joiners, BOM...)
MAX_IMAGE_NAME = 255


def coerce_value(param: ParamSpec, value: Any) -> Any:
    """Return `value` in the type the graph needs, or raise InvalidParameterError in plain words."""
    match param.type:
        case ParamType.INT:
            return _check_range(param, _to_int(param, value))
        case ParamType.FLOAT:
            return _check_range(param, _to_float(param, value))
        case ParamType.BOOL:
            return _to_bool(param, value)
        case ParamType.CHOICE:
            return _to_choice(param, value)
        case ParamType.IMAGE:
            return _to_image(param, value)
        case _:
            return _to_str(param, value)


def _invalid(param: ParamSpec, value: Any, what: str | None = None) -> InvalidParameterError:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    allowed = param.describe_allowed()
    return InvalidParameterError(
        f"{param.name} must be {what or allowed} (got {shown}).",
        parameter=param.name,
        allowed=allowed,
    )


def _to_int(param: ParamSpec, value: Any) -> int:
    if isinstance(value, bool):
        raise _invalid(param, value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return int(value.strip())
    raise _invalid(param, value)


def _to_float(param: ParamSpec, value: Any) -> float | int:
    if isinstance(value, bool):
        raise _invalid(param, value)
    if isinstance(value, int):
        return value  # exact, and ComfyUI takes ints for FLOAT inputs
    if isinstance(value, float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _invalid(param, value) from None
    else:
        raise _invalid(param, value)
    if not math.isfinite(number):
        raise _invalid(param, value)
    return number


def _check_range(param: ParamSpec, number: int | float) -> int | float:
    too_low = param.min is not None and number < param.min
    too_high = param.max is not None and number > param.max
    off_step = param.multiple_of is not None and isinstance(number, int) and number % param.multiple_of != 0
    if too_low or too_high or off_step:
        raise _invalid(param, number)
    return number


def _to_bool(param: ParamSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _invalid(param, value)


def _to_choice(param: ParamSpec, value: Any) -> str:
    choices = param.choices or ()
    text = str(value) if isinstance(value, str | int | float) else None
    if text in choices:
        return text
    folded = {c.casefold(): c for c in choices}
    if text is not None and text.strip().casefold() in folded:
        return folded[text.strip().casefold()]
    raise _invalid(param, value)


def _to_image(param: ParamSpec, value: Any) -> str:
    limit = param.max_length or MAX_IMAGE_NAME
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        raise _invalid(param, value, "the name of an uploaded image")
    if len(value) > limit:
        raise _invalid(param, value, f"an image name of at most {limit} characters")
    return value


def _to_str(param: ParamSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid(param, value, "text")
    if param.required and not _visible(value):
        raise InvalidParameterError(f"{param.name} must not be empty.", parameter=param.name, allowed="text")
    if param.max_length is not None and len(value) > param.max_length:
        raise InvalidParameterError(
            f"{param.name} is too long: {len(value)} characters, the limit is {param.max_length}.",
            parameter=param.name,
            allowed=param.describe_allowed(),
        )
    return value


def _visible(text: str) -> bool:
    """True if anything is left once spaces, zero-width and other invisible format characters are dropped."""
    return any(not char.isspace() and unicodedata.category(char) not in _INVISIBLE for char in text)


def parse_text(text: str) -> Any:
    """Read a command-line value with no type to go by: bool, int, float, JSON, else the string."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INT_RE.fullmatch(stripped):
        return int(stripped)
    try:
        number = float(stripped)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
    if stripped[:1] in ('"', "[", "{") or stripped == "null":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return text
    return text


def parse_text_like(text: str, current: Any) -> Any:
    """Read a command-line value as the same type as the value it replaces; raises ValueError."""
    if isinstance(current, bool):
        lowered = text.strip().lower()
        if lowered not in _TRUE | _FALSE:
            raise ValueError("expected true or false")
        return lowered in _TRUE
    if isinstance(current, int | float):
        # JSON from the browser writes 7.0 as 7, so an int in the graph may be a FLOAT input.
        if _INT_RE.fullmatch(text.strip()):
            return int(text.strip()) if isinstance(current, int) else float(text.strip())
        try:
            number = float(text.strip())
        except ValueError:
            raise ValueError("expected a number") from None
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    if isinstance(current, str):
        return text
    return parse_text(text)
