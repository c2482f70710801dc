"""Turn config.yaml plus secrets from the environment into frozen settings, or say all that is wrong."""

from __future__ import annotations

import base64
import hmac
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from discomfy.comfy.settings import ComfySettings
from discomfy.config.errors import ConfigError
from discomfy.config.schema import (
    ComfyEnv,
    ConfigProblem,
    DiscordEnv,
    File,
    RequiredDiscordEnv,
    key_path,
    validate,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("config.yaml")
ENV_VARIABLES = ("DISCORD_TOKEN", "COMFY_API_KEY", "COMFY_USERNAME", "COMFY_PASSWORD")

_NO_FILE = "<no config file>"


class Secret:
    """A credential whose repr and str never show it, so printing a Config cannot leak it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)


# ---- the result: frozen dataclasses -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    """Who the bot is and whom it treats as an admin; ids are ints whatever the YAML wrote."""

    token: Secret | None  # None unless DISCORD_TOKEN is set; load_config(require_token=True) insists
    guild_ids: tuple[int, ...]  # commands sync instantly to these guilds; empty means global sync
    admin_role_ids: tuple[int, ...]
    admin_user_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class WorkflowSettings:
    """Where workflow files live and which ones the commands fall back to."""

    directory: Path
    default: str | None  # None: the first workflow loaded
    upscale: str | None


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """What one user, and everyone together, may ask of a single GPU."""

    max_pending_per_user: int
    max_pending_total: int
    cooldown_seconds: float
    max_count: int
    max_batch: int
    default_batch: int
    variations: int
    max_prompt_length: int
    max_input_image_mb: float

    @property
    def max_input_image_bytes(self) -> int:
        return int(self.max_input_image_mb * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class UploadSettings:
    """How results reach Discord: video re-encoding and the pace of progress edits."""

    transcode_video: bool
    ffmpeg: str  # a name looked up on PATH, or an absolute path
    edit_interval: float


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """Where state survives a restart; both paths are absolute."""

    database: Path
    outputs: Path


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    """Console verbosity for setup_logging: DEBUG, INFO, WARNING or ERROR."""

    level: str


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the bot is told, already validated; paths are absolute."""

    comfy: ComfySettings
    discord: DiscordSettings
    workflows: WorkflowSettings
    limits: LimitSettings
    uploads: UploadSettings
    storage: StorageSettings
    logging: LoggingSettings
    source: Path | None  # the file read, or None when running on defaults

    def secret_values(self) -> tuple[str, ...]:
        """Every credential as it could appear in text, for `setup_logging(secrets=...)`."""
        values = [self.discord.token.reveal() if self.discord.token else ""]
        for _name, value in self.comfy.headers:
            scheme, _, credential = value.partition(" ")
            values += [value, credential]
            if scheme == "Basic":
                values.append(base64.b64decode(credential).decode().partition(":")[2])
        return tuple(v for v in values if v)


class InvalidConfigError(ConfigError):
    """Every problem found in one pass, so an admin fixes the file once rather than once per key."""

    def __init__(self, file: str, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            super().__init__(file, self.problems[0].key, self.problems[0].message)
        else:
            lines = "\n".join(f"  {problem}" for problem in self.problems)
            super().__init__(file, "", f"{len(self.problems)} problems:\n{lines}")


# ---- loading ----------------------------------------------------------------------------------


def load_config(path: Path | None, *, env: Mapping[str, str] | None = None, require_token: bool = False) -> Config:
    """Read and validate everything at startup, so a bad setting stops the bot before it connects.

    `env` defaults to os.environ. The bot passes `require_token=True` so a missing DISCORD_TOKEN is
    listed with the other problems; tools that never log in to Discord leave it False.

    Raises:
        ConfigError: the file is missing or not YAML (naming the line);
            InvalidConfigError (a ConfigError) listing every invalid key and variable.
    """
    env = os.environ if env is None else env
    path = None if path is None else Path(path)
    if path is None or (path == DEFAULT_CONFIG_PATH and not path.exists()):
        label, source, base_dir, data = _NO_FILE, None, Path.cwd(), {}
        log.debug("No config file; running on defaults")
    else:
        label, source, base_dir = str(path), path, path.resolve().parent
        data = _read_yaml(path, label)
    data, problems = _split_secrets(data)
    file_model = validate(File, data, problems)
    values = _env_values(env)
    discord_env = validate(RequiredDiscordEnv if require_token else DiscordEnv, values, problems)
    comfy_env = validate(ComfyEnv, values, problems)
    if problems or file_model is None or discord_env is None or comfy_env is None:
        raise InvalidConfigError(label, problems)
    return _build(file_model, discord_env, comfy_env, base_dir, source)


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


def _env_values(env: Mapping[str, str]) -> dict[str, str]:
    """Blank values count as unset: .env.example ships every variable with an empty value."""
    return {name: value.strip() for name in ENV_VARIABLES if (value := env.get(name, "")).strip()}


def _build(file: File, discord_env: DiscordEnv, comfy_env: ComfyEnv, base_dir: Path, source: Path | None) -> Config:
    storage = StorageSettings(
        database=_resolve(base_dir, file.storage.database),
        outputs=_resolve(base_dir, file.storage.outputs),
    )
    comfy = ComfySettings(
        url=str(file.comfy.url).rstrip("/"),
        headers=comfy_env.auth_headers(),
        request_timeout=file.comfy.request_timeout,
        watchdog_interval=file.comfy.watchdog_interval,
        reconnect_max_delay=file.comfy.reconnect_max_delay,
        download_dir=storage.outputs,
    )
    discord = DiscordSettings(
        token=Secret(discord_env.discord_token.get_secret_value()) if discord_env.discord_token else None,
        guild_ids=tuple(dict.fromkeys(file.discord.guild_ids)),
        admin_role_ids=tuple(dict.fromkeys(file.discord.admin_role_ids)),
        admin_user_ids=tuple(dict.fromkeys(file.discord.admin_user_ids)),
    )
    workflows = WorkflowSettings(
        directory=_resolve(base_dir, file.workflows.directory),
        default=file.workflows.default,
        upscale=file.workflows.upscale,
    )
    uploads = UploadSettings(
        transcode_video=file.uploads.transcode_video,
        ffmpeg=_resolve_program(base_dir, file.uploads.ffmpeg),
        edit_interval=file.uploads.edit_interval,
    )
    return Config(
        comfy=comfy,
        discord=discord,
        workflows=workflows,
        limits=LimitSettings(**file.limits.model_dump()),
        uploads=uploads,
        storage=storage,
        logging=LoggingSettings(level=file.logging.level),
        source=source,
    )


def _resolve(base_dir: Path, value: str) -> Path:
    return (base_dir / Path(value).expanduser()).resolve()


def _resolve_program(base_dir: Path, value: str) -> str:
    """A bare name is looked up on PATH later; anything with a slash is a path like the others."""
    if "/" in value or os.sep in value:
        return str(_resolve(base_dir, value))
    return value
