"""The settings, one frozen model per section of config.yaml: each field's type, default and limit, once."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError, PydanticKnownError

from discomfy.comfy.settings import ComfySettings, ServerSettings, server_key_variable
from discomfy.config.environment import Secret, auth_headers, server_headers

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, slots=True)
class Sources:
    """The validation context: what the settings come from besides the file's text."""

    folder: Path = field(default_factory=Path.cwd)  # relative paths are relative to it
    file: Path | None = None  # becomes Config.source
    env: Mapping[str, str] = field(default_factory=dict)  # the variables set, as read_environment gives them


def _sources(info: ValidationInfo) -> Sources:
    """Without a context (a model made in code) paths are relative to the working directory."""
    return info.context if isinstance(info.context, Sources) else Sources()


# ---- value types ------------------------------------------------------------------------------


def _digits_to_int(value: Any) -> Any:
    """Discord ids are often pasted quoted; they are still numbers."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return value


def _list_to_tuple(value: Any) -> Any:
    """YAML writes lists; a frozen model keeps tuples."""
    return tuple(value) if isinstance(value, list) else value


def _unique(values: tuple[int, ...]) -> tuple[int, ...]:
    """An id listed twice is harmless, so it is dropped rather than refused."""
    return tuple(dict.fromkeys(values))


def _text_to_path(value: Any) -> Any:
    """The file writes paths as text; refuse text no file call could take, so it is named here, not at startup."""
    if isinstance(value, Path):
        return value
    if not isinstance(value, str):
        raise PydanticKnownError("string_type")
    if not value:
        raise PydanticKnownError("string_too_short", {"min_length": 1})
    if "\0" in value:
        raise PydanticCustomError("config", "expected a path, got text with a NUL character")
    return Path(value)


def _absolute(path: Path, info: ValidationInfo) -> Path:
    """Relative to the config file's folder, so the bot finds the same files wherever it is started from."""
    try:
        expanded = path.expanduser()
    except RuntimeError:  # `~name/...` for a user this system does not have
        raise PydanticCustomError(
            "config", "cannot expand '{value}': no such user or home directory", {"value": str(path)[:60]}
        ) from None
    return (_sources(info).folder / expanded).resolve()


def _program(value: str, info: ValidationInfo) -> str:
    """A bare name is looked up on PATH when run; anything with a slash is a path like the others."""
    path = _absolute(_text_to_path(value), info)
    return str(path) if "/" in value or os.sep in value else value


_Snowflake = Annotated[int, BeforeValidator(_digits_to_int), Field(gt=0)]
_Ids = Annotated[tuple[_Snowflake, ...], BeforeValidator(_list_to_tuple), AfterValidator(_unique)]
_Count = Annotated[int, Field(ge=1)]
_Text = Annotated[str, Field(min_length=1)]
_AbsolutePath = Annotated[Path, BeforeValidator(_text_to_path), AfterValidator(_absolute)]


# ---- the sections -----------------------------------------------------------------------------


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class _Section(BaseModel):
    """Unknown keys and loose types ("3" for 3) are refused, and nothing changes once validated."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=True)


class DiscordSettings(_Section):
    """Who the bot is and whom it treats as an admin; ids are ints whatever the YAML wrote."""

    token: Secret | None = None  # DISCORD_TOKEN, never the file; load_config(require_token=True) insists
    guild_ids: _Ids = ()  # commands sync instantly to these guilds; empty means global sync
    admin_role_ids: _Ids = ()  # roles allowed the admin commands; Discord's own permissions do not count
    admin_user_ids: _Ids = ()  # users allowed the admin commands
    # discord.py's AutoShardedBot: "auto" when Discord recommends more than one shard (about 1000+ guilds)
    sharding: Literal["auto", "on", "off"] = "auto"


class WorkflowSettings(_Section):
    """Where workflow files live and which ones the commands fall back to."""

    directory: _AbsolutePath = Path("workflows")  # API-format JSON files and their YAML mappings
    default: _Text | None = None  # None: the first workflow loaded
    upscale: _Text | None = None  # None: no Upscale button


class LimitSettings(_Section):
    """What one user, and everyone together, may ask of a single GPU."""

    max_pending_per_user: _Count = 3  # jobs queued or running per user; at most max_pending_total
    max_pending_total: _Count = 25  # jobs queued or running for the whole bot
    cooldown_seconds: Annotated[float, Field(ge=0)] = 5.0  # between one user's jobs; 0: none; admins exempt
    max_count: _Count = 4  # highest `count` of /generate
    max_batch: _Count = 8  # highest batch size of /batch
    default_batch: _Count = 4  # /batch without a size; at most max_batch
    variations: _Count = 4  # images the Variations button makes
    max_sweep_cells: Annotated[int, Field(ge=1, le=100)] = 16  # cells of a /sweep grid; 100: 4 selects of 25
    max_prompt_length: Annotated[int, Field(ge=1, le=6000)] = 1500  # characters; 6000: Discord's option cap
    max_input_image_mb: Annotated[float, Field(gt=0)] = 20.0  # largest input image accepted

    @property
    def max_input_image_bytes(self) -> int:
        return int(self.max_input_image_mb * 1024 * 1024)

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
                {"key": "max_pending_per_user", "total": self.max_pending_total, "value": self.max_pending_per_user},
            )
        return self


class SchedulerSettings(_Section):
    """The bot's own queue in front of ComfyUI: how far ahead it submits, and who goes first."""

    look_ahead: Annotated[int, Field(ge=1)] = 2  # prompts of ours per server at once (running + waiting there)
    admins_first: bool = False  # admins' jobs before everyone else's (round robin among admins)
    failover_grace: Annotated[float, Field(gt=0)] = 30.0  # seconds a server may be away before its waiting jobs move


class UploadSettings(_Section):
    """How results reach Discord: video re-encoding and the pace of progress edits."""

    transcode_video: bool = True  # re-encode a video over the upload limit to a smaller MP4
    ffmpeg: Annotated[_Text, AfterValidator(_program)] = "ffmpeg"  # a name looked up on PATH, or a path
    edit_interval: Annotated[float, Field(ge=0.5)] = 1.5  # Discord allows ~5 edits per 5 s


class StorageSettings(_Section):
    """Where state survives a restart; both paths are absolute."""

    database: _AbsolutePath = Path("data/discomfy.sqlite3")  # jobs, so buttons and unfinished jobs survive
    outputs: _AbsolutePath = Path("data/outputs")  # also comfy.download_dir
    keep_outputs_days: Annotated[float, Field(gt=0)] | None = None  # delivered jobs' files older: deleted; null: kept
    keep_outputs_gb: Annotated[float, Field(gt=0)] | None = None  # delivered jobs' files beyond: oldest deleted


class LoggingSettings(_Section):
    """Console verbosity for setup_logging."""

    level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = "INFO"  # any case


class Config(_Section):
    """Everything the bot is told, already validated; paths are absolute."""

    comfy: ComfySettings = Field(default_factory=ComfySettings)  # download_dir is storage.outputs
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    workflows: WorkflowSettings = Field(default_factory=WorkflowSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    source: Path | None = None  # the file read, or None when running on defaults

    @model_validator(mode="before")
    @classmethod
    def _fill_in(cls, data: Any, info: ValidationInfo) -> Any:
        """Add what the file does not say: empty sections, the download folder, the secrets, the file's path."""
        if not isinstance(data, dict):
            return data
        data = {**data, **{name: {} for name in file_keys(cls) if data.get(name) is None}}
        _download_into_storage(data, info)
        if isinstance(info.context, Sources):
            data["source"] = info.context.file
            env = info.context.env
            if isinstance(data["discord"], dict):
                data["discord"] = {**data["discord"], "token": env.get("DISCORD_TOKEN")}
            if isinstance(data["comfy"], dict):
                data["comfy"] = {**data["comfy"], "headers": auth_headers(env)}
                _server_credentials(data["comfy"], env)
        return data

    def secret_values(self) -> tuple[str, ...]:
        """Every credential as it could appear in text, for `setup_logging(secrets=...)`."""
        values = [self.discord.token.reveal() if self.discord.token else ""]
        headers = [*self.comfy.headers, *(h for server in self.comfy.servers for h in server.headers)]
        for _name, value in headers:
            scheme, _, credential = value.partition(" ")
            values += [value, credential]
            if scheme == "Basic":
                values.append(base64.b64decode(credential).decode().partition(":")[2])
        return tuple(v for v in values if v)


def _server_credentials(comfy: dict[Any, Any], env: Mapping[str, str]) -> None:
    """Each server of comfy.servers gets its own key from COMFY_<NAME>_API_KEY, when that is set."""
    servers = comfy.get("servers")
    if not isinstance(servers, list):
        return
    comfy["servers"] = [
        {**server, "headers": server_headers(env, server_key_variable(server["name"]))}
        if isinstance(server, dict) and isinstance(server.get("name"), str)
        else server
        for server in servers
    ]


def _download_into_storage(data: dict[Any, Any], info: ValidationInfo) -> None:
    """ComfyUI's outputs are downloaded into storage.outputs, so storage is read first to tell comfy where."""
    storage = data["storage"]
    if isinstance(storage, dict):
        try:
            storage = StorageSettings.model_validate(storage, context=info.context)
        except ValidationError:
            return  # reported when the field itself is validated
    if isinstance(storage, StorageSettings) and isinstance(data["comfy"], dict):
        data["storage"] = storage
        data["comfy"] = {**data["comfy"], "download_dir": storage.outputs}


# ComfyUI's tuning (retries, delays, chunk size) is for code and tests; the file offers only these.
_COMFY_FILE_KEYS = (
    "url",
    "request_timeout",
    "watchdog_interval",
    "reconnect_max_delay",
    "max_download_mb",
    "download_deadline",
    "max_outputs",
    "local_output_dir",
    "servers",
)
# Fields validation fills in from the Sources, never from the file.
_FILLED_IN: dict[type[BaseModel], tuple[str, ...]] = {
    Config: ("source",),
    DiscordSettings: ("token",),
    ServerSettings: ("headers",),
}


def file_keys(model: type[BaseModel]) -> tuple[str, ...]:
    """The keys config.yaml may write in a section, in the order the model declares them."""
    if model is ComfySettings:
        return _COMFY_FILE_KEYS
    return tuple(name for name in model.model_fields if name not in _FILLED_IN.get(model, ()))
