"""Secrets come only from the environment: which variables, what they become, and what is wrong with them."""

from __future__ import annotations

import base64
import hmac
import re
from typing import TYPE_CHECKING, Any

from pydantic_core import core_schema

from discomfy.config.errors import ConfigProblem

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic import GetCoreSchemaHandler

ENV_VARIABLES = ("DISCORD_TOKEN", "COMFY_API_KEY", "COMFY_USERNAME", "COMFY_PASSWORD")
SERVER_KEY_VARIABLE = re.compile(r"^COMFY_[A-Z0-9_]+_API_KEY$")  # one server's key of comfy.servers


class Secret:
    """A credential whose repr and str never show it, so printing a Config cannot leak it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """A model field of this type takes the variable's text, or a Secret already made."""
        return core_schema.no_info_before_validator_function(
            lambda value: cls(value) if isinstance(value, str) else value, core_schema.is_instance_schema(cls)
        )

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


def read_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The variables that are set; blank counts as unset, since .env.example ships every one empty."""
    names = [*ENV_VARIABLES, *(name for name in env if SERVER_KEY_VARIABLE.match(name))]
    return {name: value.strip() for name in names if (value := env.get(name, "")).strip()}


def auth_headers(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The Authorization header for a proxy in front of ComfyUI: a bearer key, or basic auth, or none."""
    if "COMFY_API_KEY" in env:
        return (("Authorization", f"Bearer {env['COMFY_API_KEY']}"),)
    if "COMFY_USERNAME" in env and "COMFY_PASSWORD" in env:
        pair = f"{env['COMFY_USERNAME']}:{env['COMFY_PASSWORD']}"
        return (("Authorization", f"Basic {base64.b64encode(pair.encode()).decode()}"),)
    return ()


def server_headers(env: Mapping[str, str], variable: str) -> tuple[tuple[str, str], ...]:
    """One server's bearer key from its own variable; without it, the server shares the common credentials."""
    return (("Authorization", f"Bearer {env[variable]}"),) if variable in env else ()


def environment_problems(env: Mapping[str, str], *, require_token: bool) -> list[ConfigProblem]:
    """A missing token or a contradiction among the credentials, listed after the file's problems."""
    problems = []
    if require_token and "DISCORD_TOKEN" not in env:
        message = "not set; put DISCORD_TOKEN=<your bot token> in .env or the environment (see .env.example)"
        problems.append(ConfigProblem("DISCORD_TOKEN", message))
    basic = [name for name in ("COMFY_USERNAME", "COMFY_PASSWORD") if name in env]
    if "COMFY_API_KEY" in env and basic:
        message = "set either COMFY_API_KEY or COMFY_USERNAME/COMFY_PASSWORD, not both"
        problems.append(ConfigProblem("COMFY_API_KEY", message))
    elif len(basic) == 1:
        missing = "COMFY_PASSWORD" if basic == ["COMFY_USERNAME"] else "COMFY_USERNAME"
        message = "not set; COMFY_USERNAME and COMFY_PASSWORD go together (set both or neither)"
        problems.append(ConfigProblem(missing, message))
    return problems
