"""Turn config.yaml plus secrets from the environment into a frozen Config, or say all that is wrong."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from discomfy.config.environment import environment_problems, read_environment
from discomfy.config.errors import ConfigError, ConfigProblem, InvalidConfigError
from discomfy.config.problems import key_path, split_unsettable, validate
from discomfy.config.settings import Config, Sources

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("config.yaml")

_NO_FILE = "<no config file>"


def load_config(path: Path | None, *, env: Mapping[str, str] | None = None, require_token: bool = False) -> Config:
    """Read and validate everything at startup, so a bad setting stops the bot before it connects.

    `env` defaults to os.environ. The bot passes `require_token=True` so a missing DISCORD_TOKEN is
    listed with the other problems; tools that never log in to Discord leave it False.

    Raises:
        ConfigError: the file is missing or not YAML (naming the line);
            InvalidConfigError (a ConfigError) listing every invalid key and variable.
    """
    env = read_environment(os.environ if env is None else env)
    path = None if path is None else Path(path)
    if path is None or (path == DEFAULT_CONFIG_PATH and not path.exists()):
        label, sources, data = _NO_FILE, Sources(env=env), {}
        log.debug("No config file; running on defaults")
    else:
        label, sources = str(path), Sources(folder=path.resolve().parent, file=path, env=env)
        data = _read_yaml(path, label)
    data, problems = _split_secrets(data)
    data, unsettable = split_unsettable(Config, data)
    problems += unsettable
    config = validate(Config, data, problems, sources)
    problems += environment_problems(env, require_token=require_token)
    if problems or config is None:
        raise InvalidConfigError(label, problems)
    return config


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a repeated key, which plain safe_load silently lets win."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        if len(mapping) < len(node.value):
            seen: set[Any] = set()
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return mapping


def _read_yaml(path: Path, label: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(label, "", "file not found (copy config.example.yaml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(label, "", f"cannot read the file: {exc}") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(label, "", f"invalid YAML{_yaml_location(exc)}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(label, "", f"invalid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(label, "", "invalid YAML: nested too deeply") from None
    loop = _alias_loop(data)
    if loop is not None:
        raise ConfigError(label, loop, "contains itself (a YAML alias inside its own anchor)")
    return {} if data is None else data


def _alias_loop(data: Any) -> str | None:
    """The key path of a value that contains itself (`a: &x {b: *x}`), which no setting can be; else None."""
    stack: list[tuple[Any, tuple[Any, ...], bool]] = [(data, (), False)]
    open_ids: set[int] = set()
    while stack:  # depth first without recursion: a deep file must not overflow the stack here either
        value, loc, leaving = stack.pop()
        if leaving:
            open_ids.discard(id(value))
            continue
        if not isinstance(value, dict | list):
            continue
        if id(value) in open_ids:
            return key_path(loc) or "(top level)"
        open_ids.add(id(value))
        stack.append((value, loc, True))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        stack.extend((child, (*loc, key), False) for key, child in items)
    return None


def _yaml_location(exc: yaml.MarkedYAMLError) -> str:
    """Where the parser gave up, plus where the unclosed construct began when that is elsewhere."""
    mark, text = exc.problem_mark or exc.context_mark, f": {exc.problem or exc.context}"
    where = f" at line {mark.line + 1}, column {mark.column + 1}{text}" if mark else text
    if exc.context and exc.context_mark and mark and exc.context_mark.line != mark.line:
        where += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return where


_SECRET_WORDS = ("token", "apikey", "api_key", "api-key", "password", "passwd", "secret")


def _env_hint(loc: tuple[Any, ...]) -> str:
    key = str(loc[-1]).lower()
    if loc[0] == "comfy" or "key" in key:
        return "COMFY_API_KEY" if "key" in key or "token" in key else "COMFY_USERNAME and COMFY_PASSWORD"
    return "DISCORD_TOKEN" if "token" in key else "the matching variable"


def _split_secrets(data: Any, loc: tuple[Any, ...] = ()) -> tuple[Any, list[ConfigProblem]]:
    """Drop secret-looking keys, reporting each without its value, so validation sees only the rest."""
    if isinstance(data, list):
        pairs = [_split_secrets(item, (*loc, index)) for index, item in enumerate(data)]
        return [kept for kept, _ in pairs], [problem for _, found in pairs for problem in found]
    if not isinstance(data, dict):
        return data, []
    kept: dict[Any, Any] = {}
    problems: list[ConfigProblem] = []
    for key, value in data.items():
        if any(word in str(key).lower() for word in _SECRET_WORDS):
            hint = _env_hint((*loc, key))
            message = f"secrets are not read from the config file; set {hint} in .env or the environment instead"
            problems.append(ConfigProblem(key_path((*loc, key)), message))
        else:
            kept[key], found = _split_secrets(value, (*loc, key))
            problems.extend(found)
    return kept, problems
