"""Discord's own numbers, named once: what a message, an embed, a select or an interaction can hold."""

from __future__ import annotations

from datetime import timedelta

MAX_ATTACHMENTS = 10  # files per message
DEFAULT_FILESIZE_LIMIT = 10 * 1024 * 1024  # an unboosted guild, when no interaction tells us better
EMBED_TOTAL = 6000  # characters over every part of one embed
EMBED_DESCRIPTION = 4000  # Discord allows 4096; the margin leaves room for the note a caller adds on top
FIELD_NAME = 256
FIELD_VALUE = 1024
MAX_CHOICES = 25  # autocomplete choices, and options of a select menu
CHOICE_TEXT = 100  # a choice's name or value; a select option's label or description
TEXT_INPUT = 4000  # a modal's text input
STRING_OPTION = 6000  # a slash command's string option
TOKEN_LIFETIME = timedelta(minutes=15)  # an interaction token: edits through the webhook stop working after it
