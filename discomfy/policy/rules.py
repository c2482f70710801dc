"""The rules of a place: inheritance (channel <- category <- server <- config.yaml; a thread is its parent) and
what they refuse, each refusal with its reason."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from discomfy.policy.errors import AgeRestrictedError, ChannelClosedError, CountNotAllowedError, WorkflowNotAllowedError
from discomfy.policy.models import SETTING_NAMES, ChannelRules, ChannelSettings, Place, Scope
from discomfy.workflows import WorkflowSpec

_WHERE = {
    Scope.CHANNEL: "this channel",
    Scope.CATEGORY: "this channel's category",
    Scope.GUILD: "this server",
    Scope.CONFIG: "the bot's config",
}


def resolve(
    place: Place, layers: Sequence[tuple[Scope, ChannelSettings]], *, default_workflow: str | None
) -> ChannelRules:
    """Each setting from the nearest scope that sets it; `default_workflow` is config.yaml's, the last layer."""
    values: dict[str, Any] = {}
    sources: dict[str, Scope] = {}
    config = ChannelSettings(default_workflow=default_workflow)
    for scope, settings in [*layers, (Scope.CONFIG, config)]:
        for name in SETTING_NAMES:
            value = getattr(settings, name)
            if value is not None and name not in values:
                values[name] = value
                sources[name] = scope
    return ChannelRules(place=place, **values, sources=sources)


def workflow_refusal(rules: ChannelRules, spec: WorkflowSpec) -> WorkflowNotAllowedError | AgeRestrictedError | None:
    """Why `spec` cannot run here, or None when it can."""
    if rules.workflows is not None and spec.name not in rules.workflows:
        where = _WHERE[rules.sources.get("workflows", Scope.CHANNEL)]
        allowed = ", ".join(f"`{name}`" for name in rules.workflows) or "none"
        return WorkflowNotAllowedError(
            f"The workflow {spec.title} (`{spec.name}`) is not allowed in this channel (set for {where}). "
            f"Allowed here: {allowed}.",
            rule=f"allowed workflows ({rules.sources.get('workflows', Scope.CHANNEL)})",
        )
    if spec.nsfw and rules.place.is_dm:
        return AgeRestrictedError(
            f"The workflow {spec.title} (`{spec.name}`) is age-restricted and never runs in direct messages. "
            "Use it in an age-restricted channel of the server.",
            rule="nsfw workflow in a DM",
        )
    if spec.nsfw and not rules.place.nsfw:
        return AgeRestrictedError(
            f"The workflow {spec.title} (`{spec.name}`) is age-restricted: it runs only in channels marked "
            "age-restricted. Use one of those, or another workflow.",
            rule="nsfw workflow outside an age-restricted channel",
        )
    return None


def usable(rules: ChannelRules, spec: WorkflowSpec) -> bool:
    """Whether `spec` may run (and be offered) here."""
    return workflow_refusal(rules, spec) is None


def check(rules: ChannelRules, spec: WorkflowSpec | None, count: int) -> None:
    """Everything a place's settings refuse, in the order a user would fix it.

    Raises:
        ChannelClosedError, WorkflowNotAllowedError, AgeRestrictedError, CountNotAllowedError.
    """
    if not rules.enabled:
        scope = rules.sources.get("enabled", Scope.CHANNEL)
        raise ChannelClosedError(
            f"DisComfy is switched off in this channel (set for {_WHERE[scope]}), so nothing was started. "
            "Use another channel.",
            rule=f"bot switched off ({scope})",
        )
    if spec is not None and (refusal := workflow_refusal(rules, spec)) is not None:
        raise refusal
    if rules.max_count is not None and count > rules.max_count:
        scope = rules.sources.get("max_count", Scope.CHANNEL)
        raise CountNotAllowedError(
            f"At most {rules.max_count} image(s) per request in this channel (set for {_WHERE[scope]}); "
            f"this asked for {count}.",
            rule=f"max count {rules.max_count} ({scope})",
        )


def choose_workflow(
    rules: ChannelRules,
    specs: Iterable[WorkflowSpec],
    *,
    preferred: str | None = None,
    fallback: str | None = None,
    runnable: Callable[[WorkflowSpec], bool] = lambda spec: True,
) -> WorkflowSpec:
    """The workflow when none is named: the member's own default, else the channel's, else `fallback` (config's
    workflows.default), else the first usable here (one a server can run, if any can).

    A default that is not allowed (or age-restricted) here is passed over: the channel's rules win.

    Raises:
        WorkflowNotAllowedError: no workflow may run here.
    """
    by_name = {spec.name: spec for spec in specs}
    for name in (preferred, rules.default_workflow, fallback):
        spec = by_name.get(name) if name else None
        if spec is not None and usable(rules, spec):
            return spec
    allowed = [spec for spec in by_name.values() if usable(rules, spec)]
    spec = next((spec for spec in allowed if runnable(spec)), allowed[0] if allowed else None)
    if spec is None:
        raise WorkflowNotAllowedError(
            "No workflow may run in this channel (the allowed ones are missing or age-restricted). "
            "Ask an admin, or use another channel.",
            rule="no usable workflow",
        )
    return spec
