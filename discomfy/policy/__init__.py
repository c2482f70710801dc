"""Running a community: settings per channel, category and server; age-restricted workflows; the prompt
blocklist; members' personal defaults. Pure rules over the store, free of Discord (the panels are in bot/)."""

from __future__ import annotations

from discomfy.policy.blocklist import Blocklist, compile_rule
from discomfy.policy.errors import (
    AgeRestrictedError,
    BlockedPromptError,
    ChannelClosedError,
    CountNotAllowedError,
    PolicyError,
    SettingError,
    WorkflowNotAllowedError,
)
from discomfy.policy.models import ChannelRules, ChannelSettings, Place, Preferences, Scope
from discomfy.policy.policy import ContentPolicy

__all__ = [
    "AgeRestrictedError",
    "BlockedPromptError",
    "Blocklist",
    "ChannelClosedError",
    "ChannelRules",
    "ChannelSettings",
    "ContentPolicy",
    "CountNotAllowedError",
    "Place",
    "PolicyError",
    "Preferences",
    "Scope",
    "SettingError",
    "WorkflowNotAllowedError",
    "compile_rule",
]
