"""setup_logging: the house format, quiet discord.http, and no secret ever reaching the console."""

from __future__ import annotations

import io
import logging
import re

import pytest

from discomfy.log import REDACTED, setup_logging

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"
API_KEY = "sk-comfy-proxy-key-42"
LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[(?P<level>[A-Z]+) *\] (?P<name>[\w.]+): (?P<message>.*)$")


@pytest.fixture
def console():
    """setup_logging writing to a buffer; the root logger is restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    http = logging.getLogger("discord.http")
    saved_http = http.level
    buffer = io.StringIO()
    setup_logging("INFO", secrets=[TOKEN, API_KEY], stream=buffer)
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    http.setLevel(saved_http)


def test_lines_follow_the_house_format(console):
    logging.getLogger("discomfy.jobs").info("Job %s queued at #%d", "abc", 2)
    match = LINE.match(console.getvalue().splitlines()[0])
    assert match is not None
    assert match["level"] == "INFO"
    assert match["name"] == "discomfy.jobs"
    assert match["message"] == "Job abc queued at #2"
    assert "[INFO    ]" in console.getvalue()


def test_level_applies_and_discord_http_is_held_at_warning(console):
    logging.getLogger("discomfy.test").debug("hidden at INFO")
    logging.getLogger("discord.http").info("rate limit bookkeeping")
    logging.getLogger("discord.http").warning("We are being rate limited")
    output = console.getvalue()
    assert "hidden at INFO" not in output
    assert "rate limit bookkeeping" not in output
    assert "We are being rate limited" in output


def test_token_logged_directly_is_redacted(console):
    logging.getLogger("discomfy.test").info(TOKEN)
    logging.getLogger("discomfy.test").info("token is %s", TOKEN)
    logging.getLogger("discomfy.test").info("headers %r", {"Authorization": f"Bearer {API_KEY}"})
    output = console.getvalue()
    assert TOKEN not in output
    assert API_KEY not in output
    assert output.count(REDACTED) == 3


def test_token_inside_an_exception_message_is_redacted(console):
    error = RuntimeError(f"login failed for {TOKEN}")
    logging.getLogger("discomfy.test").error("startup failed: %s", error)
    logging.getLogger("discomfy.test").error(error)
    assert TOKEN not in console.getvalue()
    assert "login failed for [REDACTED]" in console.getvalue()


def test_token_inside_a_traceback_is_redacted_including_chained_causes(console):
    def connect(token: str) -> None:
        try:
            raise ValueError(f"bad credentials {API_KEY}")
        except ValueError as exc:
            raise ConnectionError(f"could not log in with {token}") from exc

    try:
        connect(TOKEN)
    except ConnectionError:
        logging.getLogger("discomfy.test").exception("Discord login failed")
    output = console.getvalue()
    assert "Traceback (most recent call last)" in output
    assert "ConnectionError: could not log in with [REDACTED]" in output
    assert "ValueError: bad credentials [REDACTED]" in output
    assert TOKEN not in output
    assert API_KEY not in output


def test_token_in_stack_info_is_redacted(console):
    logging.getLogger("discomfy.test").warning("seen %s", TOKEN, stack_info=True)
    assert TOKEN not in console.getvalue()
    assert "Stack (most recent call last)" in console.getvalue()


def test_anything_shaped_like_a_discord_token_is_redacted_even_if_not_configured(console):
    other = "OTk4NzY1NDMyMTA5ODc2NTQzMg.Xy-z_1.ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zz"
    logging.getLogger("discomfy.test").info("found %s in a file", other)
    assert other not in console.getvalue()
    assert "found [REDACTED] in a file" in console.getvalue()


def test_an_unformattable_record_is_still_logged_not_raised(console):
    logging.getLogger("discomfy.test").info("two args %s %s", TOKEN)
    assert "could not be formatted" in console.getvalue()
    assert TOKEN not in console.getvalue()


def test_calling_setup_twice_keeps_one_handler_and_the_latest_settings(console):
    root = logging.getLogger()
    before = len(root.handlers)
    second = io.StringIO()
    setup_logging("DEBUG", secrets=["rotated-secret-value"], stream=second)
    assert len(root.handlers) == before
    logging.getLogger("discomfy.test").debug("now visible: rotated-secret-value")
    assert second.getvalue().count("\n") == 1
    assert "now visible: [REDACTED]" in second.getvalue()
    assert console.getvalue() == ""


def test_unknown_level_is_refused():
    with pytest.raises(ValueError, match="LOUD"):
        setup_logging("LOUD")
