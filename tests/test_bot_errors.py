"""The user-facing message table: each kind of error reads as one short plain reason, never as internals."""

from __future__ import annotations

import discord
import pytest
from discord import app_commands

from discomfy.bot.errors import UNEXPECTED, MissingChannelPermissionsError, NotAdminError, error_embed, user_message
from discomfy.comfy import ComfyConnectionError, ComfyHTTPError, ComfyTimeoutError, JobLostError
from discomfy.quota import LimitError
from discomfy.workflows.errors import InvalidParameterError, UnknownWorkflowError

COOLDOWN = app_commands.CommandOnCooldown(app_commands.Cooldown(1, 10.0), retry_after=7.2)

CASES = [
    (ComfyConnectionError("http://10.0.0.5:8188", "connection refused"), "ComfyUI is not reachable right now"),
    (ComfyTimeoutError("http://10.0.0.5:8188", "timed out"), "ComfyUI is not reachable right now"),
    (ComfyHTTPError("POST", "/prompt", 502, "<html>Bad gateway</html>"), "HTTP 502"),
    (COOLDOWN, "try again in 7 s"),
    (app_commands.CommandNotFound("imagine", []), "Reload Discord"),
    (NotAdminError(), "Only DisComfy admins can do that"),
    (app_commands.CheckFailure(), "You are not allowed to use this command."),
    (LimitError("You already have 3 request(s) waiting (at most 3)."), "You already have 3 request(s) waiting"),
    (InvalidParameterError("steps must be at most 150 (got 900).", parameter="steps"), "steps must be at most 150"),
    (UnknownWorkflowError("sdxxl", ("sdxl", "flux")), "There is no workflow called 'sdxxl'"),
    (MissingChannelPermissionsError("I can't post results in this channel"), "I can't post results"),
    (JobLostError("p"), "ComfyUI no longer knows this job"),
    (KeyError("graph"), UNEXPECTED),
    (RuntimeError("Traceback: secret internals"), UNEXPECTED),
]


@pytest.mark.parametrize(("error", "expected"), CASES, ids=[type(e).__name__ for e, _ in CASES])
def test_each_error_reads_as_its_table_entry(error: BaseException, expected: str) -> None:
    assert expected in user_message(error)


@pytest.mark.parametrize("error", [KeyError("graph"), ComfyHTTPError("POST", "/prompt", 500, "Traceback (most recent")])
def test_internals_never_reach_the_user(error: BaseException) -> None:
    message = user_message(error)
    assert "graph" not in message
    assert "Traceback" not in message


def test_the_error_embed_carries_the_reference_an_admin_can_search_the_log_for() -> None:
    embed = error_embed(RuntimeError("boom"), reference="/generate · interaction 42")
    assert embed.colour == discord.Colour.red()
    assert embed.description == UNEXPECTED
    assert embed.footer.text == "/generate · interaction 42"
