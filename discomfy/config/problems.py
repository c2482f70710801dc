"""pydantic's validation errors as ConfigProblems: the key path an admin finds in config.yaml, and plain words."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from discomfy.config.errors import ConfigProblem
from discomfy.config.settings import file_keys

if TYPE_CHECKING:
    from discomfy.config.settings import Sources

_M = TypeVar("_M", bound=BaseModel)


def validate(model: type[_M], data: Any, problems: list[ConfigProblem], sources: Sources) -> _M | None:
    """The model, or None with every error appended to `problems`, so one pass reports them all."""
    try:
        return model.model_validate(data, context=sources)
    except ValidationError as exc:
        problems.extend(_problem(model, error) for error in exc.errors())
        return None


def split_unsettable(model: type[BaseModel], data: Any, loc: tuple[Any, ...] = ()) -> tuple[Any, list[ConfigProblem]]:
    """Drop keys naming fields that validation fills in (`source`, `comfy.headers`), reported as unknown keys."""
    if not isinstance(data, dict):
        return data, []
    kept: dict[Any, Any] = {}
    problems: list[ConfigProblem] = []
    for key, value in data.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is not None and key not in file_keys(model):
            problems.append(ConfigProblem(key_path((*loc, key)), _unknown_key(model, key)))
            continue
        section = _model_of(field.annotation) if field is not None else None
        entry = _entry_model_of(field.annotation) if field is not None else None
        if section is not None:
            kept[key], found = split_unsettable(section, value, (*loc, key))
        elif entry is not None and isinstance(value, list):  # a list of sections, such as comfy.servers
            pairs = [split_unsettable(entry, item, (*loc, key, index)) for index, item in enumerate(value)]
            kept[key], found = [item for item, _ in pairs], [problem for _, more in pairs for problem in more]
        else:
            kept[key], found = value, []
        problems.extend(found)
    return kept, problems


def key_path(loc: tuple[Any, ...]) -> str:
    """`limits.max_count` or `discord.guild_ids[2]`: the spelling an admin finds in config.yaml."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


_URL = "an http:// or https:// URL such as http://127.0.0.1:8188"
_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "string_too_short": "non-empty text",
    "tuple_type": "a list such as [123, 456]",
    "model_type": "a mapping of keys",
    "url_type": _URL,
    "url_parsing": _URL,
    "url_scheme": _URL,
    "url_syntax_violation": _URL,
    "greater_than": "a number above {gt:g}",
    "greater_than_equal": "a number of at least {ge:g}",
    "less_than_equal": "a number of at most {le:g}",
    "literal_error": "one of {expected}",
    "string_pattern_mismatch": "a name of letters, digits, '-' and '_' (at most 32, the first a letter or digit)",
}
_MESSAGES = {
    "missing": "required here, and not set",
    "url_credentials": "credentials do not belong in the URL; set COMFY_USERNAME and COMFY_PASSWORD "
    "(or COMFY_API_KEY) in .env instead",
}


def _problem(model: type[BaseModel], error: Any) -> ConfigProblem:
    kind, loc, ctx = error["type"], tuple(error["loc"]), error.get("ctx") or {}
    if "key" in ctx:
        loc = (*loc, ctx["key"])
    key = key_path(loc)
    if kind == "extra_forbidden":
        section = _section(model, loc[:-1])
        return ConfigProblem(key, _unknown_key(section, loc[-1]) if section else "unknown key")
    if kind in _MESSAGES:
        return ConfigProblem(key, _MESSAGES[kind])
    if kind == "tuple_type" and _section(model, loc) is not None:  # a list of sections, such as comfy.servers
        return ConfigProblem(key, f"expected a list with a mapping of keys per entry, got {_shown(error['input'])}")
    if kind in _EXPECTED:
        expected = _EXPECTED[kind].format(**ctx)
        return ConfigProblem(key, f"expected {expected}, got {_shown(error['input'])}")
    return ConfigProblem(key, error["msg"])


def _section(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model a key path leads to, or None where it leads into something else (a list, a value)."""
    for part in loc:
        if isinstance(part, int):
            continue  # an entry of a list of sections: its model was taken from the list's field
        field = model.model_fields.get(str(part))
        section = (_model_of(field.annotation) or _entry_model_of(field.annotation)) if field is not None else None
        if section is None:
            return None
        model = section
    return model


def _model_of(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _entry_model_of(annotation: Any) -> type[BaseModel] | None:
    """The model of each entry of a `tuple[Model, ...]` field."""
    args = getattr(annotation, "__args__", ())
    return _model_of(args[0]) if args and getattr(annotation, "__origin__", None) is tuple else None


def _unknown_key(model: type[BaseModel], key: Any) -> str:
    known = file_keys(model)
    close = difflib.get_close_matches(str(key), known, n=1)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key{guess}; expected one of: {', '.join(known)}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
