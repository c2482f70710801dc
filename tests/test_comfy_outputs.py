"""History parsing: output kinds, deliverable choice, safe file names, and how a prompt ended."""

from __future__ import annotations

import pytest

from discomfy.comfy.errors import ExecutionFailedError, JobInterruptedError
from discomfy.comfy.models import MediaKind
from discomfy.comfy.outputs import parse_history_entry, parse_outputs, safe_filename, select_deliverables


def test_every_recorded_output_kind_is_classified_by_extension_key_or_format():
    outputs = {
        "9": {"images": [{"filename": "a_00001_.png", "subfolder": "x", "type": "output"}]},
        "10": {"images": [{"filename": "anim_00001_.webp", "subfolder": "", "type": "output"}], "animated": [True]},
        "11": {"images": [{"filename": "video_00001_.mp4", "subfolder": "", "type": "output"}], "animated": [True]},
        "12": {"images": [{"filename": "webm_00001_.webm", "subfolder": "", "type": "output"}], "animated": [True]},
        "13": {"gifs": [{"filename": "wan_00001", "subfolder": "", "type": "temp", "format": "video/h264-mp4"}]},
        "14": {"audio": [{"filename": "speech.flac", "subfolder": "", "type": "output"}]},
        "15": {"text": ["not a file"]},
    }
    files = {f.node_id: f for f in parse_outputs(outputs)}
    assert files["9"].kind is MediaKind.IMAGE
    assert not files["9"].animated
    assert files["10"].kind is MediaKind.IMAGE
    assert files["10"].animated
    assert files["11"].kind is MediaKind.VIDEO
    assert files["12"].kind is MediaKind.VIDEO
    assert files["13"].kind is MediaKind.VIDEO
    assert files["13"].is_temp
    assert files["14"].kind is MediaKind.AUDIO
    assert "15" not in files


def test_saved_outputs_are_preferred_over_previews_and_output_nodes_filter():
    files = parse_outputs(
        {
            "9": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]},
            "20": {"images": [{"filename": "p.png", "subfolder": "", "type": "temp"}]},
        }
    )
    assert [f.filename for f in select_deliverables(files)] == ["a.png"]
    assert [f.filename for f in select_deliverables(files, ["20"])] == ["p.png"]


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("sub/dir/img.png", "img.png"),
        ("a\x00b:c.png", "a_b_c.png"),
        ("..", "output"),
        ("", "output"),
    ],
)
def test_server_file_names_cannot_escape_the_download_directory(name, safe):
    assert safe_filename(name) == safe


def test_history_of_a_failed_prompt_names_node_and_message():
    entry = {
        "outputs": {},
        "status": {
            "status_str": "error",
            "completed": False,
            "messages": [
                ["execution_start", {"prompt_id": "p", "timestamp": 1}],
                [
                    "execution_error",
                    {
                        "prompt_id": "p",
                        "node_id": "8",
                        "node_type": "TestFail",
                        "exception_message": "TestFail: deliberate failure\n",
                        "exception_type": "RuntimeError",
                    },
                ],
            ],
        },
    }
    outcome = parse_history_entry("p", entry)
    assert isinstance(outcome.error, ExecutionFailedError)
    assert "node 8 (TestFail)" in str(outcome.error)
    assert outcome.error.message == "TestFail: deliberate failure"


def test_history_of_an_interrupted_prompt_is_an_interruption():
    entry = {
        "outputs": {},
        "status": {
            "status_str": "error",
            "completed": False,
            "messages": [["execution_interrupted", {"prompt_id": "p", "node_id": "3", "node_type": "KSampler"}]],
        },
    }
    assert isinstance(parse_history_entry("p", entry).error, JobInterruptedError)


def test_run_time_comes_from_comfyui_timestamps_in_milliseconds():
    entry = {
        "outputs": {},
        "status": {
            "status_str": "success",
            "completed": True,
            "messages": [
                ["execution_start", {"prompt_id": "p", "timestamp": 1000}],
                ["execution_success", {"prompt_id": "p", "timestamp": 3500}],
            ],
        },
    }
    outcome = parse_history_entry("p", entry)
    assert outcome.error is None
    assert outcome.run_time == pytest.approx(2.5)


@pytest.mark.parametrize(
    "item",
    [
        {"filename": "someone_elses_upload.png", "subfolder": "", "type": "input"},
        {"filename": "x.png", "subfolder": "", "type": "../input"},
        {"filename": "x.png", "subfolder": "../../input", "type": "output"},
        {"filename": "x.png", "subfolder": "/etc", "type": "output"},
        {"filename": "x.png", "subfolder": "C:\\Users", "type": "output"},
        {"filename": "../input/x.png", "subfolder": "", "type": "output"},
        {"filename": "..\\input\\x.png", "subfolder": "", "type": "temp"},
    ],
)
def test_only_files_a_prompt_made_are_fetched(item):
    assert parse_outputs({"9": {"images": [item]}}) == ()


def test_output_and_temp_files_in_subfolders_are_fetched():
    items = [
        {"filename": "a..b.png", "subfolder": "discomfy/2026", "type": "output"},
        {"filename": "p.png", "subfolder": "", "type": "temp"},
    ]
    assert [f.filename for f in parse_outputs({"9": {"images": items}})] == ["a..b.png", "p.png"]
