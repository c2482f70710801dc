"""A server's prompt blocklist: words, phrases and regular expressions, case-insensitive, whole words by default.

Prompts are compared in Unicode's compatibility form without invisible characters, so full-width letters or a
zero-width space inside a word do not slip past a rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from discomfy.policy.errors import SettingError
from discomfy.store.settings import BlockEntry

MAX_PATTERN = 200  # characters of one rule: admins write words and short expressions, not programs
_INVISIBLE = frozenset({"Cf"})  # zero-width spaces and joiners, soft hyphens, direction marks


def normalize(text: str) -> str:
    """The text rules are matched against."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if unicodedata.category(ch) not in _INVISIBLE)


def compile_rule(pattern: str, *, regex: bool, whole_word: bool) -> re.Pattern[str]:
    """The compiled rule; a word or phrase matches with any whitespace between its words.

    Raises:
        SettingError: empty, too long, or not a valid regular expression (the message says where).
    """
    text = normalize(pattern).strip()
    if not text:
        raise SettingError("A blocklist rule needs at least one visible character.")
    if len(text) > MAX_PATTERN:
        raise SettingError(f"A blocklist rule has at most {MAX_PATTERN} characters (this has {len(text)}).")
    body = text if regex else r"\s+".join(re.escape(word) for word in text.split())
    if whole_word:
        body = rf"(?<!\w)(?:{body})(?!\w)"
    try:
        compiled = re.compile(body, re.IGNORECASE)
    except re.error as exc:
        raise SettingError(f"`{pattern}` is not a valid regular expression: {exc}.") from None
    if compiled.search("") is not None:
        raise SettingError(f"`{pattern}` also matches empty text, so it would block every prompt.")
    return compiled


@dataclass(frozen=True, slots=True)
class BlockRule:
    """One compiled rule and its number in /settings blocklist list (1-based)."""

    number: int
    entry: BlockEntry
    compiled: re.Pattern[str]

    @property
    def kind(self) -> str:
        return "regex" if self.entry.regex else "word"


@dataclass(frozen=True, slots=True)
class Blocklist:
    """The rules a request is checked against (one server's, or every server's for a DM)."""

    rules: tuple[BlockRule, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[BlockEntry]) -> Blocklist:
        """Compiled entries; one stored before a rule became invalid is skipped rather than blocking everyone."""
        rules = []
        for number, entry in enumerate(entries, start=1):
            try:
                compiled = compile_rule(entry.pattern, regex=entry.regex, whole_word=entry.whole_word)
            except SettingError:
                continue
            rules.append(BlockRule(number, entry, compiled))
        return cls(tuple(rules))

    def first_match(self, text: str) -> tuple[BlockRule, str] | None:
        """The first rule `text` matches and the words it matched, or None."""
        if not self.rules or not text:
            return None
        normal = normalize(text)
        for rule in self.rules:
            found = rule.compiled.search(normal)
            if found is not None:
                return rule, found.group(0)
        return None
