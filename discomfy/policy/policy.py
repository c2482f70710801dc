"""ContentPolicy: the one object that knows a place's rules, the server's blocklist and a member's defaults.

Every path that starts jobs calls `check_request` once (the presenter's admission does, for commands, buttons,
the edit form and anything added later); commands use `rules_for`, `choose_workflow` and `defaults` to fill
in what the user left out. Settings are read through small caches that the writers here keep current, so
autocomplete (a request per keystroke) does not hit the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import Any

from discomfy.job import JobRequest
from discomfy.policy.blocklist import Blocklist, compile_rule
from discomfy.policy.errors import BlockedPromptError, PolicyError, SettingError
from discomfy.policy.models import ChannelRules, ChannelSettings, Place, Preferences, Scope
from discomfy.policy.rules import check, choose_workflow, resolve, usable
from discomfy.store.settings import BlockEntry, SettingsStore
from discomfy.workflows import ParamType, WorkflowLibrary, WorkflowSpec
from discomfy.workflows.errors import InvalidParameterError
from discomfy.workflows.values import coerce_value

log = logging.getLogger(__name__)

MAX_CACHED_MEMBERS = 4096  # preferences kept in memory; beyond, the cache starts over
#: The bounds of the numbers an admin may set (the workflow's own limits are checked when a job is built).
BOUNDS: dict[str, tuple[int, int]] = {
    "width": (16, 8192),
    "height": (16, 8192),
    "steps": (1, 1000),
    "max_count": (1, 25),
}
_FIELD_WORDS = {"prompt": "Your prompt", "negative": "Your negative prompt"}


class ContentPolicy:
    """Channel rules (inherited), age-restricted workflows, the prompt blocklist and personal defaults."""

    def __init__(
        self,
        store: SettingsStore,
        workflows: WorkflowLibrary,
        *,
        default_workflow: str | None,
        runnable: Callable[[WorkflowSpec], bool] = lambda spec: True,
    ) -> None:
        """`runnable`: whether a ComfyUI server can run a workflow now, preferred when none is chosen."""
        self.store = store
        self.workflows = workflows
        self.default_workflow = default_workflow
        self.runnable = runnable
        self._settings: dict[tuple[Scope, int], ChannelSettings] = {}
        self._blocklists: dict[int | None, Blocklist] = {}
        self._preferences: dict[int, Preferences] = {}

    # ---- the rules of a place ---------------------------------------------------------------------

    async def rules_for(self, place: Place) -> ChannelRules:
        """The settings that hold in `place`: channel <- category <- server <- config.yaml."""
        layers = [(scope, await self.settings_at(scope, scope_id)) for scope, scope_id in place.scopes()]
        return resolve(place, layers, default_workflow=self.default_workflow)

    def usable_workflows(self, rules: ChannelRules) -> list[WorkflowSpec]:
        """The workflows that may run (and are offered) here, by name."""
        return [spec for spec in self.workflows if usable(rules, spec)]

    def choose_workflow(self, rules: ChannelRules, preferences: Preferences, name: str | None = None) -> WorkflowSpec:
        """The named workflow, or the default under the channel's rules (see `rules.choose_workflow`).

        Raises:
            UnknownWorkflowError: no workflow has that name.
            WorkflowNotAllowedError: none may run here (a named one is checked by `check_request`).
        """
        if name:
            return self.workflows.get(name)
        return choose_workflow(
            rules,
            self.workflows,
            preferred=preferences.workflow,
            fallback=self.default_workflow,
            runnable=self.runnable,
        )

    def defaults(
        self, spec: WorkflowSpec, rules: ChannelRules, preferences: Preferences, *, given: Collection[str]
    ) -> dict[str, Any]:
        """What a request the user left open gets: their own defaults first, else the channel's.

        Only parameters the workflow has and the user did not give, with values the workflow accepts (a size
        outside its limits is left to the workflow's own default rather than refused).
        """
        wanted: dict[str, Any] = {}
        if not {"width", "height"} & set(given):
            width, height = (preferences.width, preferences.height)
            if width is None or height is None:
                width, height = rules.width, rules.height
            if width is not None and height is not None:
                wanted.update(width=width, height=height)
        if "steps" not in given and rules.steps is not None:
            wanted["steps"] = rules.steps
        negative = preferences.negative if preferences.negative is not None else rules.negative
        if "negative" not in given and negative:
            wanted["negative"] = negative
        result: dict[str, Any] = {}
        for name, value in wanted.items():
            param = spec.parameter(name)
            if param is None:
                continue
            try:
                result[name] = coerce_value(param, value)
            except InvalidParameterError:
                continue
        if len({"width", "height"} & result.keys()) == 1:  # half a size is no size
            result.pop("width", None)
            result.pop("height", None)
        return result

    async def spoiler(self, rules: ChannelRules, user_id: int) -> bool:
        """Results are spoilered when the channel says so, or the member asks for it for their own."""
        return rules.spoiler or bool((await self.preferences(user_id)).spoiler)

    # ---- the one check of every request -------------------------------------------------------------

    async def check_request(self, place: Place, request: JobRequest, count: int) -> ChannelRules:
        """Refuse what `place` does not allow: the bot switched off, a workflow not allowed or age-restricted,
        too many at once, a prompt (or any text) matching the server's blocklist. Logs one audit line per
        refusal (user, channel, rule), never the prompt.

        Returns:
            The rules of the place, for what the caller decides next (spoilers).

        Raises:
            PolicyError: one of its subclasses, with a message for the requester.
        """
        rules = await self.rules_for(place)
        spec = self.workflows.find(request.workflow)
        try:
            check(rules, spec, count)
            await self._check_text(place, spec, request.values)
        except PolicyError as exc:
            log.info(
                "Refused by the rules: user %s in channel %s (server %s): %s",
                request.owner_id, place.channel_id, place.guild_id, exc.rule,
            )  # fmt: skip
            raise
        return rules

    async def _check_text(self, place: Place, spec: WorkflowSpec | None, values: Mapping[str, Any]) -> None:
        blocklist = await self.blocklist(place.guild_id)
        if not blocklist.rules:
            return
        for name, value in values.items():
            param = spec.parameter(name) if spec is not None else None
            if not isinstance(value, str) or (param is not None and param.type is not ParamType.STR):
                continue
            found = blocklist.first_match(value)
            if found is not None:
                rule, matched = found
                what = _FIELD_WORDS.get(name, f"The `{name}` text")
                raise BlockedPromptError(
                    f"{what} contains something this server does not allow (blocklist rule {rule.number}), "
                    "so nothing was started. Change it and try again.",
                    rule=f"blocklist rule {rule.number} ({rule.kind} {rule.entry.pattern!r}) on {name}",
                    matched=matched,
                )

    # ---- settings ---------------------------------------------------------------------------------

    async def settings_at(self, scope: Scope, scope_id: int) -> ChannelSettings:
        """What is set at one scope itself (not inherited)."""
        key = (scope, scope_id)
        cached = self._settings.get(key)
        if cached is None:
            cached = ChannelSettings.from_json(await self.store.scope_settings(scope.value, scope_id))
            self._settings[key] = cached
        return cached

    async def set_settings(
        self, scope: Scope, scope_id: int, settings: ChannelSettings, *, guild_id: int | None, by: int
    ) -> None:
        """Replace what one scope sets (ChannelSettings() clears it: everything inherited again).

        Raises:
            SettingError: a number out of bounds or an unknown workflow.
        """
        for name, (low, high) in BOUNDS.items():
            value = getattr(settings, name)
            if value is not None and not low <= value <= high:
                raise SettingError(f"{name.replace('_', ' ')} must be from {low} to {high} (got {value}).")
        named: list[str | None] = [*(settings.workflows or ()), settings.default_workflow]
        for workflow in named:
            if workflow is not None and workflow not in self.workflows:
                known = ", ".join(self.workflows.names)
                raise SettingError(f"There is no workflow `{workflow}` (known: {known}).")
        await self.store.set_scope_settings(scope.value, scope_id, settings.to_json(), guild_id=guild_id, by=by)
        self._settings[(scope, scope_id)] = settings
        log.info("Settings of %s %s set by %s: %s", scope, scope_id, by, settings.to_json() or "all inherited")

    async def update_settings(
        self, scope: Scope, scope_id: int, *, guild_id: int | None, by: int, **changes: Any
    ) -> ChannelSettings:
        """Change some settings of one scope (None: inherit that one again); returns what the scope sets now."""
        settings = replace(await self.settings_at(scope, scope_id), **changes)
        await self.set_settings(scope, scope_id, settings, guild_id=guild_id, by=by)
        return settings

    # ---- the blocklist ------------------------------------------------------------------------------

    async def blocklist(self, guild_id: int | None) -> Blocklist:
        """A server's rules; for a DM (None), every server's: a DM is no way around them."""
        cached = self._blocklists.get(guild_id)
        if cached is None:
            cached = Blocklist.of(await self.store.blocklist(guild_id))
            self._blocklists[guild_id] = cached
        return cached

    async def add_block(self, guild_id: int, pattern: str, *, regex: bool, whole_word: bool, by: int) -> bool:
        """Add a rule to a server's blocklist; False when it was there already.

        Raises:
            SettingError: an empty or too long rule, or an invalid (or match-everything) regular expression.
        """
        compile_rule(pattern, regex=regex, whole_word=whole_word)
        entry = BlockEntry(guild_id, pattern.strip(), regex=regex, whole_word=whole_word, added_by=by)
        added = await self.store.add_block(entry)
        self._forget_blocklist(guild_id)
        log.info("Blocklist of server %s: %s added a %s rule", guild_id, by, "regex" if regex else "word")
        return added

    async def remove_block(self, guild_id: int, pattern: str, *, by: int) -> int:
        """Remove a server's rules with this exact pattern, or its rule of this number; how many went."""
        entries = await self.store.blocklist(guild_id)
        text = pattern.strip()
        if text.isdecimal() and 1 <= int(text) <= len(entries) and not any(e.pattern == text for e in entries):
            text = entries[int(text) - 1].pattern
        removed = await self.store.remove_block(guild_id, text)
        self._forget_blocklist(guild_id)
        log.info("Blocklist of server %s: %s removed %d rule(s)", guild_id, by, removed)
        return removed

    def _forget_blocklist(self, guild_id: int) -> None:
        self._blocklists.pop(guild_id, None)
        self._blocklists.pop(None, None)  # a DM's list is every server's

    # ---- a member's defaults ------------------------------------------------------------------------

    async def preferences(self, user_id: int) -> Preferences:
        cached = self._preferences.get(user_id)
        if cached is None:
            cached = Preferences.from_json(await self.store.preferences(user_id))
            if len(self._preferences) >= MAX_CACHED_MEMBERS:
                self._preferences.clear()
            self._preferences[user_id] = cached
        return cached

    async def update_preferences(self, user_id: int, **changes: Any) -> Preferences:
        """Change some of a member's defaults (None: forget that one); returns them as they are now.

        Raises:
            SettingError: a size out of bounds or an unknown workflow.
        """
        preferences = replace(await self.preferences(user_id), **changes)
        for name in ("width", "height"):
            value = getattr(preferences, name)
            low, high = BOUNDS[name]
            if value is not None and not low <= value <= high:
                raise SettingError(f"{name} must be from {low} to {high} (got {value}).")
        if preferences.workflow is not None and preferences.workflow not in self.workflows:
            raise SettingError(f"There is no workflow `{preferences.workflow}`.")
        await self.store.set_preferences(user_id, preferences.to_json())
        self._preferences[user_id] = preferences
        return preferences
