"""Turn config.yaml plus secrets from the environment into frozen settings, or say all that is wrong."""

from __future__ import annotations

import base64
import difflib
import hmac
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from discomfy.comfy.models import ComfySettings
from discomfy.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("config.yaml")
ENV_VARIABLES = ("DISCORD_TOKEN", "COMFY_API_KEY", "COMFY_USERNAME", "COMFY_PASSWORD")

_DEFAULT_COMFY = ComfySettings()
_NO_FILE = "<no config file>"
_M = TypeVar("_M", bound="BaseModel")


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


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong, located by its key path (`limits.max_count`) or environment variable."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class InvalidConfigError(ConfigError):
    """Every problem found in one pass, so an admin fixes the file once rather than once per key."""

    def __init__(self, file: str, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            super().__init__(file, self.problems[0].key, self.problems[0].message)
        else:
            lines = "\n".join(f"  {problem}" for problem in self.problems)
            super().__init__(file, "", f"{len(self.problems)} problems:\n{lines}")


# ---- the file format: pydantic models ---------------------------------------------------------


def _digits_to_int(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


_Snowflake = Annotated[int, BeforeValidator(_digits_to_int), Field(gt=0)]
_Count = Annotated[int, Field(ge=1)]
_Seconds = Annotated[float, Field(gt=0)]
_Text = Annotated[str, Field(min_length=1)]


def _usable_path(value: str) -> str:
    """Refuse paths no file call could take, so they are named here rather than crash at startup."""
    if "\0" in value:
        raise PydanticCustomError("config", "expected a path, got text with a NUL character")
    try:
        Path(value).expanduser()
    except RuntimeError:  # `~name/...` for a user this system does not have
        raise PydanticCustomError(
            "config", "cannot expand '{value}': no such user or home directory", {"value": value[:60]}
        ) from None
    return value


_PathText = Annotated[_Text, AfterValidator(_usable_path)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Comfy(_Section):
    url: Annotated[HttpUrl, Field(strict=False)] = HttpUrl(_DEFAULT_COMFY.url)
    request_timeout: _Seconds = _DEFAULT_COMFY.request_timeout
    watchdog_interval: _Seconds = _DEFAULT_COMFY.watchdog_interval
    reconnect_max_delay: Annotated[float, Field(ge=_DEFAULT_COMFY.reconnect_min_delay)] = (
        _DEFAULT_COMFY.reconnect_max_delay
    )

    @field_validator("url")
    @classmethod
    def _no_credentials_in_url(cls, url: HttpUrl) -> HttpUrl:
        if url.username or url.password:
            raise PydanticCustomError(
                "config",
                "credentials do not belong in the URL; set COMFY_USERNAME and COMFY_PASSWORD "
                "(or COMFY_API_KEY) in .env instead",
            )
        return url


class _Discord(_Section):
    guild_ids: list[_Snowflake] = []
    admin_role_ids: list[_Snowflake] = []
    admin_user_ids: list[_Snowflake] = []


class _Workflows(_Section):
    directory: _PathText = "workflows"
    default: _Text | None = None
    upscale: _Text | None = None


class _Limits(_Section):
    max_pending_per_user: _Count = 3
    max_pending_total: _Count = 25
    cooldown_seconds: Annotated[float, Field(ge=0)] = 5.0
    max_count: _Count = 4
    max_batch: _Count = 8
    default_batch: _Count = 4
    variations: _Count = 4
    max_prompt_length: Annotated[int, Field(ge=1, le=6000)] = 1500  # 6000: Discord's option cap
    max_input_image_mb: Annotated[float, Field(gt=0)] = 20.0

    @model_validator(mode="after")
    def _defaults_within_maxima(self) -> Self:
        if self.default_batch > self.max_batch:
            raise PydanticCustomError(
                "config",
                "expected at most limits.max_batch ({max_batch}), got {value}",
                {"key": "default_batch", "max_batch": self.max_batch, "value": self.default_batch},
            )
        if self.max_pending_per_user > self.max_pending_total:
            raise PydanticCustomError(
                "config",
                "expected at most limits.max_pending_total ({total}), got {value}",
                {
                    "key": "max_pending_per_user",
                    "total": self.max_pending_total,
                    "value": self.max_pending_per_user,
                },
            )
        return self


class _Uploads(_Section):
    transcode_video: bool = True
    ffmpeg: _PathText = "ffmpeg"
    edit_interval: Annotated[float, Field(ge=0.5)] = 1.5  # Discord allows ~5 edits per 5 s


class _Storage(_Section):
    database: _PathText = "data/discomfy.sqlite3"
    outputs: _PathText = "data/outputs"


class _Logging(_Section):
    level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = "INFO"


class _File(_Section):
    comfy: _Comfy = Field(default_factory=_Comfy)
    discord: _Discord = Field(default_factory=_Discord)
    workflows: _Workflows = Field(default_factory=_Workflows)
    limits: _Limits = Field(default_factory=_Limits)
    uploads: _Uploads = Field(default_factory=_Uploads)
    storage: _Storage = Field(default_factory=_Storage)
    logging: _Logging = Field(default_factory=_Logging)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_section_means_defaults(cls, value: Any) -> Any:
        return {} if value is None else value


class _Env(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class _DiscordEnv(_Env):
    """The bot token: only ever from the environment, which bot.py fills from .env first."""

    discord_token: SecretStr | None = Field(default=None, alias="DISCORD_TOKEN")


class _RequiredDiscordEnv(_DiscordEnv):
    discord_token: SecretStr = Field(alias="DISCORD_TOKEN")


class _ComfyEnv(_Env):
    """Optional credentials for a proxy in front of ComfyUI; checked apart so both sets get reported."""

    comfy_api_key: SecretStr | None = Field(default=None, alias="COMFY_API_KEY")
    comfy_username: str | None = Field(default=None, alias="COMFY_USERNAME")
    comfy_password: SecretStr | None = Field(default=None, alias="COMFY_PASSWORD")

    @model_validator(mode="after")
    def _one_kind_of_credentials(self) -> Self:
        basic = self.comfy_username is not None or self.comfy_password is not None
        if self.comfy_api_key is not None and basic:
            raise PydanticCustomError(
                "config",
                "set either COMFY_API_KEY or COMFY_USERNAME/COMFY_PASSWORD, not both",
                {"key": "COMFY_API_KEY"},
            )
        if basic and (self.comfy_username is None or self.comfy_password is None):
            missing = "COMFY_PASSWORD" if self.comfy_password is None else "COMFY_USERNAME"
            raise PydanticCustomError(
                "config",
                "not set; COMFY_USERNAME and COMFY_PASSWORD go together (set both or neither)",
                {"key": missing},
            )
        return self

    def auth_headers(self) -> tuple[tuple[str, str], ...]:
        if self.comfy_api_key is not None:
            return (("Authorization", f"Bearer {self.comfy_api_key.get_secret_value()}"),)
        if self.comfy_username is not None and self.comfy_password is not None:
            pair = f"{self.comfy_username}:{self.comfy_password.get_secret_value()}"
            return (("Authorization", f"Basic {base64.b64encode(pair.encode()).decode()}"),)
        return ()


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
    file_model = _validate(_File, data, problems)
    values = _env_values(env)
    discord_env = _validate(_RequiredDiscordEnv if require_token else _DiscordEnv, values, problems)
    comfy_env = _validate(_ComfyEnv, values, problems)
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
            return _key_path(loc) or "(top level)"
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
            problems.append(ConfigProblem(_key_path((*loc, key)), message))
        else:
            kept[key], found = _split_secrets(value, (*loc, key))
            problems.extend(found)
    return kept, problems


def _env_values(env: Mapping[str, str]) -> dict[str, str]:
    """Blank values count as unset: .env.example ships every variable with an empty value."""
    return {name: value.strip() for name in ENV_VARIABLES if (value := env.get(name, "")).strip()}


def _validate(model: type[_M], data: Any, problems: list[ConfigProblem]) -> _M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problem(model, error) for error in exc.errors())
        return None


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
    "list_type": "a list such as [123, 456]",
    "model_type": "a mapping of keys",
    "dict_type": "a mapping of keys",
    "url_type": _URL,
    "url_parsing": _URL,
    "url_scheme": _URL,
    "url_syntax_violation": _URL,
    "greater_than": "a number above {gt:g}",
    "greater_than_equal": "a number of at least {ge:g}",
    "less_than_equal": "a number of at most {le:g}",
    "literal_error": "one of {expected}",
}
_MISSING = {
    "DISCORD_TOKEN": "not set; put DISCORD_TOKEN=<your bot token> in .env or the environment (see .env.example)",
}


def _problem(model: type[BaseModel], error: Any) -> ConfigProblem:
    kind, loc, ctx = error["type"], tuple(error["loc"]), error.get("ctx") or {}
    if "key" in ctx:
        loc = (*loc, ctx["key"])
    key = _key_path(loc)
    if kind == "extra_forbidden":
        return ConfigProblem(key, _unknown_key_message(model, loc))
    if kind == "missing":
        return ConfigProblem(key, _MISSING.get(key, "required but not set"))
    if kind in _EXPECTED:
        expected = _EXPECTED[kind].format(**ctx)
        return ConfigProblem(key, f"expected {expected}, got {_shown(error['input'])}")
    return ConfigProblem(key, error["msg"])


def _unknown_key_message(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return "unknown key"
        model = annotation
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key{guess}; expected one of: {', '.join(known)}"


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _build(file: _File, discord_env: _DiscordEnv, comfy_env: _ComfyEnv, base_dir: Path, source: Path | None) -> Config:
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
