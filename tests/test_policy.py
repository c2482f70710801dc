"""The policy's pure rules (inheritance, workflow choice, defaults, the blocklist) and its storage."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from discomfy.policy import Blocklist, ChannelSettings, Place, Preferences, Scope, SettingError, compile_rule
from discomfy.policy.rules import choose_workflow, resolve, usable
from discomfy.store import JobStore
from discomfy.store.settings import BlockEntry, SettingsStore
from discomfy.workflows import load_workflows
from testing.botkit import WORKFLOWS
from testing.records import workflow_spec

GUILD, CATEGORY, CHANNEL, THREAD = 1, 2, 3, 4
SAFE, OTHER, ADULT = workflow_spec(name="safe"), workflow_spec(name="other"), workflow_spec(name="adult")
ADULT = replace(ADULT, nsfw=True)


def test_a_thread_takes_its_parents_settings_then_the_category_then_the_server() -> None:
    place = Place(THREAD, GUILD, parent_id=CHANNEL, category_id=CATEGORY)
    assert place.scopes() == [(Scope.CHANNEL, CHANNEL), (Scope.CATEGORY, CATEGORY), (Scope.GUILD, GUILD)]
    assert Place(CHANNEL).scopes() == []  # a DM: config.yaml alone


def test_each_setting_comes_from_the_nearest_scope_that_sets_it() -> None:
    layers = [
        (Scope.CHANNEL, ChannelSettings(steps=9)),
        (Scope.CATEGORY, ChannelSettings(steps=5, spoiler=True)),
        (Scope.GUILD, ChannelSettings(spoiler=False, max_count=2, enabled=False)),
    ]
    rules = resolve(Place(CHANNEL, GUILD), layers, default_workflow="safe")
    assert (rules.steps, rules.spoiler, rules.max_count, rules.enabled) == (9, True, 2, False)
    assert rules.default_workflow == "safe"
    assert rules.sources == {
        "steps": Scope.CHANNEL,
        "spoiler": Scope.CATEGORY,
        "max_count": Scope.GUILD,
        "enabled": Scope.GUILD,
        "default_workflow": Scope.CONFIG,
    }
    assert rules.workflows is None  # nobody restricted them


def test_a_personal_default_counts_only_where_the_channel_allows_it() -> None:
    specs = [ADULT, OTHER, SAFE]
    rules = resolve(
        Place(CHANNEL, GUILD), [(Scope.CHANNEL, ChannelSettings(workflows=("safe", "adult")))], default_workflow=None
    )
    assert choose_workflow(rules, specs, preferred="other").name == "safe"  # not allowed: passed over
    assert choose_workflow(rules, specs, preferred="adult").name == "safe"  # not age-restricted here
    assert not usable(rules, ADULT)
    adult_room = resolve(Place(CHANNEL, GUILD, nsfw=True), [], default_workflow="other")
    assert choose_workflow(adult_room, specs, preferred="adult").name == "adult"
    assert choose_workflow(adult_room, specs).name == "other"
    assert not usable(resolve(Place(CHANNEL, nsfw=True), [], default_workflow=None), ADULT)  # never in a DM


def test_with_no_usable_default_the_configs_comes_next_then_the_first_a_server_can_run() -> None:
    specs = [ADULT, OTHER, SAFE]
    lounge = resolve(
        Place(CHANNEL, GUILD), [(Scope.GUILD, ChannelSettings(default_workflow="adult"))], default_workflow=None
    )
    assert choose_workflow(lounge, specs, fallback="safe").name == "safe"  # the server's default is age-restricted
    assert choose_workflow(lounge, specs).name == "other"  # the first usable here, by name
    assert choose_workflow(lounge, specs, runnable=lambda spec: spec.name != "other").name == "safe"
    assert choose_workflow(lounge, specs, runnable=lambda spec: False).name == "other"  # none runs: still one


def test_stored_settings_of_the_wrong_type_are_ignored_not_trusted() -> None:
    settings = ChannelSettings.from_json({"steps": "9", "spoiler": 1, "max_count": True, "workflows": ["a"]})
    assert settings == ChannelSettings(workflows=("a",))
    assert Preferences.from_json(Preferences(width=640, height=768).to_json()) == Preferences(width=640, height=768)


@pytest.mark.parametrize(
    ("pattern", "regex", "whole", "text", "matched"),
    [
        ("red fox", False, True, "a RED\n fox", "RED\n fox"),
        ("red fox", False, True, "a redfox", None),
        ("ash", False, True, "Ashford and ash", "ash"),
        ("ash", False, False, "Ashford", "Ash"),
        ("nude", False, True, "ｎｕｄｅ figure", "nude"),  # full-width letters fold
        ("nude", False, True, "nu\u200bde figure", "nude"),  # a zero-width space does not split it
        (r"gr[ae]y", True, True, "GREY sky", "GREY"),
        (r"gr[ae]y", True, True, "greyhound", None),
    ],
)
def test_blocklist_rules_match_case_insensitively_and_whole_words_by_default(
    pattern: str, regex: bool, whole: bool, text: str, matched: str | None
) -> None:
    blocklist = Blocklist.of([BlockEntry(GUILD, pattern, regex=regex, whole_word=whole)])
    found = blocklist.first_match(text)
    assert (found[1] if found else None) == matched


@pytest.mark.parametrize(("pattern", "reason"), [("(", "not a valid regular expression"), ("a*", "empty text")])
def test_a_regex_that_is_invalid_or_matches_everything_is_refused(pattern: str, reason: str) -> None:
    with pytest.raises(SettingError, match=reason):
        compile_rule(pattern, regex=True, whole_word=False)


async def test_settings_blocklists_and_preferences_are_kept_in_the_job_store(tmp_path: Path) -> None:
    async with JobStore(tmp_path / "db.sqlite3") as store:
        settings = SettingsStore(store)
        await settings.set_scope_settings("category", CATEGORY, {"steps": 4}, guild_id=GUILD, by=9)
        assert await settings.add_block(BlockEntry(GUILD, "owl", regex=False, whole_word=True))
        assert not await settings.add_block(BlockEntry(GUILD, "owl", regex=False, whole_word=False))
        await settings.add_block(BlockEntry(GUILD + 1, "bat", regex=False, whole_word=True))
        await settings.set_preferences(7, {"workflow": "safe"})
    async with JobStore(tmp_path / "db.sqlite3") as store:
        settings = SettingsStore(store)
        assert await settings.scope_settings("category", CATEGORY) == {"steps": 4}
        assert [(e.pattern, e.whole_word) for e in await settings.blocklist(GUILD)] == [("owl", False)]
        assert {e.pattern for e in await settings.blocklist(None)} == {"owl", "bat"}
        assert await settings.preferences(7) == {"workflow": "safe"}
        await settings.set_scope_settings("category", CATEGORY, {}, guild_id=GUILD, by=9)
        assert await settings.scope_settings("category", CATEGORY) == {}
        assert await settings.remove_block(GUILD, "owl") == 1


def test_a_mapping_marks_a_workflow_age_restricted_with_nsfw(tmp_path: Path) -> None:
    for source in WORKFLOWS.glob("txt2img_sdxl.*"):
        (tmp_path / source.name).write_bytes(source.read_bytes())
    mapping = tmp_path / "txt2img_sdxl.yaml"
    mapping.write_text(mapping.read_text() + "nsfw: true\n")
    assert load_workflows(tmp_path).get("txt2img_sdxl").nsfw
