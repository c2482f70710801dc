"""`python bot.py --check`: one plain report of every problem, against the fake ComfyUI."""

from __future__ import annotations

import base64
import json
import shutil
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from discomfy.cli.check import (
    BOT_PERMISSIONS,
    application_id_from_token,
    describe_token_problem,
    invite_url,
    run_checks,
)
from discomfy.cli.main import main
from testing.comfy_server import FakeComfy

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
APPLICATION_ID = 1_300_000_000_000_000_001
TOKEN = base64.urlsafe_b64encode(str(APPLICATION_ID).encode()).decode().rstrip("=") + ".GhIjKl." + "a1B2c3D4e5" * 4
PERMISSION_NAMES = "View Channel, Send Messages, Embed Links, Attach Files, Read Message History"


SECTIONS = ("Config", "Discord token", "Workflows", "ComfyUI")


def section(report: str, name: str) -> str:
    """One area of the --check report: from its heading to the next one."""
    text = report.split(f"\n{name}\n", 1)[1]
    later = SECTIONS[SECTIONS.index(name) + 1 :]
    return text.split(f"\n{later[0]}\n", 1)[0] if later else text


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    """One workflow the fake server fully supports (SDXL base: its nodes and checkpoint exist there)."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    for suffix in (".json", ".yaml"):
        shutil.copy(WORKFLOWS / f"txt2img_sdxl{suffix}", folder / f"txt2img_sdxl{suffix}")
    return folder


def write_config(tmp_path: Path, url: str, workflows: Path, extra: str = "", *, servers: str = "") -> Path:
    """`servers`: a comfy.servers list in YAML (flow style) instead of `url`."""
    path = tmp_path / "config.yaml"
    where = f"servers: {servers}" if servers else f"url: {url}"
    path.write_text(
        f"comfy:\n  {where}\n  request_timeout: 5\n"
        f"discord:\n  admin_user_ids: [{APPLICATION_ID + 1}]\n"
        f"workflows:\n  directory: {workflows}\n{extra}",
        encoding="utf-8",
    )
    return path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No token or ComfyUI credentials from the developer's shell, and no stray config.yaml or .env."""
    for name in ("DISCORD_TOKEN", "COMFY_API_KEY", "COMFY_USERNAME", "COMFY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A loopback URL nothing answers on: the port stays bound (not listening) for the test, so connecting is
    refused and no other test worker's server can be given it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_everything_fine_against_the_fake_server_exits_zero(
    fake_comfy: FakeComfy,
    workflows_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    config = write_config(tmp_path, fake_comfy.url, workflows_dir)

    code = await run_checks(config)

    out = capsys.readouterr().out
    assert code == 0, out
    assert "✗" not in out
    for section in ("Config", "Discord token", "Workflows", "ComfyUI"):
        assert f"\n{section}\n  ✓" in out
    assert "ComfyUI 0.3.64" in out
    assert "txt2img_sdxl" in out
    assert "WebSocket" in out
    assert f"client_id={APPLICATION_ID}&scope=bot+applications.commands&permissions=117760" in out
    assert TOKEN not in out
    assert "Everything looks fine" in out


async def test_missing_token_explains_where_to_get_it_and_where_to_put_it(
    fake_comfy: FakeComfy, workflows_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, fake_comfy.url, workflows_dir)

    code = await run_checks(config)

    out = capsys.readouterr().out
    assert code == 1
    token_part = section(out, "Discord token")
    assert "✗ DISCORD_TOKEN is not set" in token_part
    assert "Developer Portal" in token_part
    assert "Bot → Reset Token" in token_part
    assert ".env" in token_part
    assert "DISCORD_TOKEN=" in token_part
    assert ".env.example" in token_part
    assert "client_id=<APPLICATION_ID>&scope=bot+applications.commands&permissions=117760" in token_part
    assert PERMISSION_NAMES in token_part
    assert "1 problem found" in out  # the rest (config, workflows, ComfyUI) is fine and said so
    assert "\nComfyUI\n  ✓ ComfyUI 0.3.64" in out


async def test_unreachable_comfyui_names_the_url_and_how_to_change_it(
    closed_url: str,
    workflows_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    url = closed_url
    config = write_config(tmp_path, url, workflows_dir)

    code = await run_checks(config)

    out = capsys.readouterr().out
    assert code == 1
    comfy_part = section(out, "ComfyUI")
    assert f"✗ cannot reach ComfyUI at {url}" in comfy_part
    assert "comfy.url in config.yaml" in comfy_part
    assert "\nWorkflows\n  ✓ 1 workflow(s) loaded" in out  # the other areas are still checked


async def test_workflow_needing_a_node_class_the_server_lacks_is_named(
    fake_comfy: FakeComfy,
    workflows_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    graph = json.loads((workflows_dir / "txt2img_sdxl.json").read_text(encoding="utf-8"))
    graph["8"]["class_type"] = "VAEDecodeHypertile"  # a custom node pack's class
    (workflows_dir / "custom.json").write_text(json.dumps(graph), encoding="utf-8")
    mapping = (workflows_dir / "txt2img_sdxl.yaml").read_text(encoding="utf-8")
    (workflows_dir / "custom.yaml").write_text(
        mapping.replace("graph: txt2img_sdxl.json", "graph: custom.json"), encoding="utf-8"
    )
    config = write_config(tmp_path, fake_comfy.url, workflows_dir)

    code = await run_checks(config)

    out = capsys.readouterr().out
    assert code == 1
    comfy_part = section(out, "ComfyUI")
    (line,) = [line for line in comfy_part.splitlines() if "VAEDecodeHypertile" in line]
    assert line.startswith("  ✗ ")
    assert "custom.json" in line
    assert "node '8'" in line
    assert "not installed on the ComfyUI server" in line
    assert "✓ node classes and model files are all there for: txt2img_sdxl" in comfy_part
    assert "1 problem found" in out


async def test_missing_model_file_is_named(
    fake_comfy: FakeComfy,
    workflows_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    fake_comfy.models["checkpoints"] = ["something_else.safetensors"]
    config = write_config(tmp_path, fake_comfy.url, workflows_dir)

    code = await run_checks(config)

    out = capsys.readouterr().out
    assert code == 1
    assert "sd_xl_base_1.0.safetensors" in section(out, "ComfyUI")
    assert "something_else.safetensors" in out


async def test_every_problem_is_listed_at_once(
    closed_url: str, workflows_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workflows_dir / "broken.yaml").write_text("graph: nowhere.json\n", encoding="utf-8")
    (workflows_dir / "other.yaml").write_text(
        "graph: txt2img_sdxl.json\nparameters:\n  prompt: {node: '99', input: text, type: str}\n", encoding="utf-8"
    )
    url = closed_url
    config = write_config(tmp_path, url, workflows_dir, "workflows_default: nope\n")

    code = await run_checks(config)

    out = capsys.readouterr().out
    assert code == 1
    assert "✗" in section(out, "Config")
    assert "workflows_default" in out
    assert "DISCORD_TOKEN is not set" in out
    assert "not checked: fix the config first" in out


async def test_workflow_problems_are_all_reported_and_the_good_ones_still_checked(
    closed_url: str,
    workflows_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    (workflows_dir / "broken.yaml").write_text("graph: nowhere.json\n", encoding="utf-8")
    (workflows_dir / "other.yaml").write_text(
        "graph: txt2img_sdxl.json\nparameters:\n  prompt: {node: '99', input: text, type: str}\n", encoding="utf-8"
    )
    url = closed_url
    config = write_config(tmp_path, url, workflows_dir)

    code = await run_checks(config)

    out = capsys.readouterr().out
    assert code == 1
    workflows_part = section(out, "Workflows")
    assert "nowhere.json: file not found" in workflows_part
    assert "other.yaml" in workflows_part
    assert "'99'" in workflows_part
    assert "✓ 1 workflow(s) loaded" in workflows_part
    assert url in out


def test_bot_py_check_runs_the_checks_and_exits_non_zero(
    closed_url: str, workflows_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import bot as entry  # the entry script imports the whole bot; keep the other checks tests free of it

    url = closed_url
    config = write_config(tmp_path, url, workflows_dir)

    code = entry.main(["--check", "--config", str(config)])

    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("DisComfy self-check")
    assert url in out
    assert "DISCORD_TOKEN is not set" in out


@pytest.mark.parametrize(
    ("token", "words"),
    [
        (f"Bot {TOKEN}", "remove the 'Bot '"),
        (f'"{TOKEN}"', "remove the quotes"),
        ("abcdefghijklmnopqrstuvwxyz012345", "Client Secret"),
        ("ab" * 32, "Public Key"),
        (str(APPLICATION_ID), "Application ID"),
        ("not-a-token", "three parts"),
    ],
)
def test_token_shape_problems_are_explained(token: str, words: str) -> None:
    problem = describe_token_problem(token)
    assert problem is not None
    assert words in problem
    assert token not in problem


def test_well_formed_token_passes_and_gives_the_application_id() -> None:
    assert describe_token_problem(TOKEN) is None
    assert application_id_from_token(TOKEN) == APPLICATION_ID


def test_invite_url_asks_for_exactly_the_permissions_the_bot_uses() -> None:
    assert BOT_PERMISSIONS.value == (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16)
    url = invite_url(APPLICATION_ID)
    assert url == (
        f"https://discord.com/oauth2/authorize?client_id={APPLICATION_ID}"
        "&scope=bot+applications.commands&permissions=117760"
    )


def test_python_m_discomfy_check_prints_the_same_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    config = tmp_path / "config.yaml"
    config.write_text("limits:\n  max_count: zero\n")

    assert main(["check", "--config", str(config)]) == 1
    report = capsys.readouterr().out
    assert report.startswith("DisComfy self-check")
    assert "limits.max_count" in report
    assert "not checked: fix the config first" in report


UI_SAVE = Path(__file__).resolve().parent / "fixtures" / "workflows_ui" / "templates" / "default.json"


async def test_a_ui_format_save_in_the_folder_is_converted_with_the_servers_node_list(
    fake_comfy: FakeComfy, workflows_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_comfy.models.setdefault("checkpoints", []).append("v1-5-pruned-emaonly-fp16.safetensors")
    shutil.copy(UI_SAVE, workflows_dir / "saved.json")
    (workflows_dir / "saved.yaml").write_text(
        "graph: saved.json\nparameters:\n  prompt: {node: '6', input: text, type: str, required: true}\n"
    )
    await run_checks(write_config(tmp_path, fake_comfy.url, workflows_dir))
    workflows = section(capsys.readouterr().out, "Workflows")
    assert "✓ 2 workflow(s) loaded" in workflows
    assert "saved" in workflows


async def test_a_ui_format_save_without_the_server_says_it_needs_one(
    closed_url: str, workflows_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(UI_SAVE, workflows_dir / "saved.json")
    (workflows_dir / "saved.yaml").write_text("graph: saved.json\n")
    code = await run_checks(write_config(tmp_path, closed_url, workflows_dir))
    assert code == 1
    workflows = section(capsys.readouterr().out, "Workflows")
    assert "saved.json: this is a UI-format workflow" in workflows
    assert "needs the ComfyUI server's node list" in workflows


async def test_with_several_servers_each_is_checked_and_a_workflow_one_of_them_runs_is_no_problem(
    fake_comfy_factory: Callable[..., Awaitable[FakeComfy]],
    workflows_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    full, plain = await fake_comfy_factory(), await fake_comfy_factory()
    plain.remove_node_class("EmptyLatentImage")
    servers = f"[{{name: full, url: '{full.url}'}}, {{name: plain, url: '{plain.url}'}}]"
    path = write_config(tmp_path, "", workflows_dir, servers=servers)

    code = await run_checks(path)

    out = capsys.readouterr().out
    assert code == 0, out
    blocks = {block.split("\n", 1)[0]: block for block in out.split("\n\n")}
    assert "WebSocket" in blocks["ComfyUI server full"]
    assert "  ! " in blocks["ComfyUI server plain"]
    assert "EmptyLatentImage" in blocks["ComfyUI server plain"]
    assert "txt2img_sdxl runs on full" in blocks["Workflows on the servers"]
    full.remove_node_class("EmptyLatentImage")
    assert await run_checks(path) == 1
    assert "txt2img_sdxl: no reachable server can run it" in capsys.readouterr().out
