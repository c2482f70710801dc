"""How to reach the ComfyUI servers and how patient to be with them: frozen models, checked when made."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self, cast

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError, PydanticKnownError

if TYPE_CHECKING:
    from pydantic_core.core_schema import ErrorType

_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _http_url(value: Any) -> str:
    """An http(s) URL without its trailing slash, since the client appends paths; credentials are refused."""
    try:
        url = _HTTP_URL.validate_python(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise PydanticKnownError(cast("ErrorType", error["type"]), error.get("ctx")) from None  # pydantic's own type
    if url.username or url.password:
        raise PydanticCustomError("url_credentials", "credentials do not belong in the URL (it gets logged)")
    return str(url).rstrip("/")


_Seconds = Annotated[float, Field(gt=0)]
_Positive = Annotated[float, Field(gt=0)]


def _absolute_folder(value: Any) -> Any:
    """A folder given in the config file: text accepted, and it must be absolute (relative to what, otherwise?)."""
    if value is None or isinstance(value, Path):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("config", "expected a folder path")
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise PydanticCustomError("config", "expected an absolute path, e.g. /home/me/ComfyUI/output")
    return path


SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
DEFAULT_SERVER = "default"  # the name of the one server `comfy.url` describes


def server_key_variable(name: str) -> str:
    """The environment variable holding one server's API key: `COMFY_<NAME>_API_KEY`, NAME upper-cased."""
    return f"COMFY_{name.upper().replace('-', '_')}_API_KEY"


def _list_to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class ServerSettings(BaseModel):
    """One entry of `comfy.servers`: a ComfyUI server by name, with its share of the work."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Annotated[str, Field(pattern=SERVER_NAME.pattern)]  # in logs, /queue, /server and its key's variable
    url: Annotated[str, BeforeValidator(_http_url)]
    weight: Annotated[float, Field(gt=0)] = 1.0  # twice the weight takes twice the load
    enabled: bool = True  # false: not connected to, nothing routed there
    headers: tuple[tuple[str, str], ...] = Field(default=(), repr=False)  # from COMFY_<NAME>_API_KEY


@dataclass(frozen=True, slots=True)
class ComfyServer:
    """A server as the pool runs it: its name and weight, and the settings of its own ComfyService."""

    name: str
    weight: float
    settings: ComfySettings


class ComfySettings(BaseModel):
    """How to reach one ComfyUI server and how patient to be with it."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    url: Annotated[str, BeforeValidator(_http_url)] = "http://127.0.0.1:8188"  # with a path behind a proxy
    headers: tuple[tuple[str, str], ...] = Field(default=(), repr=False)  # e.g. a proxy's Authorization
    request_timeout: _Seconds = 30.0  # for any single HTTP request
    submit_retries: Annotated[int, Field(ge=0)] = 4  # further tries of a POST /prompt that could not connect
    submit_deadline: _Seconds = 60.0  # a submission with all its retries, while the WebSocket is connected
    reconnect_min_delay: _Seconds = 0.5  # first wait before reconnecting the WebSocket, doubled up to the max
    reconnect_max_delay: _Seconds = 30.0  # at least reconnect_min_delay
    watchdog_interval: _Seconds = 15.0  # a job silent this long is looked up in /queue and /history
    give_up_after: _Seconds = 600.0  # a job whose fate ComfyUI cannot tell us for this long fails, saying why
    queue_refresh_delay: Annotated[float, Field(ge=0)] = 0.05  # coalesces a burst of `status` into one GET /queue
    download_dir: Path = Path("data/outputs")  # where output files are saved
    download_chunk_size: Annotated[int, Field(ge=1)] = 1024 * 1024  # bytes read per step of a download
    max_download_mb: _Positive = 2048.0  # a larger output file is refused, never written to disk
    download_deadline: _Seconds = 900.0  # seconds one output file may take in all, however it trickles
    max_outputs: Annotated[int, Field(ge=1)] = 50  # files fetched per job; more are listed, not fetched
    # ComfyUI's output folder, when this machine can read it (same box, or a shared volume): results are taken
    # from there at once instead of over HTTP, whatever ComfyUI is busy with (its post-job pause stalls HTTP)
    local_output_dir: Annotated[Path | None, BeforeValidator(_absolute_folder)] = None
    # Several servers, each {name, url, weight, enabled}; empty: the one server at `url`
    servers: Annotated[tuple[ServerSettings, ...], BeforeValidator(_list_to_tuple)] = ()

    @property
    def max_download_bytes(self) -> int:
        return int(self.max_download_mb * 1024 * 1024)

    def enabled_servers(self) -> tuple[ComfyServer, ...]:
        """The servers to run, in the order written; `url` alone is one server named `default`."""
        if not self.servers:
            return (ComfyServer(DEFAULT_SERVER, 1.0, self),)
        return tuple(
            ComfyServer(
                s.name,
                s.weight,
                self.model_copy(update={"url": s.url, "headers": s.headers or self.headers, "servers": ()}),
            )
            for s in self.servers
            if s.enabled
        )

    @field_validator("servers")
    @classmethod
    def _servers_usable(cls, servers: tuple[ServerSettings, ...], info: ValidationInfo) -> tuple[ServerSettings, ...]:
        seen: dict[str, int] = {}
        for index, server in enumerate(servers):
            variable = server_key_variable(server.name)
            if variable in seen:  # names differing only in case or -/_ share a variable
                raise PydanticCustomError(
                    "config",
                    "the name '{name}' is taken (by server {other}); names must differ",
                    {"key": index, "name": server.name, "other": seen[variable]},
                )
            seen[variable] = index
        if servers and not any(server.enabled for server in servers):
            raise PydanticCustomError("config", "expected at least one server with enabled: true")
        return servers

    @model_validator(mode="after")
    def _url_or_servers(self) -> Self:
        if self.servers and "url" in self.model_fields_set:
            raise PydanticCustomError(
                "config",
                "give either comfy.url (one server) or comfy.servers (several), not both",
                {"key": "url"},
            )
        return self

    @field_validator("reconnect_max_delay")
    @classmethod
    def _max_delay_not_below_min(cls, value: float, info: ValidationInfo) -> float:
        least = info.data.get("reconnect_min_delay", value)
        if value < least:
            raise PydanticKnownError("greater_than_equal", {"ge": least})
        return value
