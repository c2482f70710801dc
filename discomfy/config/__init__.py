"""Settings: config.yaml plus secrets from the environment, validated at startup into frozen settings."""

from __future__ import annotations

from discomfy.config.errors import ConfigError
from discomfy.config.loader import (
    DEFAULT_CONFIG_PATH,
    ENV_VARIABLES,
    Config,
    DiscordSettings,
    InvalidConfigError,
    LimitSettings,
    LoggingSettings,
    Secret,
    StorageSettings,
    UploadSettings,
    WorkflowSettings,
    load_config,
)
from discomfy.config.schema import ConfigProblem

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ENV_VARIABLES",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "DiscordSettings",
    "InvalidConfigError",
    "LimitSettings",
    "LoggingSettings",
    "Secret",
    "StorageSettings",
    "UploadSettings",
    "WorkflowSettings",
    "load_config",
]
