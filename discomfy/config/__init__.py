"""Settings: config.yaml plus secrets from the environment, validated at startup into a frozen Config."""

from __future__ import annotations

from discomfy.config.environment import ENV_VARIABLES, Secret
from discomfy.config.errors import ConfigError, ConfigProblem, InvalidConfigError
from discomfy.config.loader import DEFAULT_CONFIG_PATH, load_config
from discomfy.config.settings import (
    Config,
    DiscordSettings,
    LimitSettings,
    LoggingSettings,
    SchedulerSettings,
    StorageSettings,
    UploadSettings,
    WorkflowSettings,
)

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
    "SchedulerSettings",
    "Secret",
    "StorageSettings",
    "UploadSettings",
    "WorkflowSettings",
    "load_config",
]
