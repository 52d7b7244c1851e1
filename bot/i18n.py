"""Translations (Babel gettext catalogs), local dates, and right-to-left care for Urdu.

A message is always built for one language through a `Translator`. Parameters are
HTML-escaped as they are substituted, because every message is sent in HTML parse mode.
"""

from __future__ import annotations

import html
import io
import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LANGUAGES: tuple[str, ...] = ("en", "hi", "ur")
DEFAULT_LANGUAGE = "en"
LOCALES = {"en": "en_GB", "hi": "hi_IN", "ur": "ur_PK"}
# Each language named in itself, as the person choosing it would recognise it.
LANGUAGE_NAMES = {"en": "English", "hi": "हिन्दी", "ur": "اردو"}
RTL_LANGUAGES = frozenset({"ur"})

RLM = "\u200f"  # right-to-left mark
LRI = "\u2066"  # left-to-right isolate
PDI = "\u2069"  # pop directional isolate

_catalog_dir: Path | None = None
_NUMERIC_PLACEHOLDER = re.compile(r"%\((\w+)\)d")
_COMMAND = re.compile(r"(?<![\w/<])/[a-z_]+\b")


def N_(message: str) -> str:
    """Marks a string for extraction where it is defined; it is translated where it is shown."""
    return message


def configure(locales_dir: Path) -> None:
    global _catalog_dir
    _catalog_dir = Path(locales_dir)
    _translations.cache_clear()
    _translator.cache_clear()


@cache
def _translations(language: str) -> NullTranslations:
    if language == DEFAULT_LANGUAGE or _catalog_dir is None:
        return NullTranslations()
    folder = _catalog_dir / language / "LC_MESSAGES"
    mo, po = folder / "messages.mo", folder / "messages.po"
    # The compiled catalog is used when it is current; a stale or missing one (a fresh checkout
    # before `pybabel compile`) is rebuilt in memory from the .po so no English ever leaks.
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return Translations(fp=handle)
    if not po.exists():
        raise FileNotFoundError(f"no catalog for language {language!r} in {folder}")
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=LOCALES[language])
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled)


def normalise_language(code: str | None) -> str | None:
    """Maps a Telegram language_code ("hi", "ur-PK", "en-GB") onto ours, if we have it."""
    if not code:
        return None
    base = code.split("-")[0].split("_")[0].lower()
    return base if base in LANGUAGES else None


def escape(value: Any) -> str:
    return html.escape(str(value), quote=False)


def ltr(text: str) -> str:
    """Isolates a left-to-right run (a number with its unit, a code, a phone number)."""
    return f"{LRI}{text}{PDI}"


def _first_strong_is_ltr(text: str) -> bool:
    """The direction a phone gives the line: its first strong character, skipping isolates."""
    depth = 0
    for char in text:
        if char in (LRI, "\u2067", "\u2068"):
            depth += 1
        elif char == PDI:
            depth = max(depth - 1, 0)
        elif depth:
            continue
        elif char == RLM:
            return False
        else:
            direction = unicodedata.bidirectional(char)
            if direction in ("R", "AL"):
                return False
            if direction in ("L", "EN", "AN"):
                return True
    return False


def _visible(line: str) -> str:
    """The line as a reader sees it: HTML tags do not decide its direction."""
    return re.sub(r"<[^>]+>", "", line)


class Translator:
    """Everything a message needs to speak one language."""

    def __init__(self, language: str) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}")
        self.language = language
        self.locale = Locale.parse(LOCALES[language])
        self._t = _translations(language)

    @property
    def rtl(self) -> bool:
        return self.language in RTL_LANGUAGES

    def _(self, message: str, **params: Any) -> str:
        return self._substitute(self._t.gettext(message), params)

    def ngettext(self, singular: str, plural: str, n: int, **params: Any) -> str:
        params.setdefault("num", n)
        return self._substitute(self._t.ngettext(singular, plural, n), params)

    def _substitute(self, text: str, params: dict[str, Any]) -> str:
        if not params:
            return text
        # Every value is rendered to text here (escaped, and isolated in Urdu), so numeric
        # placeholders are substituted as text too.
        return _NUMERIC_PLACEHOLDER.sub(r"%(\1)s", text) % {
            key: self._param(value) for key, value in params.items()
        }

    def _param(self, value: Any) -> str:
        if isinstance(value, Markup):
            return str(value)
        rendered = escape(
            format_decimal(value, locale=self.locale) if isinstance(value, float) else value
        )
        if self.rtl and isinstance(value, int | float):
            return ltr(rendered)
        return rendered

    def date(self, value: date, fmt: str = "long") -> str:
        return format_date(value, format=fmt, locale=self.locale)

    def time(self, value: datetime, zone: tzinfo) -> str:
        # The 24-hour clock in every language, as the NHS writes times: Hindi's and Urdu's
        # short formats would add "am"/"pm" in Latin letters.
        return format_time(value.astimezone(zone), format="HH:mm", locale=self.locale)

    def datetime(self, value: datetime, zone: tzinfo, fmt: str = "medium") -> str:
        return format_datetime(value.astimezone(zone), format=fmt, locale=self.locale)

    def finish(self, text: str) -> str:
        """In Urdu, each line that would start left to right (a command, a number, a tag's
        Latin text) gets a right-to-left mark first: phones choose a line's direction from its
        first strong character."""
        if not self.rtl:
            return text
        # A command in a right-to-left line would otherwise show as "menu/".
        text = _COMMAND.sub(lambda m: ltr(m.group(0)), text)
        return "\n".join(
            RLM + line if _first_strong_is_ltr(_visible(line)) else line
            for line in text.split("\n")
        )


class Markup(str):
    """A string that is already safe HTML, substituted without escaping."""


def translator(language: str | None) -> Translator:
    return _translator(language if language in LANGUAGES else DEFAULT_LANGUAGE)


@cache
def _translator(language: str) -> Translator:
    # A Translator holds nothing per person, so one per language serves every message.
    return Translator(language)


def in_every_language(build: Callable[[Translator], str], separator: str = "\n\n") -> str:
    """For someone whose language we do not know yet: the same message in all three."""
    return separator.join(translator(lang).finish(build(translator(lang))) for lang in LANGUAGES)


def catalog_language_codes() -> list[str]:
    return [lang for lang in LANGUAGES if lang != DEFAULT_LANGUAGE]


def read_catalog(locales_dir: Path, language: str) -> Any:
    folder = Path(locales_dir) / language / "LC_MESSAGES"
    po = folder / "messages.po"
    with po.open("rb") as handle:
        return read_po(handle, locale=LOCALES[language])


def read_compiled(path: Path) -> Any:
    with path.open("rb") as handle:
        return read_mo(handle)
