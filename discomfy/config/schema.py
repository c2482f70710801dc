"""config.yaml's format as pydantic models, and their validation errors as messages an admin can act on."""

from __future__ import annotations

import base64
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar

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

from discomfy.comfy.settings import ComfySettings

_DEFAULT_COMFY = ComfySettings()
_M = TypeVar("_M", bound="BaseModel")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong, located by its key path (`limits.max_count`) or environment variable."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


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


class File(_Section):
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


class DiscordEnv(_Env):
    """The bot token: only ever from the environment, which bot.py fills from .env first."""

    discord_token: SecretStr | None = Field(default=None, alias="DISCORD_TOKEN")


class RequiredDiscordEnv(DiscordEnv):
    discord_token: SecretStr = Field(alias="DISCORD_TOKEN")


class ComfyEnv(_Env):
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


# ---- pydantic's errors as ConfigProblems ------------------------------------------------------


def validate(model: type[_M], data: Any, problems: list[ConfigProblem]) -> _M | None:
    """The model, or None with every error appended to `problems`, so one pass reports them all."""
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
    key = key_path(loc)
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


def key_path(loc: tuple[Any, ...]) -> str:
    """`limits.max_count` or `discord.guild_ids[2]`: the spelling an admin finds in config.yaml."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
