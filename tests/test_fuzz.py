"""Fuzz: hostile slash-command options, malformed interaction payloads and broken config files.

The bot never crashes and never shows a traceback; every refusal names what is wrong, and nothing refused
reaches ComfyUI. Broken files raise our own ConfigError / WorkflowError naming the file and the key or node.
Example counts are bounded (and deadlines off) so this stays a few seconds in CI.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import logging
import random
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from discomfy.comfy.job import ComfyJob
from discomfy.comfy.tracker import ComfyTracker
from discomfy.config import load_config
from discomfy.config.errors import ConfigError
from discomfy.store import JobStatus
from discomfy.workflows import load_workflows
from discomfy.workflows.errors import MappingError, WorkflowError, WorkflowFormatError, WorkflowLoadError
from discomfy.workflows.seeds import SEED_MAX
from testing import payloads
from testing.botkit import WORKFLOWS, BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FLAG_EPHEMERAL, FakeDiscordAPI

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = REPO / "config.example.yaml"
UI_FORMAT = REPO / "tests" / "fixtures" / "workflows" / "ui_format.json"
GENERIC = "Something went wrong"
TRACEBACK = "Traceback (most recent call last)"
IMMEDIATE, DEFERRED = 4, 5
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every CI run; a failure is reproducible as is
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Characters that break naive text handling: zero-width, joiners, bidi controls, BOM, NUL, combining, emoji.
NASTY = "\u200b\u200c\u200d\u2060\ufeff\u202e\u202d\u0000\u0301\u0336\U0001f600\U0001f1fa\U0001f1f8\u00a0\u3000"
NOT_IMAGES = [
    ("notes.txt", "text/plain"),
    ("notes.txt", "text/plain; charset=utf-8"),
    ("archive.zip", "application/zip"),
    ("model.safetensors", "application/octet-stream"),
    ("page.html", "text/html"),
    ("clip.mp4", "video/mp4"),
    ("noext", None),
]


# ---- the bot, and what one command led to --------------------------------------------------------


@pytest_asyncio.fixture
async def kit(fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path) -> AsyncIterator[BotKit]:
    """A bot whose ComfyUI holds every prompt: accepted jobs just wait, so many examples stay cheap."""
    limits = {"max_pending_per_user": 500, "max_pending_total": 500}
    async with start_bot(fake_discord, fake_comfy, tmp_path, limits=limits) as kit:
        fake_comfy.hold()
        yield kit


@dataclass
class Answer:
    """What the user saw, and what reached ComfyUI, after one slash command."""

    refused: bool
    text: str  # the refusal's words ("" when the command was accepted)
    prompts: list[dict[str, Any]] = field(default_factory=list)  # POST /prompt bodies it caused


async def ask(kit: BotKit, options: dict[str, Any]) -> Answer:
    """Run /generate with `options` and read the answer the way the user would see it."""
    before = len(kit.comfy.requests_to("/prompt", "POST"))
    payload = await kit.command("generate", options)
    prompts = [r.json for r in kit.comfy.requests_to("/prompt", "POST")[before:]]
    callback = kit.callback(payload).json
    if callback["type"] == IMMEDIATE:
        data = callback["data"]
        assert data["flags"] & FLAG_EPHEMERAL, "a refusal must stay private"
        return Answer(True, data["embeds"][0]["description"], prompts)
    assert callback["type"] == DEFERRED
    token = re.escape(payload["token"])
    followups = kit.discord.calls("POST", rf"^/webhooks/\d+/{token}$")
    sorry = [f for f in followups if f.json and f.json.get("embeds") and f.json["embeds"][0]["title"] == "Sorry"]
    if sorry:  # refused after the deferral (e.g. the attachment could not be downloaded)
        return Answer(True, sorry[0].json["embeds"][0]["description"], prompts)
    return Answer(False, "", prompts)


def assert_no_traceback_reached_discord(kit: BotKit) -> None:
    for request in kit.discord.requests:
        text = json.dumps(request.json) if request.json is not None else ""
        assert TRACEBACK not in text, f"{request.method} {request.path} showed a traceback"
        assert GENERIC not in text, f"{request.method} {request.path} gave the generic error: {text[:300]}"


def png(size: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


# ---- options: each refusal names its problem, and nothing refused reaches ComfyUI --------------------

REFUSALS = [
    pytest.param({"prompt": ""}, "prompt must not be empty", id="empty-prompt"),
    pytest.param({"prompt": " \t\n "}, "prompt must not be empty", id="blank-prompt"),
    pytest.param({"prompt": "\u200b\u200d\ufeff\u2060"}, "prompt must not be empty", id="zero-width-prompt"),
    pytest.param({"prompt": "x" * 6000}, "Your prompt has 6000 characters; at most 1500", id="6000-chars"),
    pytest.param({"prompt": "猫" * 1501}, "Your prompt has 1501 characters; at most 1500", id="1501-cjk"),
    pytest.param(
        {"prompt": "a cat", "seed": "-1"}, "seed must be a whole number from 0 to 1844674407370955161", id="seed--1"
    ),
    pytest.param({"prompt": "a cat", "seed": str(2**64)}, f"(got {2**64})", id="seed-2**64"),
    pytest.param({"prompt": "a cat", "seed": "twelve"}, "seed must be a whole number", id="seed-text"),
    pytest.param({"prompt": "a cat", "seed": "1e5"}, "seed must be a whole number", id="seed-float-text"),
    pytest.param({"prompt": "a cat", "width": 0}, "width must be a whole number from 512 to 2048", id="width-0"),
    pytest.param({"prompt": "a cat", "width": 100000}, "(got 100000)", id="width-100000"),
    pytest.param({"prompt": "a cat", "height": -64}, "height must be a whole number", id="height-negative"),
    pytest.param({"prompt": "a cat", "steps": 0}, "steps must be a whole number from 1 to 60", id="steps-0"),
    pytest.param({"prompt": "a cat", "cfg": float("nan")}, "cfg must be a number from 1 to 15", id="cfg-nan"),
    pytest.param({"prompt": "a cat", "count": 0}, "count must be a whole number from 1 to 4", id="count-0"),
    pytest.param({"prompt": "a cat", "count": -3}, "count must be a whole number from 1 to 4", id="count-negative"),
    pytest.param({"prompt": "a cat", "count": 99}, "at most 4 at once", id="count-99"),
    pytest.param({"prompt": "a cat", "size": "gigantic"}, "Reload Discord", id="stale-size-choice"),
    pytest.param({"prompt": "a cat", "workflow": "\u200b"}, "There is no workflow called", id="zero-width-workflow"),
    pytest.param(
        {"prompt": "a cat", "workflow": "../../etc/passwd"}, "There is no workflow called", id="path-as-workflow"
    ),
    pytest.param(
        {"prompt": "a cat", "negative": "n" * 2001}, "negative is too long: 2001 characters", id="long-negative"
    ),
]


@pytest.mark.parametrize(("options", "reason"), REFUSALS)
async def test_a_refused_option_is_named_privately_and_never_reaches_comfyui(
    kit: BotKit, options: dict[str, Any], reason: str
) -> None:
    answer = await ask(kit, options)

    assert answer.refused, f"{options} was accepted"
    assert reason in answer.text
    assert answer.prompts == []
    assert_no_traceback_reached_discord(kit)


@pytest.mark.parametrize(("filename", "content_type"), NOT_IMAGES)
async def test_an_attachment_that_is_not_an_image_is_refused_before_download(
    kit: BotKit, filename: str, content_type: str | None
) -> None:
    attachment = payloads.attachment(filename=filename, size=1234, content_type=content_type)
    answer = await ask(kit, {"prompt": "a cat", "workflow": "img2img", "image": attachment})

    assert answer.refused
    assert f"`{filename}` is not an image" in answer.text
    assert answer.prompts == []
    assert kit.discord.calls("GET", r"^/attachments/") == []
    assert_no_traceback_reached_discord(kit)


@pytest.mark.parametrize("size", [500 * 2**20, 20 * 2**20 + 1, 2**40], ids=["500MB", "limit+1", "1TB"])
async def test_an_attachment_far_over_the_limit_is_refused_from_its_metadata(kit: BotKit, size: int) -> None:
    attachment = payloads.attachment(filename="huge.png", size=size, content_type="image/png")
    answer = await ask(kit, {"prompt": "a cat", "workflow": "img2img", "image": attachment})

    assert answer.refused
    assert f"`huge.png` is {size / 2**20:.1f} MB; images up to 20 MB are accepted" in answer.text
    assert answer.prompts == []
    assert kit.discord.calls("GET", r"^/attachments/") == []  # judged by its size, never downloaded


async def test_an_attachment_discord_cannot_serve_is_reported_and_nothing_is_queued(kit: BotKit) -> None:
    gone = payloads.attachment(
        filename="cat.png", size=100, content_type="image/png", url=f"{kit.discord.url}/attachments/1/cat.png"
    )
    answer = await ask(kit, {"prompt": "a cat", "workflow": "img2img", "image": gone})

    assert answer.refused
    assert "Could not download `cat.png` from Discord (404" in answer.text
    assert answer.prompts == []
    assert kit.comfy.requests_to("/upload/image", "POST") == []
    assert_no_traceback_reached_discord(kit)


@given(
    prompt=st.one_of(
        st.text(alphabet=st.characters(blacklist_categories=["Cs"]) | st.sampled_from(NASTY), max_size=60),
        st.text(alphabet=st.sampled_from("ab c" + NASTY), min_size=1480, max_size=1520),
    )
)
@FUZZ
async def test_any_prompt_is_queued_verbatim_or_refused_with_its_reason(kit: BotKit, prompt: str) -> None:
    answer = await ask(kit, {"prompt": prompt, "steps": 1})

    if answer.refused:
        assert answer.text == "prompt must not be empty." or f"Your prompt has {len(prompt)} characters" in answer.text
        assert answer.prompts == []
    else:
        (body,) = answer.prompts
        assert body["prompt"]["6"]["inputs"]["text"] == prompt  # not trimmed, normalised or mangled
    assert_no_traceback_reached_discord(kit)


def _seed_of(text: str) -> int | None:
    """The seed a user meant by `text`, or None when it is not a whole number at all."""
    try:
        return int(text.strip().replace(",", "").replace("_", ""))
    except ValueError:
        return None


@given(
    seed=st.one_of(
        st.integers(-(2**70), 2**70).map(str),
        st.sampled_from(
            [
                "-1",
                str(2**64),
                str(SEED_MAX),
                "0",
                " 42 ",
                "1,000",
                "1_000",
                "0x10",
                "1e3",
                "٣",
                "NaN",
                "inf",
                "-0",
                "+7",
            ]
        ),
        st.text(max_size=12),
    )
)
@FUZZ
async def test_any_seed_text_is_used_exactly_or_refused_with_the_allowed_range(kit: BotKit, seed: str) -> None:
    answer = await ask(kit, {"prompt": "a lighthouse", "seed": seed, "steps": 1})

    meant = _seed_of(seed)
    if not seed.strip():
        assert not answer.refused  # no seed given: a fresh one
    elif meant is not None and 0 <= meant <= SEED_MAX:
        assert not answer.refused, answer.text
        (body,) = answer.prompts
        assert body["prompt"]["3"]["inputs"]["seed"] == meant
    else:
        assert answer.refused
        assert "seed must be a whole number from 0 to 18446744073709551615" in answer.text
        assert answer.prompts == []


@given(width=st.one_of(st.integers(-(2**40), 2**40), st.sampled_from([0, 1, 511, 512, 513, 2048, 2049, 100000])))
@FUZZ
async def test_any_width_is_used_or_refused_with_the_workflows_limits(kit: BotKit, width: int) -> None:
    answer = await ask(kit, {"prompt": "a lighthouse", "width": width, "steps": 1})

    if 512 <= width <= 2048 and width % 64 == 0:
        (body,) = answer.prompts
        assert body["prompt"]["5"]["inputs"]["width"] == width
    else:
        assert answer.refused
        assert f"width must be a whole number from 512 to 2048 in steps of 64 (got {width})" in answer.text
        assert answer.prompts == []


async def test_odd_but_valid_prompts_are_delivered_with_the_prompt_intact(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    prompts = ["a\u0000b", "cat\u200bdog", "\u202eevil\u202c", "🦊" * 700, "ok" + "\u0301" * 50, "猫 " * 700]
    async with start_bot(fake_discord, fake_comfy, tmp_path, limits={"max_pending_per_user": 10}) as kit:
        sent = [await kit.command("generate", {"prompt": text, "steps": 1}) for text in prompts]
        await kit.settle()

        for text, payload in zip(prompts, sent, strict=True):
            (record,) = await kit.records(payload)
            assert record.status is JobStatus.DONE
            assert record.params["prompt"] == text
            message = kit.message(payload)
            assert message["embeds"][0]["title"] == "Done"
            assert message["attachments"]
        assert_no_traceback_reached_discord(kit)


# ---- malformed interaction payloads: discord.py may refuse them, the bot goes on ----------------------


def key_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key (and list index) path in a payload, parents first."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield (*prefix, key)
        yield from key_paths(child, (*prefix, key))


def mutated(payload: dict[str, Any], path: tuple[Any, ...], replacement: Any) -> dict[str, Any]:
    """A copy with the key at `path` dropped (replacement is ...) or set to `replacement`."""
    result = copy.deepcopy(payload)
    parent = result
    for key in path[:-1]:
        parent = parent[key]
    if replacement is ...:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return result


def raised_in_our_code(exc: BaseException) -> bool:
    """True when the innermost frame of the traceback is DisComfy's: our code itself failed on the input."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return "/discomfy/" in tb.tb_frame.f_code.co_filename.replace("\\", "/")


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _dispatch_leniently(kit: BotKit, payload: dict[str, Any]) -> tuple[str, BaseException | None]:
    """Deliver a payload as the gateway would; say where it ended: discord.py's parser, a handler, or fine."""
    try:
        tasks = payloads.dispatch(kit.bot, payload)
    except Exception as exc:  # discord.py could not parse it: its gateway reader logs that and goes on
        return "refused by discord.py's parser", exc
    done, pending = await asyncio.wait(tasks, timeout=15) if tasks else (set(), set())
    assert not pending, "an interaction handler hung on a malformed payload"
    escaped = next((t.exception() for t in done if not t.cancelled() and t.exception() is not None), None)
    return ("given up by discord.py", escaped) if escaped is not None else ("handled", None)


async def test_interaction_payloads_missing_any_field_never_break_the_bot_or_other_jobs(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    limits = {"max_pending_per_user": 500, "max_pending_total": 500}
    try:
        async with start_bot(fake_discord, fake_comfy, tmp_path, limits=limits) as kit:
            fake_comfy.step_delay = 0.02
            running = await kit.command("generate", {"prompt": "a job that runs meanwhile", "steps": 30})
            fake_comfy.hold()  # what the fuzz queues waits until the end (the running job goes on)
            attachment = fake_discord.add_attachment("cat.png", png())
            bases = [
                payloads.slash_command("generate", {"prompt": "a cat", "steps": 1, "seed": "5"}),
                payloads.slash_command("generate", {"prompt": "a cat", "workflow": "img2img", "image": attachment}),
            ]
            paths = [(i, p) for i, base in enumerate(bases) for p in key_paths(base)]
            rng = random.Random(7)
            cases = [(i, p, ...) for i, p in paths]  # every single field dropped, one at a time
            cases += [(i, p, rng.choice([None, "", 0, [], {}, "xxx"])) for i, p in rng.sample(paths, 40)]
            outcomes: dict[str, int] = {}
            escaped = []
            for index, path, replacement in cases:
                where, exc = await _dispatch_leniently(kit, mutated(_renewed(bases[index]), path, replacement))
                outcomes[where] = outcomes.get(where, 0) + 1
                if exc is not None and raised_in_our_code(exc):
                    escaped.append((path, replacement, repr(exc)))
            fake_comfy.step_delay = 0.0
            fake_comfy.release()
            await kit.settle(60)
            summary = ", ".join(f"{n} {where}" for where, n in sorted(outcomes.items()))
            print(f"\n{len(cases)} malformed /generate payloads: {summary}")

            # discord.py may give up on a payload (in its parser, or in its tree before our code runs); an error
            # raised by our own code must never escape the command error handler.
            assert escaped == [], f"errors escaped DisComfy's command error handler: {escaped[:5]}"
            # The one ERROR allowed is the command handler's own "Error in /generate" (the user got a reply);
            # nothing may crash a background task, the presenter or the ComfyUI service.
            crashes = [r for r in errors.records if not r.getMessage().startswith("Error in /generate")]
            assert crashes == [], [r.getMessage() for r in crashes]
            assert (await kit.records(running))[0].status is JobStatus.DONE  # the job already queued went on
            after = await kit.command("generate", {"prompt": "still serving", "steps": 1})
            await kit.settle()
            assert kit.message(after)["embeds"][0]["title"] == "Done"
            assert kit.service.connected
    finally:
        logging.getLogger().removeHandler(errors)


def _renewed(base: dict[str, Any]) -> dict[str, Any]:
    """The same command with a new interaction id and token, as every real interaction has."""
    payload = copy.deepcopy(base)
    interaction_id = payloads.snowflake()
    payload["id"] = str(interaction_id)
    payload["token"] = payloads.interaction_token(interaction_id, int(payload["channel_id"]), payloads.GUILD_ID)
    return payload


# ---- config files: our ConfigError, naming the file and the key -------------------------------------

_EXAMPLE_TEXT = EXAMPLE_CONFIG.read_text(encoding="utf-8")
_EXAMPLE = yaml.safe_load(_EXAMPLE_TEXT)
_SETTINGS = [(section, key) for section, values in _EXAMPLE.items() for key in values]
_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _load_config_text(text: str) -> tuple[Path, ConfigError | None]:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-config-"))
    try:
        path = folder / "config.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(path, env={})
        except ConfigError as exc:  # anything else (KeyError, RecursionError...) fails the test as raised
            return path, exc
        return path, None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@given(cut=st.integers(0, len(_EXAMPLE_TEXT)))
@settings(max_examples=150, deadline=None, derandomize=True)
def test_a_truncated_config_loads_or_names_the_file(cut: int) -> None:
    path, error = _load_config_text(_EXAMPLE_TEXT[:cut])

    assert error is None or str(error).startswith(str(path))


@given(setting=st.sampled_from(_SETTINGS), value=_JUNK)
@settings(max_examples=150, deadline=None, derandomize=True)
def test_a_wrong_type_in_any_setting_names_file_and_key(setting: tuple[str, str], value: Any) -> None:
    section, key = setting
    data = copy.deepcopy(_EXAMPLE)
    data[section][key] = value
    path, error = _load_config_text(yaml.safe_dump(data))

    if error is not None:
        assert str(error).startswith(str(path))
        assert f"{section}.{key}" in str(error)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param("comfy: &c {url: http://127.0.0.1:8188, again: *c}\n", "comfy.again", id="alias-loop"),
        pytest.param("&a [*a]\n", "[0]", id="alias-loop-top"),
        pytest.param("[" * 1500 + "\n", "nested too deeply", id="deep-nesting"),
        pytest.param('storage: {database: "data/\\0.sqlite3"}\n', "storage.database", id="nul-in-path"),
        pytest.param("storage: {outputs: '~no-such-user-xyz/out'}\n", "storage.outputs", id="unknown-home"),
        pytest.param("uploads: {ffmpeg: '~no-such-user-xyz/bin/ffmpeg'}\n", "uploads.ffmpeg", id="unknown-home-ffmpeg"),
        pytest.param("workflows: {directory: 17}\n", "workflows.directory", id="number-as-folder"),
        pytest.param("limits: [1, 2]\n", "limits", id="section-as-list"),
        pytest.param("- comfy\n- discord\n", "expected a mapping", id="list-file"),
        pytest.param("comfy:\n\turl: x\n", "line 2", id="tab-indent"),
    ],
)
def test_hostile_config_files_raise_config_error_naming_file_and_key(text: str, where: str) -> None:
    path, error = _load_config_text(text)

    assert error is not None
    assert str(error).startswith(str(path))
    assert where in str(error)


# ---- workflow files: our WorkflowError, naming the file and the node or key --------------------------

_SPECS = {spec.name: spec for spec in load_workflows(WORKFLOWS)}
_TARGETS = [
    (spec.name, parameter.name, target.node, target.input)
    for spec in _SPECS.values()
    for parameter in spec.parameters
    for target in parameter.targets
]


def _one_workflow(name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-workflow-"))
    for suffix in (".yaml", ".json"):
        shutil.copy(WORKFLOWS / f"{name}{suffix}", folder / f"{name}{suffix}")
    return folder


def _problems(folder: Path) -> list[WorkflowError] | None:
    """None when the folder loads; else every problem (load_workflows raising anything else fails the test)."""
    try:
        load_workflows(folder)
    except WorkflowLoadError as exc:
        problems = list(exc.problems)
    else:
        return None
    assert all(isinstance(p, WorkflowError) for p in problems)
    return problems


@given(name=st.sampled_from(sorted(_SPECS)), suffix=st.sampled_from([".yaml", ".json"]), fraction=st.floats(0, 1))
@settings(max_examples=60, deadline=None, derandomize=True)
def test_a_truncated_workflow_file_loads_or_names_that_file(name: str, suffix: str, fraction: float) -> None:
    folder = _one_workflow(name)
    try:
        touched = folder / f"{name}{suffix}"
        text = touched.read_text(encoding="utf-8")
        touched.write_text(text[: int(len(text) * fraction)], encoding="utf-8")
        problems = _problems(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    if problems is not None:  # the touched file is named, or the graph file a cut `graph:` line now names
        assert all(str(p).startswith(str(folder)) for p in problems), [str(p) for p in problems]
        assert any(str(touched) in str(p) or "file not found" in str(p) for p in problems), [str(p) for p in problems]


@pytest.mark.parametrize("name", sorted(_SPECS))
def test_a_ui_format_export_in_place_of_a_workflow_is_named_with_export_advice(name: str) -> None:
    folder = _one_workflow(name)
    try:
        shutil.copy(UI_FORMAT, folder / f"{name}.json")
        problems = _problems(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    assert problems is not None
    (problem,) = problems
    assert isinstance(problem, WorkflowFormatError)
    assert str(folder / f"{name}.json") in str(problem)
    assert "UI-format workflow" in str(problem)
    assert "Export (API)" in str(problem)


@given(target=st.sampled_from(_TARGETS))
@settings(max_examples=40, deadline=None, derandomize=True)
def test_a_link_where_a_mapped_constant_belongs_names_file_node_and_input(target: tuple[str, str, str, str]) -> None:
    name, parameter, node, input_name = target
    folder = _one_workflow(name)
    try:
        graph_path = folder / f"{name}.json"
        graph = json.loads(graph_path.read_text(encoding="utf-8"))
        source = next(n for n in graph if n != node)
        graph[node]["inputs"][input_name] = [source, 0]
        graph_path.write_text(json.dumps(graph), encoding="utf-8")
        problems = _problems(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    assert problems is not None
    wired = [p for p in problems if isinstance(p, MappingError) and "is wired to node" in str(p)]
    assert wired, [str(p) for p in problems]
    assert str(folder / f"{name}.yaml") in str(wired[0])
    assert f"node {node!r} input {input_name!r}" in str(wired[0])
    assert f"parameters.{parameter}" in str(wired[0])


_PARAMETER_KEYS = [
    "node",
    "input",
    "type",
    "min",
    "max",
    "default",
    "required",
    "choices",
    "max_length",
    "multiple_of",
    "targets",
    "description",
]


@given(
    name=st.sampled_from(sorted(_SPECS)),
    pick=st.integers(0, 100),
    key=st.sampled_from(_PARAMETER_KEYS),
    value=_JUNK,
)
@settings(max_examples=80, deadline=None, derandomize=True)
def test_junk_in_a_mapping_loads_or_names_file_and_parameter(name: str, pick: int, key: str, value: Any) -> None:
    folder = _one_workflow(name)
    try:
        mapping_path = folder / f"{name}.yaml"
        mapping = yaml.safe_load(mapping_path.read_text(encoding="utf-8"))
        parameter = sorted(mapping["parameters"])[pick % len(mapping["parameters"])]
        mapping["parameters"][parameter][key] = value
        mapping_path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
        problems = _problems(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    if problems is not None:
        assert all(str(mapping_path) in str(p) for p in problems), [str(p) for p in problems]
        assert any(f"parameters.{parameter}" in str(p) for p in problems), [str(p) for p in problems]


@pytest.mark.parametrize(
    ("mapping", "graph", "expected"),
    [
        pytest.param(None, "[" * 100_000, "invalid JSON: nested too deeply", id="deep-json"),
        pytest.param("[" * 1500, None, "invalid YAML: nested too deeply", id="deep-yaml"),
        pytest.param('graph: "a\\0b.json"\n', None, "graph: must name the exported API-format JSON", id="nul-graph"),
        pytest.param(
            "graph: txt2img_sdxl.json\nparameters: &p {again: *p}\n", None, "parameters.again", id="alias-loop"
        ),
        pytest.param(
            None,
            '{"6": {"class_type": "CLIPTextEncode", "inputs": []}}',
            "lack 'class_type' or 'inputs'",
            id="inputs-list",
        ),
    ],
)
def test_hostile_workflow_files_raise_workflow_error_naming_the_file(
    mapping: str | None, graph: str | None, expected: str
) -> None:
    folder = _one_workflow("txt2img_sdxl")
    try:
        if mapping is not None:
            (folder / "txt2img_sdxl.yaml").write_text(mapping, encoding="utf-8")
        if graph is not None:
            (folder / "txt2img_sdxl.json").write_text(graph, encoding="utf-8")
        problems = _problems(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    assert problems is not None
    assert any(expected in str(p) and str(folder) in str(p) for p in problems), [str(p) for p in problems]


# ---- a hostile ComfyUI: anything on the WebSocket, any 400 body ----------------------------------------


#: The keys ComfyUI's messages carry: nested under one another, with values of any JSON type.
MESSAGE_KEYS = ["status", "exec_info", "queue_remaining", "sid", "prompt_id", "node", "display_node", "output",
                "images", "filename", "value", "max", "nodes", "timestamp", "node_id", "node_type"]  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8) | st.just("ours"),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(MESSAGE_KEYS), inner, max_size=4),
    max_leaves=12,
)
MESSAGE_TYPES = st.sampled_from(
    ["status", "execution_start", "execution_cached", "executing", "progress", "progress_state", "executed",
     "execution_success", "execution_error", "execution_interrupted", "crystools.monitor"]
)  # fmt: skip


MESSAGE_DATA = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries({}, optional={key: JSON_VALUES for key in MESSAGE_KEYS}),  # every key with any value
    st.lists(JSON_VALUES, min_size=1, max_size=3),
)


@settings(FUZZ, max_examples=400)  # pure and fast: many more examples than the bot-driven ones
@given(kind=st.one_of(MESSAGE_TYPES, JSON_VALUES), data=MESSAGE_DATA)
@example(kind="status", data=[1])  # dropped the socket once
@example(kind="status", data={"status": "x"})
@example(kind="executed", data={"prompt_id": "ours", "node": "9", "output": [1]})
def test_any_websocket_message_is_routed_or_skipped_never_raised(kind: Any, data: Any) -> None:
    """One raised exception would drop the WebSocket; a server repeating it would keep it dropped."""

    class Listener:
        def __getattr__(self, name: str) -> Any:
            return lambda *args: None

    async def dispatch() -> None:
        jobs = {"ours": ComfyJob("ours", {"3": {"class_type": "KSampler", "inputs": {}}})}
        tracker = ComfyTracker(None, "ws://unused", jobs, Listener())  # type: ignore[arg-type]
        tracker.dispatch_text(json.dumps({"type": kind, "data": data}))
        tracker.dispatch_binary(json.dumps(data).encode()[:64])

    asyncio.run(dispatch())
