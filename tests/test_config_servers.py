"""comfy.servers: several ComfyUI servers by name, each with its own key, and comfy.url as the one-server shorthand."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from discomfy.comfy.settings import DEFAULT_SERVER
from discomfy.config import InvalidConfigError, load_config

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"
ENV = {"DISCORD_TOKEN": TOKEN}

TWO_SERVERS = """
comfy:
  request_timeout: 12
  servers:
    - {name: gpu1, url: "http://10.0.0.11:8188/"}
    - {name: gpu-2, url: "http://10.0.0.12:8188", weight: 2}
    - {name: spare, url: "http://10.0.0.13:8188", enabled: false}
"""


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path, env={**ENV, **(env or {})})


def _problem(tmp_path: Path, text: str) -> tuple[str, str]:
    with pytest.raises(InvalidConfigError) as caught:
        _load(tmp_path, text)
    return caught.value.field, str(caught.value)


def test_comfy_url_alone_is_one_server_named_default_with_the_sections_settings(tmp_path):
    config = _load(tmp_path, "comfy:\n  url: http://gpu:8188\n  request_timeout: 7\n")
    (server,) = config.comfy.enabled_servers()
    assert (server.name, server.weight) == (DEFAULT_SERVER, 1.0)
    assert (server.settings.url, server.settings.request_timeout) == ("http://gpu:8188", 7)


def test_servers_are_run_in_order_with_the_shared_tuning_and_disabled_ones_left_out(tmp_path):
    servers = _load(tmp_path, TWO_SERVERS).comfy.enabled_servers()
    assert [(s.name, s.weight, s.settings.url) for s in servers] == [
        ("gpu1", 1.0, "http://10.0.0.11:8188"),
        ("gpu-2", 2.0, "http://10.0.0.12:8188"),
    ]
    assert all(s.settings.request_timeout == 12 and s.settings.servers == () for s in servers)


def test_each_server_has_its_own_key_from_the_environment_and_the_rest_share_the_common_one(tmp_path):
    env = {"COMFY_GPU_2_API_KEY": "key-two", "COMFY_API_KEY": "shared"}
    config = _load(tmp_path, TWO_SERVERS, env)
    gpu1, gpu2 = config.comfy.enabled_servers()
    assert gpu1.settings.headers == (("Authorization", "Bearer shared"),)
    assert gpu2.settings.headers == (("Authorization", "Bearer key-two"),)
    assert {"key-two", "shared"} <= set(config.secret_values())
    assert "key-two" not in repr(config)


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (
            "comfy:\n  servers:\n    - {name: a, url: 'ftp://x'}\n",
            "comfy.servers[0].url",
            "expected an http:// or https:// URL",
        ),
        (
            "comfy:\n  servers:\n    - {name: 'a b', url: 'http://x'}\n",
            "comfy.servers[0].name",
            "expected a name of letters, digits",
        ),
        ("comfy:\n  servers:\n    - {name: a, url: 'http://x', weight: 0}\n", "comfy.servers[0].weight", "above 0"),
        ("comfy:\n  servers:\n    - {name: a}\n", "comfy.servers[0].url", "required here, and not set"),
        ("comfy:\n  servers: {a: 1}\n", "comfy.servers", "expected a list with a mapping of keys per entry"),
        (
            "comfy:\n  servers:\n    - {name: a, url: 'http://x', wieght: 2}\n",
            "comfy.servers[0].wieght",
            "did you mean 'weight'?",
        ),
        (
            "comfy:\n  servers:\n    - {name: gpu-1, url: 'http://x'}\n    - {name: GPU_1, url: 'http://y'}\n",
            "comfy.servers[1]",
            "the name 'GPU_1' is taken (by server 0)",
        ),
        (
            "comfy:\n  servers:\n    - {name: a, url: 'http://x', enabled: false}\n",
            "comfy.servers",
            "at least one server with enabled: true",
        ),
        (
            "comfy:\n  url: http://x\n  servers:\n    - {name: a, url: 'http://y'}\n",
            "comfy.url",
            "either comfy.url (one server) or comfy.servers",
        ),
        ("comfy:\n  servers:\n    - {name: a, url: 'http://x', headers: []}\n", "comfy.servers[0].headers", "unknown"),
    ],
)
def test_a_bad_server_entry_names_the_server_and_the_key(tmp_path, text, key, expected):
    field, message = _problem(tmp_path, text)
    assert field == key
    assert expected in message


def test_a_server_key_in_the_file_is_refused_with_a_pointer_to_the_environment(tmp_path):
    field, message = _problem(tmp_path, "comfy:\n  servers:\n    - {name: a, url: 'http://x', api_key: s}\n")
    assert field == "comfy.servers[0].api_key"
    assert "set COMFY_API_KEY" in message
