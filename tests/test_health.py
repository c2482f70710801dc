"""The heartbeat file: written atomically by the bot, judged by Docker's HEALTHCHECK."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from discomfy.health import check_health, main, write_health

REPO = Path(__file__).resolve().parent.parent


def test_fresh_heartbeat_with_both_connections_is_healthy(tmp_path):
    path = tmp_path / "data" / "health.json"
    before = time.time()
    write_health(path, discord_ready=True, comfy_connected=True)
    after = time.time()
    beat = json.loads(path.read_text())
    assert beat["discord_ready"] is True
    assert beat["comfy_connected"] is True
    assert before <= beat["updated"] <= after
    healthy, reason = check_health(path)
    assert healthy, reason
    assert reason.startswith("healthy")


def test_write_leaves_no_temporary_files_behind(tmp_path):
    path = tmp_path / "health.json"
    for ready in (False, True, True):
        write_health(path, discord_ready=ready, comfy_connected=True)
    assert [p.name for p in tmp_path.iterdir()] == ["health.json"]


def test_stale_heartbeat_is_unhealthy_even_if_it_says_connected(tmp_path):
    path = tmp_path / "health.json"
    write_health(path, discord_ready=True, comfy_connected=True)
    healthy, reason = check_health(path, max_age=60, now=time.time() + 120)
    assert not healthy
    assert "old" in reason
    assert check_health(path, max_age=60, now=time.time() + 30)[0]


@pytest.mark.parametrize(
    ("discord_ready", "comfy_connected", "reason"),
    [(False, True, "not connected to Discord"), (True, False, "not connected to ComfyUI")],
)
def test_a_lost_connection_is_unhealthy_and_named(tmp_path, discord_ready, comfy_connected, reason):
    path = tmp_path / "health.json"
    write_health(path, discord_ready=discord_ready, comfy_connected=comfy_connected)
    assert check_health(path) == (False, reason)


def test_missing_heartbeat_means_not_started(tmp_path):
    healthy, reason = check_health(tmp_path / "health.json")
    assert not healthy
    assert "no heartbeat" in reason


@pytest.mark.parametrize("content", ["{not json", "[]", '{"discord_ready": true, "comfy_connected": true}'])
def test_corrupt_heartbeat_is_unhealthy(tmp_path, content):
    path = tmp_path / "health.json"
    path.write_text(content)
    healthy, reason = check_health(path)
    assert not healthy
    assert str(path) in reason


def test_cli_exits_0_or_1_with_a_one_line_reason(tmp_path, capsys):
    path = tmp_path / "health.json"
    assert main([str(path)]) == 1
    write_health(path, discord_ready=True, comfy_connected=True)
    assert main([str(path), "--max-age", "30"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("no heartbeat")
    assert lines[1].startswith("healthy")


def test_module_runs_as_the_docker_healthcheck_command(tmp_path):
    path = tmp_path / "health.json"
    write_health(path, discord_ready=False, comfy_connected=True)
    done = subprocess.run(
        [sys.executable, "-m", "discomfy.health", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == "not connected to Discord\n"
