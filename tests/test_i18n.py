"""Catalogs complete, placeholders matching, local dates and plurals, Urdu right to left."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot import messages
from bot.i18n import LANGUAGES, LRI, PDI, RLM, read_catalog, translator
from bot.render import split_text
from bot.settings import REPO_ROOT

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
TAG = re.compile(r"</?\w+>")


@pytest.mark.parametrize("language", ["hi", "ur"])
def test_every_entry_is_translated_not_fuzzy_and_keeps_placeholders_and_tags(language):
    catalog = read_catalog(REPO_ROOT / "locales", language)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(f"fuzzy: {ids[0]!r}")
        if not all(s and s.strip() for s in strings):
            problems.append(f"empty: {ids[0]!r}")
            continue
        expected = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            if set(PLACEHOLDER.findall(string)) != expected:
                problems.append(f"placeholders differ: {ids[0]!r} -> {string!r}")
            if sorted(TAG.findall(string)) != sorted(TAG.findall(ids[0])):
                problems.append(f"HTML tags differ: {ids[0]!r} -> {string!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", ["hi", "ur"])
def test_catalog_holds_every_message_in_the_template(language):
    from babel.messages.pofile import read_po

    with (REPO_ROOT / "locales" / "messages.pot").open("rb") as handle:
        template = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    catalog = read_catalog(REPO_ROOT / "locales", language)
    present = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    assert template - present == set(), "run the update command in the README"


def test_plural_forms_follow_the_number():
    for language, one, many in [
        ("en", "1 day", "14 days"),
        ("hi", "1 दिन", "14 दिन"),
        ("ur", "1 دن", "14 دن"),
    ]:
        t = translator(language)
        singular = t.ngettext(
            "This code has expired: codes work for %(num)d day. Please ask your "
            "GP practice for a new one.",
            "This code has expired: codes work for %(num)d days. Please ask your "
            "GP practice for a new one.",
            1,
        )
        plural = t.ngettext(
            "This code has expired: codes work for %(num)d day. Please ask your "
            "GP practice for a new one.",
            "This code has expired: codes work for %(num)d days. Please ask your "
            "GP practice for a new one.",
            14,
        )
        strip = lambda s: s.replace(LRI, "").replace(PDI, "")  # noqa: E731
        assert one in strip(singular) and many in strip(plural), (language, singular, plural)


def test_dates_are_written_in_each_locale():
    day = date(2026, 12, 7)
    assert translator("en").date(day) == "7 December 2026"
    assert "दिसंबर" in translator("hi").date(day)
    assert "دسمبر" in translator("ur").date(day)


def test_times_follow_the_person_s_time_zone():
    moment = datetime(2026, 7, 1, 9, 5, tzinfo=UTC)
    assert translator("en").time(moment, ZoneInfo("Europe/London")) == "10:05"


def test_urdu_lines_that_start_in_latin_get_a_right_to_left_mark():
    t = translator("ur")
    finished = t.finish("/menu – مینو\nمینو\n<b>999</b> پر کال کریں\nNHS 111 پر کال کریں")
    lines = finished.split("\n")
    # A command is isolated left to right, so the line still takes its direction from Urdu.
    assert lines[0] == f"{LRI}/menu{PDI} – مینو"
    assert not lines[1].startswith(RLM)
    assert lines[2].startswith(RLM + "<b>999")
    assert lines[3].startswith(RLM + "NHS")
    # Closing tags are not mistaken for commands.
    assert "</b>" in lines[2]
    # Hindi and English are left alone.
    assert translator("hi").finish("/menu") == "/menu"


def test_numbers_in_urdu_messages_are_isolated_left_to_right():
    t = translator("ur")
    text = t._("Waiting: %(count)s", count=12)
    assert f"{LRI}12{PDI}" in text


def test_parameters_are_html_escaped():
    t = translator("en")
    text = t._("Hello %(name)s 👋 A few things you can do here:", name="<script>&")
    assert "&lt;script&gt;&amp;" in text


def test_every_message_renders_in_every_language_without_error():
    for language in LANGUAGES:
        t = translator(language)
        for action in messages.RedFlagAction:
            assert "<b>" in messages.red_flag(t, action).text
        messages.help_text(t)
        messages.privacy_text(t, "patient")
        messages.main_menu(t, "admin")
        messages.consent(t, messages.JoinPath.CODE, messages.Role.GP)


def test_long_text_is_split_on_paragraph_boundaries():
    paragraphs = [f"Paragraph {n}. " + "word " * 150 for n in range(12)]
    text = "\n\n".join(paragraphs)
    parts = split_text(text, limit=4096)
    assert len(parts) > 1
    assert all(len(part) <= 4096 for part in parts)
    assert "\n\n".join(parts) == text
    assert all(part.startswith("Paragraph") for part in parts)


def test_a_single_huge_paragraph_is_split_on_words():
    text = "word " * 2000
    parts = split_text(text.strip(), limit=4096)
    assert all(len(part) <= 4096 for part in parts)
    assert " ".join(parts).split() == text.split()
