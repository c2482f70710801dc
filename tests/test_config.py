"""config.yaml + environment -> Config: defaults, every section, and errors an admin can act on."""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from discomfy.comfy import ComfySettings
from discomfy.config import (
    DEFAULT_CONFIG_PATH,
    ENV_VARIABLES,
    Config,
    ConfigProblem,
    InvalidConfigError,
    Secret,
    load_config,
)
from discomfy.config.errors import ConfigError
from discomfy.config.settings import file_keys
from discomfy.errors import DiscomfyError

REPO = Path(__file__).resolve().parent.parent
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"
ENV = {"DISCORD_TOKEN": TOKEN}


@pytest.fixture
def write_config(tmp_path: Path):
    def write(text: str) -> Path:
        path = tmp_path / "config.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


def _error(path: Path, text: str | None = None, env: dict[str, str] | None = None) -> ConfigError:
    if text is not None:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV if env is None else env, require_token=True)
    return caught.value


# ---- defaults ---------------------------------------------------------------------------------


def test_no_config_file_runs_on_defaults_against_local_comfyui(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env=ENV)
    assert config.source is None
    assert config.comfy == ComfySettings(download_dir=tmp_path.resolve() / "data/outputs")
    assert config.comfy.url == "http://127.0.0.1:8188"
    assert config.storage.database == tmp_path.resolve() / "data/discomfy.sqlite3"
    assert config.workflows.directory == tmp_path.resolve() / "workflows"
    assert (config.workflows.default, config.workflows.upscale) == (None, None)
    assert config.discord.guild_ids == config.discord.admin_role_ids == config.discord.admin_user_ids == ()
    assert config.limits.max_pending_per_user == 3
    assert config.limits.max_pending_total == 25
    assert (config.limits.max_count, config.limits.max_batch, config.limits.default_batch) == (4, 8, 4)
    assert config.limits.max_input_image_bytes == 20 * 1024 * 1024
    assert (config.uploads.transcode_video, config.uploads.ffmpeg, config.uploads.edit_interval) == (
        True,
        "ffmpeg",
        1.5,
    )
    assert config.logging.level == "INFO"


def test_absent_default_config_yaml_means_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(DEFAULT_CONFIG_PATH, env=ENV) == load_config(None, env=ENV)


def test_a_config_made_in_code_is_the_one_loaded_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Config() == load_config(None, env={})
    assert Config().comfy.download_dir == Config().storage.outputs == tmp_path.resolve() / "data/outputs"


def test_comfy_settings_are_made_by_keyword_and_checked_like_the_file():
    settings = ComfySettings(url="http://comfy:8188/", request_timeout=2, submit_retries=0)
    assert (settings.url, settings.request_timeout, settings.submit_retries) == ("http://comfy:8188", 2.0, 0)
    assert settings.download_chunk_size == ComfySettings().download_chunk_size
    with pytest.raises(ValidationError, match="url"):
        ComfySettings(url="localhost:8188")
    with pytest.raises(ValidationError, match="reconnect_max_delay"):
        ComfySettings(reconnect_min_delay=2.0, reconnect_max_delay=1.0)


def test_absent_explicitly_named_config_file_is_an_error(tmp_path):
    missing = tmp_path / "elsewhere.yaml"
    error = _error(missing)
    assert error.file == str(missing)
    assert "not found" in str(error)


def test_empty_file_and_empty_sections_mean_defaults(write_config, monkeypatch):
    empty = load_config(write_config(""), env=ENV)
    sections = load_config(write_config("comfy:\nlimits:\n# everything commented out\n"), env=ENV)
    assert sections == empty
    assert empty.limits.max_count == 4


def test_example_config_states_exactly_the_defaults(monkeypatch):
    monkeypatch.chdir(REPO)
    example = load_config(REPO / "config.example.yaml", env=ENV)
    assert example.model_copy(update={"source": None}) == load_config(None, env=ENV)


def test_example_config_lists_every_option():
    example = yaml.safe_load((REPO / "config.example.yaml").read_text(encoding="utf-8"))
    config = load_config(None, env=ENV)
    expected = {section: set(file_keys(type(getattr(config, section)))) for section in file_keys(Config)}
    assert {name: set(keys) for name, keys in example.items()} == expected


def test_example_env_lists_every_variable_and_no_values():
    lines = (REPO / ".env.example").read_text(encoding="utf-8").splitlines()
    assignments = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert tuple(assignments) == ENV_VARIABLES
    assert set(assignments.values()) == {""}


# ---- every section parsed ---------------------------------------------------------------------


def test_every_section_is_parsed_into_typed_settings(write_config):
    path = write_config(
        """
        comfy:
          url: https://comfy.example.com/base/
          request_timeout: 12.5
          watchdog_interval: 20
          reconnect_max_delay: 60
        discord:
          guild_ids: [111111111111111111, "222222222222222222"]
          admin_role_ids: ["333"]
          admin_user_ids: [444, 444]
        workflows:
          directory: flows
          default: txt2img
          upscale: upscale-4x
        limits:
          max_pending_per_user: 2
          max_pending_total: 10
          cooldown_seconds: 0
          max_count: 2
          max_batch: 6
          default_batch: 6
          variations: 3
          max_prompt_length: 500
          max_input_image_mb: 8.5
        uploads:
          transcode_video: false
          ffmpeg: /usr/local/bin/ffmpeg
          edit_interval: 2
        storage:
          database: /var/lib/discomfy/jobs.sqlite3
          outputs: out
        logging:
          level: debug
        """
    )
    config = load_config(path, env=ENV)
    base = path.parent.resolve()
    assert config.source == path
    assert config.comfy == ComfySettings(
        url="https://comfy.example.com/base",
        request_timeout=12.5,
        watchdog_interval=20.0,
        reconnect_max_delay=60.0,
        download_dir=base / "out",
    )
    assert config.discord.guild_ids == (111111111111111111, 222222222222222222)
    assert config.discord.admin_role_ids == (333,)
    assert config.discord.admin_user_ids == (444,)
    assert config.workflows.directory == base / "flows"
    assert (config.workflows.default, config.workflows.upscale) == ("txt2img", "upscale-4x")
    limits = config.limits
    assert (limits.max_pending_per_user, limits.max_pending_total, limits.cooldown_seconds) == (2, 10, 0)
    assert (limits.max_count, limits.max_batch, limits.default_batch, limits.variations) == (2, 6, 6, 3)
    assert (limits.max_prompt_length, limits.max_input_image_mb) == (500, 8.5)
    assert config.uploads.transcode_video is False
    assert config.uploads.ffmpeg == "/usr/local/bin/ffmpeg"
    assert config.uploads.edit_interval == 2
    assert config.storage.database == Path("/var/lib/discomfy/jobs.sqlite3")
    assert config.storage.outputs == base / "out"
    assert config.logging.level == "DEBUG"


def test_relative_paths_resolve_against_the_config_files_folder_not_the_cwd(tmp_path, monkeypatch):
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "bot.yaml"
    path.write_text("storage:\n  database: ../state/db.sqlite3\nuploads:\n  ffmpeg: bin/ffmpeg\n")
    monkeypatch.chdir(REPO)
    config = load_config(path, env=ENV)
    assert config.storage.database == tmp_path.resolve() / "state/db.sqlite3"
    assert config.storage.outputs == folder.resolve() / "data/outputs"
    assert config.uploads.ffmpeg == str(folder.resolve() / "bin/ffmpeg")


def test_config_and_its_sections_are_frozen():
    config = load_config(None, env=ENV)
    settings = [
        (config, "source"),
        (config.comfy, "url"),
        (config.discord, "guild_ids"),
        (config.workflows, "default"),
        (config.limits, "max_count"),
        (config.uploads, "ffmpeg"),
        (config.storage, "database"),
        (config.logging, "level"),
    ]
    for section, name in settings:
        with pytest.raises(ValidationError, match="frozen"):
            setattr(section, name, getattr(section, name))


# ---- errors: file, key path, expected value ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("limits:\n  max_count: four\n", "limits.max_count", "expected a whole number, got 'four'"),
        ("uploads:\n  transcode_video: maybe\n", "uploads.transcode_video", "expected true or false"),
        ("discord:\n  guild_ids: [123, abc]\n", "discord.guild_ids[1]", "expected a whole number, got 'abc'"),
        ("discord:\n  guild_ids: 123\n", "discord.guild_ids", "expected a list"),
        ("limits: 5\n", "limits", "expected a mapping of keys, got 5"),
        ("comfy:\n  url: ftp://comfy:8188\n", "comfy.url", "expected an http:// or https:// URL"),
        ("comfy:\n  url: localhost:8188\n", "comfy.url", "expected an http:// or https:// URL"),
        ("comfy:\n  url: not a url\n", "comfy.url", "expected an http:// or https:// URL"),
        ("limits:\n  max_pending_per_user: -1\n", "limits.max_pending_per_user", "expected a number of at least 1"),
        ("limits:\n  cooldown_seconds: -5\n", "limits.cooldown_seconds", "expected a number of at least 0"),
        ("comfy:\n  request_timeout: 0\n", "comfy.request_timeout", "expected a number above 0"),
        ("limits:\n  max_prompt_length: 9000\n", "limits.max_prompt_length", "expected a number of at most 6000"),
        ("limits:\n  default_batch: 9\n", "limits.default_batch", "at most limits.max_batch (8), got 9"),
        ("logging:\n  level: LOUD\n", "logging.level", "expected one of 'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("workflows:\n  directory: ''\n", "workflows.directory", "expected non-empty text"),
    ],
)
def test_invalid_value_names_file_key_path_and_expectation(write_config, text, key, expected):
    path = write_config(text)
    error = _error(path)
    assert isinstance(error, InvalidConfigError)
    assert error.file == str(path)
    assert error.field == key
    assert str(error).startswith(f"{path}: {key}: ")
    assert expected in str(error)


def test_typo_in_a_key_is_an_unknown_key_with_a_suggestion(write_config):
    error = _error(write_config("limits:\n  max_pending_per_usr: 2\n"))
    assert error.field == "limits.max_pending_per_usr"
    assert "unknown key (did you mean 'max_pending_per_user'?)" in str(error)
    assert "expected one of: max_pending_per_user, max_pending_total" in str(error)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("source: elsewhere.yaml\n", "source"),
        ("comfy:\n  download_dir: /tmp\n", "comfy.download_dir"),
        ("comfy:\n  submit_retries: 9\n", "comfy.submit_retries"),
        ("comfy:\n  headers: []\n", "comfy.headers"),
    ],
)
def test_fields_filled_in_from_elsewhere_are_unknown_keys_in_the_file(write_config, text, key):
    error = _error(write_config(text))
    assert error.field == key
    assert "unknown key" in str(error)
    assert "submit_retries" not in str(error).partition("expected one of:")[2]


def test_unknown_section_is_an_error(write_config):
    error = _error(write_config("limit:\n  max_count: 2\n"))
    assert error.field == "limit"
    assert "did you mean 'limits'?" in str(error)


def test_all_problems_are_reported_at_once_one_line_each(write_config):
    path = write_config(
        """
        comfy:
          url: ftp://nowhere
        limits:
          max_count: -2
          max_batchh: 3
        logging:
          level: chatty
        """
    )
    error = _error(path, env={})
    assert isinstance(error, InvalidConfigError)
    assert [p.key for p in error.problems] == [
        "comfy.url",
        "limits.max_count",
        "limits.max_batchh",
        "logging.level",
        "DISCORD_TOKEN",
    ]
    lines = str(error).splitlines()
    assert lines[0] == f"{path}: 5 problems:"
    assert len(lines) == 6
    assert all(isinstance(p, ConfigProblem) and str(p) in str(error) for p in error.problems)


def test_yaml_syntax_error_names_the_line(write_config):
    error = _error(write_config("comfy:\n  url: http://x:8188\nlimits:\n  max_count: [1, 2\n"))
    assert not isinstance(error, InvalidConfigError)
    assert str(error) == (
        f"{error.file}: invalid YAML at line 5, column 1: expected ',' or ']', but got '<stream end>'"
        " (while parsing a flow sequence at line 4)"
    )


def test_yaml_syntax_error_points_at_the_bad_line(write_config):
    error = _error(write_config("limits:\n  max_count: 4\n bad indent: 1\n"))
    assert str(error).startswith(f"{error.file}: invalid YAML at line 3")


def test_repeated_key_is_refused_with_its_line(write_config):
    error = _error(write_config("limits:\n  max_count: 2\n  max_count: 3\n"))
    assert "line 3" in str(error)
    assert "duplicate key 'max_count'" in str(error)


def test_config_errors_belong_to_the_discomfy_hierarchy(write_config):
    assert issubclass(InvalidConfigError, ConfigError)
    assert issubclass(ConfigError, DiscomfyError)


# ---- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "variable"),
    [
        ("discord:\n  token: {secret}\n", "discord.token", "DISCORD_TOKEN"),
        ("token: {secret}\n", "token", "DISCORD_TOKEN"),
        ("comfy:\n  api_key: {secret}\n", "comfy.api_key", "COMFY_API_KEY"),
        ("comfy:\n  password: {secret}\n", "comfy.password", "COMFY_USERNAME and COMFY_PASSWORD"),
    ],
)
def test_secret_in_the_yaml_is_refused_with_a_pointer_to_env(write_config, text, key, variable):
    error = _error(write_config(text.format(secret="hunter2-very-secret")))
    assert error.field == key
    assert f"set {variable} in .env" in str(error)
    assert "hunter2-very-secret" not in str(error)


def test_credentials_inside_the_comfy_url_are_refused(write_config):
    error = _error(write_config("comfy:\n  url: http://admin:hunter2@comfy:8188\n"))
    assert error.field == "comfy.url"
    assert "COMFY_USERNAME" in str(error)
    assert "hunter2" not in str(error)


def test_token_comes_from_the_environment_and_never_shows_in_repr_or_str():
    config = load_config(None, env=ENV)
    assert config.discord.token is not None
    assert config.discord.token.reveal() == TOKEN
    for text in (repr(config), str(config), repr(config.discord), str(config.discord.token)):
        assert TOKEN not in text
    assert Secret("a") == Secret("a") != Secret("b")


def test_missing_token_is_reported_only_when_required(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(None, env={}).discord.token is None
    with pytest.raises(InvalidConfigError) as caught:
        load_config(None, env={"DISCORD_TOKEN": "   "}, require_token=True)
    assert caught.value.field == "DISCORD_TOKEN"
    assert ".env" in str(caught.value)


def test_env_defaults_to_the_process_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("COMFY_API_KEY", "from-os-environ")
    config = load_config(None, require_token=True)
    assert config.comfy.headers == (("Authorization", "Bearer from-os-environ"),)


def test_comfy_api_key_becomes_a_bearer_header():
    config = load_config(None, env={**ENV, "COMFY_API_KEY": "sk-abc123"})
    assert config.comfy.headers == (("Authorization", "Bearer sk-abc123"),)
    assert "sk-abc123" in config.secret_values()
    assert "sk-abc123" not in repr(config)


def test_comfy_username_and_password_become_basic_auth():
    config = load_config(None, env={**ENV, "COMFY_USERNAME": "alice", "COMFY_PASSWORD": "s3cret:pw"})
    encoded = base64.b64encode(b"alice:s3cret:pw").decode()
    assert config.comfy.headers == (("Authorization", f"Basic {encoded}"),)
    assert {TOKEN, encoded, f"Basic {encoded}", "s3cret:pw"} <= set(config.secret_values())


def test_blank_credentials_in_env_count_as_unset():
    config = load_config(None, env={**ENV, "COMFY_API_KEY": "", "COMFY_USERNAME": "", "COMFY_PASSWORD": ""})
    assert config.comfy.headers == ()
    assert config.secret_values() == (TOKEN,)


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"COMFY_USERNAME": "alice"}, "COMFY_PASSWORD"),
        ({"COMFY_PASSWORD": "pw"}, "COMFY_USERNAME"),
        ({"COMFY_API_KEY": "k", "COMFY_USERNAME": "alice", "COMFY_PASSWORD": "pw"}, "COMFY_API_KEY"),
    ],
)
def test_half_or_doubled_comfy_credentials_are_an_error(tmp_path, monkeypatch, env, key):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidConfigError) as caught:
        load_config(None, env={**ENV, **env})
    assert caught.value.field == key


def test_env_problems_are_listed_with_file_problems(write_config):
    error = _error(write_config("limits:\n  max_count: 0\n"), env={"COMFY_USERNAME": "alice"})
    assert {p.key for p in error.problems} == {"limits.max_count", "DISCORD_TOKEN", "COMFY_PASSWORD"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("comfy:\n  local_output_dir: ComfyUI/output\n", "comfy.local_output_dir: expected an absolute path"),
        ("comfy:\n  max_outputs: 0\n", "comfy.max_outputs"),
        ("comfy:\n  max_download_mb: -1\n", "comfy.max_download_mb"),
        ("storage:\n  keep_outputs_days: 0\n", "storage.keep_outputs_days"),
        ("storage:\n  keep_outputs_gb: -2\n", "storage.keep_outputs_gb"),
    ],
)
def test_the_new_bounds_name_the_key_that_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    assert message in str(_error(tmp_path / "config.yaml", text))


def test_the_new_bounds_take_their_documented_values(write_config) -> None:
    config = load_config(
        write_config(
            """
            comfy:
              local_output_dir: /srv/ComfyUI/output
              max_outputs: 10
            storage:
              keep_outputs_days: 30
              keep_outputs_gb: 2.5
            """
        ),
        env=ENV,
    )
    assert config.comfy.local_output_dir == Path("/srv/ComfyUI/output")
    assert config.comfy.max_outputs == 10
    assert (config.storage.keep_outputs_days, config.storage.keep_outputs_gb) == (30, 2.5)
