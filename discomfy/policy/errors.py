"""Refusals by a place's rules and the server's blocklist, and bad settings given by an admin."""

from __future__ import annotations

from discomfy.errors import DiscomfyError


class PolicyError(DiscomfyError):
    """A request the rules of its channel (or the server's blocklist) refuse; nothing was started.

    `rule` names the rule for the audit log; neither it nor the message ever holds the prompt's text.
    """

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class ChannelClosedError(PolicyError):
    """The bot is switched off in this channel (or its category, or the server)."""


class WorkflowNotAllowedError(PolicyError):
    """The workflow is not among the channel's allowed ones, or none is usable here."""


class AgeRestrictedError(PolicyError):
    """An `nsfw: true` workflow outside an age-restricted channel (or in a DM)."""


class CountNotAllowedError(PolicyError):
    """More images at once than the channel's max count."""


class BlockedPromptError(PolicyError):
    """The prompt or negative prompt matches the server's blocklist.

    `str()` (what the log gets) names the field and the rule's number only; `private_message`, shown only to the
    requester, also quotes the words of their own prompt that matched, so they know what to change.
    """

    def __init__(self, message: str, *, rule: str, matched: str) -> None:
        super().__init__(message, rule=rule)
        self.matched = matched

    @property
    def private_message(self) -> str:
        return f"{self} It matched: ||{self.matched}||"


class SettingError(DiscomfyError):
    """A setting, blocklist rule or preference an admin or member gave is not valid; the message says why."""
