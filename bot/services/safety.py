"""Safety red flags: does a message a patient typed describe an emergency, and which kind?

A pure function with no Telegram and no database: `detect_red_flag(text)` normalises the
text and tries the rules in `bot/red_flags.yaml`, most urgent first. The words live in
that file; this module only knows how to read, check and match them.

Messages may be in English, Hindi (Devanagari), Urdu (Urdu script) or romanised
Hindi/Urdu, often mixed in one message. Phrase syntax (documented at the top of the YAML):

- a rule is a list of groups: it matches when every group matches, and a group matches
  when any one of its phrases does ("all of these groups, any word in each group");
- `(a|b|c)` in a phrase expands to one phrase per alternative (an alternative may be empty);
- `<gap>` stands for up to `matching.gap_max_words` words (none holding a digit when a
  number follows);
- `<name>` stands for a number in one of the ranges of `numbers.name` (e.g. a glucose
  reading), unless it is followed by one of that number's `not_followed_by` words;
- Latin-script phrases match whole words: they begin at a word start and end at a word
  end, allowing one of `matching.latin_suffixes` (so "hypo" matches "hypos", not
  "hypothetical"); `<end>` at the end of a Latin phrase forbids the suffix;
- Devanagari and Urdu phrases match anywhere (suffixes and postpositions vary), spaces
  between their words are optional, and `<start>` / `<end>` pin a word boundary.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ACTION_PRIORITY",
    "DEFAULT_RULES_PATH",
    "LANGUAGES",
    "PhraseGroup",
    "RedFlag",
    "RedFlagAction",
    "RedFlagRule",
    "detect_red_flag",
    "find_red_flags",
    "load_rules",
    "normalise",
    "parse_rules",
]

DEFAULT_RULES_PATH = Path(__file__).resolve().parent.parent / "red_flags.yaml"

LANGUAGES: tuple[str, ...] = ("en", "hi", "ur")


class RedFlagAction(StrEnum):
    CALL_999 = "call_999"  # chest pain; cannot be woken / unconscious / fitting
    URGENT_111 = "urgent_111"  # vomiting together with high sugar or ketones (possible DKA)
    SEVERE_HYPO = "severe_hypo"  # a hypo that needed someone else's help (or an ambulance)
    SAME_DAY = "same_day"  # a new wound, ulcer, or black/blue area on the foot


# Most urgent first: when several rules match, the first action here wins.
ACTION_PRIORITY: tuple[RedFlagAction, ...] = (
    RedFlagAction.CALL_999,
    RedFlagAction.URGENT_111,
    RedFlagAction.SEVERE_HYPO,
    RedFlagAction.SAME_DAY,
)
_PRIORITY = {action: rank for rank, action in enumerate(ACTION_PRIORITY)}


@dataclass(frozen=True)
class RedFlag:
    rule: str  # the rule id from the yaml, e.g. "chest_pain"
    action: RedFlagAction


# --------------------------------------------------------------------------- normalisation

_DELETE = [
    *range(0x200B, 0x2010),  # zero-width space, ZWNJ, ZWJ, LRM, RLM
    *range(0x2066, 0x206A),  # bidi isolates
    0xFEFF,  # BOM / zero-width no-break space
    *range(0x064B, 0x0660),  # Arabic harakat (fatha, kasra, shadda, sukun, hamza marks...)
    0x0670,  # superscript alef
    0x0640,  # tatweel (kashida)
    0x093C,  # Devanagari nukta: ज़्यादा == ज्यादा
    # Apostrophes are dropped, not spaced, so "can't" reads as "cant" (as it is often typed).
    0x0027,
    0x2018,
    0x2019,
    0x02BC,
    0x0060,
    0x00B4,
]
_REPLACE = {
    # Arabic-keyboard letters -> the Urdu forms. Yeh barree (ے) and noon ghunna (ں) fold too:
    # Arabic and Persian keyboards have neither, and the difference never matters here.
    "\u064a": "ی",  # ARABIC YEH
    "\u0649": "ی",  # ALEF MAKSURA
    "\u06d2": "ی",  # YEH BARREE
    "\u06d3": "ئی",  # YEH BARREE WITH HAMZA (گۓ == گئے)
    "\u0643": "ک",  # ARABIC KAF
    "\u0647": "ہ",  # ARABIC HEH, used as Urdu gol heh
    "\u06be": "ہ",  # HEH DOACHASHMEE: often confused with gol heh when typing
    "\u0629": "ہ",  # TEH MARBUTA
    "\u06c0": "ہ",  # HEH WITH YEH ABOVE
    "\u06c2": "ہ",  # HEH GOAL WITH HAMZA ABOVE
    "\u06c3": "ہ",  # TEH MARBUTA GOAL
    "\u06ba": "ن",  # NOON GHUNNA: میں == مین
    "\u0623": "ا",  # ALEF WITH HAMZA ABOVE
    "\u0625": "ا",  # ALEF WITH HAMZA BELOW
    "\u0671": "ا",  # ALEF WASLA
    # Devanagari: chandrabindu as anusvara; the nukta letters NFC keeps composed.
    "\u0901": "\u0902",
    "\u0929": "न",
    "\u0931": "र",
    "\u0934": "ळ",
}
_DIGITS = {
    **{0x0660 + i: str(i) for i in range(10)},  # Arabic-Indic
    **{0x06F0 + i: str(i) for i in range(10)},  # Extended Arabic-Indic (Urdu)
    **{0x0966 + i: str(i) for i in range(10)},  # Devanagari
}
_TRANSLATE = {
    **dict.fromkeys(_DELETE),
    **{ord(k): v for k, v in _REPLACE.items()},
    **_DIGITS,
}


def normalise(text: str) -> str:
    """The form both messages and phrases are matched in.

    NFC; casefold; zero-width characters, apostrophes, Arabic harakat and the Devanagari
    nukta removed; Arabic-keyboard letters folded to Urdu ones; chandrabindu as anusvara;
    Urdu and Devanagari digits as ASCII; every run of whitespace or punctuation as one
    space (except a decimal point between digits, kept as "."), no space at either end.
    """
    text = unicodedata.normalize("NFC", text).casefold().translate(_TRANSLATE)
    out: list[str] = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        if unicodedata.category(ch)[0] in "LMN":
            out.append(ch)
        elif ch in ".," and 0 < i < last and text[i - 1].isdigit() and text[i + 1].isdigit():
            out.append(".")
        else:
            out.append(" ")
    return " ".join("".join(out).split())


# --------------------------------------------------------------------------- scripts


def _script(ch: str) -> str | None:
    """The script of a letter or mark, or None for anything else (digits, spaces)."""
    if unicodedata.category(ch)[0] not in "LM":
        return None
    cp = ord(ch)
    if cp < 0x0250 or 0x1E00 <= cp <= 0x1EFF:
        return "latin"
    if 0x0900 <= cp <= 0x097F or 0xA8E0 <= cp <= 0xA8FF:
        return "devanagari"
    if (
        0x0600 <= cp <= 0x06FF
        or 0x0750 <= cp <= 0x077F
        or 0x08A0 <= cp <= 0x08FF
        or 0xFB50 <= cp <= 0xFDFF
        or 0xFE70 <= cp <= 0xFEFF
    ):
        return "arabic"
    return "other"


# Which scripts a phrase in each language may be written in. Latin under hi/ur is the
# romanised form people type on phones ("seene mein dard", "sugar bohat zyada").
_ALLOWED_SCRIPTS = {
    "en": frozenset({"latin"}),
    "hi": frozenset({"latin", "devanagari"}),
    "ur": frozenset({"latin", "arabic"}),
}

# --------------------------------------------------------------------------- compiled data


@dataclass(frozen=True)
class _NumberSpec:
    name: str
    ranges: tuple[tuple[float, float], ...]
    not_followed_by: tuple[str, ...]

    def contains(self, value: float) -> bool:
        return any(lo <= value <= hi for lo, hi in self.ranges)


@dataclass(frozen=True)
class _Settings:
    gap_max_words: int
    latin_suffixes: tuple[str, ...]
    numbers: Mapping[str, _NumberSpec]


@dataclass(frozen=True)
class _Phrase:
    source: str  # the phrase as expanded from the yaml
    language: str
    regex: str
    anchors: tuple[str, ...]  # words that must all occur in the text (a cheap pre-check)
    numbers: tuple[tuple[str, _NumberSpec], ...]  # regex group -> range to check

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        # Compiled on first use: most phrases never get past the anchor check, and
        # compiling all ~12,000 expanded phrases up front would take about a second.
        return re.compile(self.regex)

    def search(self, text: str) -> bool:
        if any(anchor not in text for anchor in self.anchors):
            return False
        if not self.numbers:
            return self.pattern.search(text) is not None
        pos = 0
        while (m := self.pattern.search(text, pos)) is not None:
            if all(spec.contains(float(m.group(group))) for group, spec in self.numbers):
                return True
            pos = m.start() + 1
        return False


@dataclass(frozen=True)
class PhraseGroup:
    name: str
    phrases: tuple[_Phrase, ...]

    @functools.cached_property
    def _by_anchor(self) -> dict[str, tuple[_Phrase, ...]]:
        # Phrases indexed by their longest literal word: a message is checked only against the
        # phrases whose word it contains. Trying all ~12,000 expanded phrases (in Python, or as
        # one alternation) cost several milliseconds a message.
        index: dict[str, list[_Phrase]] = {}
        for phrase in self.phrases:
            key = max(phrase.anchors, key=len) if phrase.anchors else ""
            index.setdefault(key, []).append(phrase)
        return {key: tuple(phrases) for key, phrases in index.items()}

    def matches(self, normalised_text: str) -> bool:
        return any(
            anchor in normalised_text and any(p.search(normalised_text) for p in phrases)
            for anchor, phrases in self._by_anchor.items()
        )

    def count(self, language: str) -> int:
        return sum(1 for p in self.phrases if p.language == language)


@dataclass(frozen=True)
class RedFlagRule:
    id: str
    action: RedFlagAction
    groups: tuple[PhraseGroup, ...]

    def matches(self, normalised_text: str) -> bool:
        """True when every group has a phrase in the (already normalised) text."""
        return all(g.matches(normalised_text) for g in self.groups)


# --------------------------------------------------------------------------- loading


@functools.cache
def _default_rules() -> tuple[RedFlagRule, ...]:
    return load_rules(DEFAULT_RULES_PATH)


def load_red_flag_rules() -> None:
    """Loads and indexes the shipped rules (about 0.3 s), once per process."""
    rules = _default_rules()
    for rule in rules:
        rule.matches("")


def load_rules(path: str | os.PathLike[str]) -> tuple[RedFlagRule, ...]:
    """Read, validate and compile a red-flag YAML file; rules come back most urgent first.

    Raises ValueError, naming the rule, for anything wrong in it.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as fh:
            document = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    return parse_rules(document, source=str(path))


_RULE_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_RULE_KEYS = {"id", "action", "description", "groups"}
_GROUP_KEYS = {"name", "phrases"}
_NUMBER_KEYS = {"description", "ranges", "not_followed_by"}
_PLACEHOLDER_RE = re.compile(r"<([^<>]*)>")
_ALTERNATION_RE = re.compile(r"\(([^()]*)\)")
_KEYWORDS = ("gap", "start", "end")
_MAX_EXPANSIONS = 2000


def parse_rules(document: Any, *, source: str = "red flags") -> tuple[RedFlagRule, ...]:
    """Validate and compile an already-parsed YAML document (see `load_rules`)."""
    if not isinstance(document, Mapping):
        raise ValueError(f"{source}: expected a mapping with 'version', 'matching' and 'rules'")
    unknown = set(document) - {"version", "matching", "numbers", "rules"}
    if unknown:
        raise ValueError(f"{source}: unknown top-level keys {sorted(map(str, unknown))}")
    if document.get("version") != 1:
        raise ValueError(f"{source}: 'version' must be 1")
    gap_max, suffixes = _parse_matching(document.get("matching"), source)
    settings = _Settings(gap_max, suffixes, _parse_numbers(document.get("numbers") or {}, source))

    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ValueError(f"{source}: 'rules' must be a non-empty list")
    rules: list[RedFlagRule] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        rule = _parse_rule(raw, index, settings, source)
        if rule.id in seen:
            raise ValueError(f"{source}: rule {rule.id!r}: duplicate rule id")
        seen.add(rule.id)
        rules.append(rule)
    return tuple(sorted(rules, key=lambda r: _PRIORITY[r.action]))


def _parse_matching(raw: Any, source: str) -> tuple[int, tuple[str, ...]]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{source}: 'matching' must have gap_max_words and latin_suffixes")
    gap_max = raw.get("gap_max_words")
    if isinstance(gap_max, bool) or not isinstance(gap_max, int) or not 0 <= gap_max <= 10:
        raise ValueError(f"{source}: matching.gap_max_words must be a whole number 0-10")
    suffixes = raw.get("latin_suffixes")
    if not isinstance(suffixes, list) or not all(
        isinstance(s, str) and re.fullmatch(r"[a-z]+", s) for s in suffixes
    ):
        raise ValueError(f"{source}: matching.latin_suffixes must be a list of a-z endings")
    return gap_max, tuple(sorted(set(suffixes), key=len, reverse=True))


def _parse_numbers(raw: Any, source: str) -> dict[str, _NumberSpec]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{source}: 'numbers' must be a mapping of name -> ranges")
    specs: dict[str, _NumberSpec] = {}
    for name, body in raw.items():
        where = f"{source}: number {name!r}"
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ValueError(f"{where}: name must be lower_snake_case")
        if name in _KEYWORDS:
            raise ValueError(f"{where}: name is reserved")
        if not isinstance(body, Mapping) or set(body) - _NUMBER_KEYS:
            raise ValueError(f"{where}: expected keys {sorted(_NUMBER_KEYS)}")
        ranges = body.get("ranges")
        if not isinstance(ranges, list) or not ranges:
            raise ValueError(f"{where}: 'ranges' must be a non-empty list of [low, high]")
        parsed: list[tuple[float, float]] = []
        for pair in ranges:
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair)
                or pair[0] > pair[1]
            ):
                raise ValueError(f"{where}: bad range {pair!r}, expected [low, high]")
            parsed.append((float(pair[0]), float(pair[1])))
        words = body.get("not_followed_by") or []
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError(f"{where}: 'not_followed_by' must be a list of words")
        normalised = tuple(sorted({normalise(w) for w in words} - {""}, key=len, reverse=True))
        specs[name] = _NumberSpec(name, tuple(parsed), normalised)
    return specs


def _parse_rule(raw: Any, index: int, settings: _Settings, source: str) -> RedFlagRule:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{source}: rule #{index + 1}: expected a mapping")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID_RE.match(rule_id):
        raise ValueError(f"{source}: rule #{index + 1}: 'id' must be lower_snake_case")
    where = f"{source}: rule {rule_id!r}"
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(map(str, unknown))}")
    try:
        action = RedFlagAction(raw.get("action"))
    except ValueError:
        expected = ", ".join(a.value for a in RedFlagAction)
        raise ValueError(
            f"{where}: unknown action {raw.get('action')!r} (expected one of: {expected})"
        ) from None
    raw_groups = raw.get("groups")
    if not isinstance(raw_groups, list) or not raw_groups:
        raise ValueError(f"{where}: 'groups' must be a non-empty list")
    groups: list[PhraseGroup] = []
    for g_index, raw_group in enumerate(raw_groups):
        if not isinstance(raw_group, Mapping) or set(raw_group) - _GROUP_KEYS:
            raise ValueError(f"{where}: group #{g_index + 1}: expected keys 'name', 'phrases'")
        name = raw_group.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: group #{g_index + 1}: missing 'name'")
        groups.append(
            _parse_group(raw_group.get("phrases"), name, settings, f"{where}, group {name!r}")
        )
    return RedFlagRule(rule_id, action, tuple(groups))


def _parse_group(raw: Any, name: str, settings: _Settings, where: str) -> PhraseGroup:
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(
            f"{where}: 'phrases' must map a language ({', '.join(LANGUAGES)}) to a list"
        )
    phrases: list[_Phrase] = []
    seen: set[tuple[str, str]] = set()
    for language, items in raw.items():
        if language not in LANGUAGES:
            raise ValueError(
                f"{where}: unknown language {language!r} (expected one of: {', '.join(LANGUAGES)})"
            )
        if not isinstance(items, list) or not items:
            raise ValueError(f"{where}: empty phrase list for language {language!r}")
        for item in items:
            if not isinstance(item, str) or not item.strip():
                raise ValueError(
                    f"{where}: phrase {item!r} in {language!r} must be non-empty text "
                    "(quote numbers such as '999')"
                )
            for expanded in _expand(item, where):
                if (language, expanded) in seen:
                    continue
                seen.add((language, expanded))
                phrases.append(
                    _compile_phrase(expanded, language, settings, f"{where}: phrase {item!r}")
                )
    return PhraseGroup(name, tuple(phrases))


def _expand(phrase: str, where: str) -> list[str]:
    """'(a|b) x (c|)' -> ['a x c', 'a x', 'b x c', 'b x']; groups may nest."""
    pending, out = [phrase], []
    while pending:
        text = pending.pop(0)
        m = _ALTERNATION_RE.search(text)  # an innermost group: no parentheses inside
        if m is None:
            if "(" in text or ")" in text or "|" in text:
                raise ValueError(f"{where}: phrase {phrase!r}: unbalanced '(', ')' or stray '|'")
            text = " ".join(text.split())
            if text and text not in out:
                out.append(text)
            continue
        pending.extend(text[: m.start()] + alt + text[m.end() :] for alt in m.group(1).split("|"))
        if len(pending) + len(out) > _MAX_EXPANSIONS:
            raise ValueError(f"{where}: phrase {phrase!r} expands to too many phrases; split it")
    return out


def _compile_phrase(phrase: str, language: str, settings: _Settings, where: str) -> _Phrase:
    numbers = settings.numbers
    if not where.endswith(repr(phrase)):
        where = f"{where} -> {phrase!r}"
    items: list[tuple[str, str]] = []  # (kind, value): lit / gap / start / end / number name
    for i, part in enumerate(_PLACEHOLDER_RE.split(phrase)):
        if i % 2 == 0:
            if "<" in part or ">" in part:
                raise ValueError(f"{where}: stray '<' or '>'")
            text = normalise(part)
            if text:
                items.append(("lit", text))
        elif part in _KEYWORDS:
            items.append((part, ""))
        elif part in numbers:
            items.append(("num", part))
        else:
            known = ", ".join(f"<{n}>" for n in (*_KEYWORDS, *numbers))
            raise ValueError(f"{where}: unknown placeholder <{part}> (known: {known})")

    kinds = [k for k, _ in items]
    if "lit" not in kinds:
        raise ValueError(f"{where}: a phrase needs at least one word")
    if "start" in kinds[1:] or "end" in kinds[:-1]:
        raise ValueError(f"{where}: <start> may only begin a phrase and <end> only end it")
    core = [k for k in kinds if k not in ("start", "end")]
    if (
        core[0] == "gap"
        or core[-1] == "gap"
        or any(a == b == "gap" for a, b in itertools.pairwise(core))
    ):
        raise ValueError(f"{where}: <gap> must sit between words")

    scripts = {_script(ch) for kind, text in items if kind == "lit" for ch in text} - {None}
    if len(scripts) > 1:
        raise ValueError(f"{where}: mixes scripts ({', '.join(sorted(scripts))})")
    script = next(iter(scripts), "latin")  # digits only ("999") match like Latin words
    if script not in _ALLOWED_SCRIPTS[language]:
        raise ValueError(f"{where}: {script} script is not allowed under {language!r}")
    latin = script == "latin"

    pattern: list[str] = []
    anchors: list[str] = []
    groups: list[tuple[str, _NumberSpec]] = []
    word_sep = " " if latin else " ?"
    if latin and kinds[0] == "lit":
        pattern.append(r"(?<!\S)")
    for i, (kind, value) in enumerate(items):
        prev = kinds[i - 1] if i else None
        nxt = kinds[i + 1] if i + 1 < len(kinds) else None
        if prev is not None and prev not in ("start", "gap") and kind != "end":
            pattern.append(" ?" if "num" in (kind, prev) else word_sep if kind == "lit" else " ")
        if kind == "start":
            pattern.append(r"(?<!\S)")
        elif kind == "end":
            pattern.append(r"(?!\S)")
        elif kind == "gap":
            word = r"[^\s\d]+" if nxt == "num" else r"\S+"
            pattern.append(f"(?:{word} ){{0,{settings.gap_max_words}}}")
        elif kind == "num":
            spec = numbers[value]
            group = f"n{len(groups)}"
            groups.append((group, spec))
            pattern.append(rf"(?<![\d.])(?P<{group}>\d+(?:\.\d+)?)(?!\d|\.\d)")
            if spec.not_followed_by:
                words = "|".join(re.escape(w).replace(r"\ ", " ") for w in spec.not_followed_by)
                pattern.append(rf"(?! ?(?:{words})(?!\S))")
        else:
            words = value.split(" ")
            anchors.extend(words)
            pattern.append(word_sep.join(re.escape(w) for w in words))
    if latin and kinds[-1] == "lit":
        suffixes = "|".join(settings.latin_suffixes)
        pattern.append(f"(?:{suffixes})?(?!\\S)" if suffixes else r"(?!\S)")

    return _Phrase(
        source=phrase,
        language=language,
        regex="".join(pattern),
        anchors=tuple(dict.fromkeys(anchors)),
        numbers=tuple(groups),
    )


# --------------------------------------------------------------------------- matching


def _iter_matches(text: str, rules: Sequence[RedFlagRule] | None) -> Iterator[RedFlag]:
    if not text or not text.strip():
        return
    active = _default_rules() if rules is None else sorted(rules, key=lambda r: _PRIORITY[r.action])
    normalised = normalise(text)
    if not normalised:
        return
    for rule in active:
        if rule.matches(normalised):
            yield RedFlag(rule.id, rule.action)


def detect_red_flag(text: str, *, rules: Sequence[RedFlagRule] | None = None) -> RedFlag | None:
    """The most urgent red flag in a message, or None.

    `rules` defaults to `bot/red_flags.yaml`, loaded and validated once. Urgency order:
    CALL_999 > URGENT_111 > SEVERE_HYPO > SAME_DAY (then the order of rules in the file).
    """
    return next(_iter_matches(text, rules), None)


def find_red_flags(text: str, *, rules: Sequence[RedFlagRule] | None = None) -> list[RedFlag]:
    """Every rule the message matches, most urgent first (for logs and review)."""
    return list(_iter_matches(text, rules))
