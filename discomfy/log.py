"""Console logging for the bot process, with every secret scrubbed before a line is written."""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import TextIO

log = logging.getLogger(__name__)

FORMAT = "[{asctime}] [{levelname:<8}] {name}: {message}"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
REDACTED = "[REDACTED]"
# A Discord bot token: base64 of the bot's user id, a base64 timestamp and an HMAC, dot separated.
TOKEN_PATTERN = r"[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}"
_HANDLER_NAME = "discomfy-console"


class RedactingFilter(logging.Filter):
    """Scrubs secrets from the message, its args and the traceback before any formatter runs."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        forms = {form for secret in secrets if secret for form in (secret, repr(secret)[1:-1])}
        literals = [re.escape(form) for form in sorted(forms, key=len, reverse=True)]
        self._pattern = re.compile("|".join([*literals, TOKEN_PATTERN]))

    def redact(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(_message(record))
        record.args = None
        if record.exc_info:
            # The formatter reuses exc_text, so the live exception is never formatted again.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad format string or a failing __str__ must not crash the caller
        return f"{record.msg!r} (could not be formatted with its arguments)"


def setup_logging(level: str, *, secrets: Iterable[str] = (), stream: TextIO | None = None) -> None:
    """Configure the root logger once for the bot process; calling again replaces, never stacks.

    Raises:
        ValueError: `level` is not a logging level name.
    """
    levels = logging.getLevelNamesMapping()
    if level.upper() not in levels:
        raise ValueError(f"unknown log level {level!r}; expected one of DEBUG, INFO, WARNING, ERROR")
    root = logging.getLogger()
    for old in [handler for handler in root.handlers if handler.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT, style="{"))
    handler.addFilter(RedactingFilter(secrets))
    root.addHandler(handler)
    root.setLevel(levels[level.upper()])
    logging.getLogger("discord.http").setLevel(logging.WARNING)
