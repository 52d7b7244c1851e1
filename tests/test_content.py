"""The education library's governance check (with broken fixtures), the Markdown renderer and
search, without Telegram."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from bot import content
from bot.cli import main as cli_main
from bot.content import ContentError, check_library, load_library
from bot.content_render import PAGE_LIMIT, render_topic
from bot.i18n import LRI, PDI, RLM, _first_strong_is_ltr, _visible, translator
from tests.harness import assert_no_english

REAL_LIBRARY = Path(__file__).resolve().parent.parent / "content"
TODAY = date(2026, 11, 23)

FRONT = {
    "en": ("Hypos", "What a hypo is.", "[hypo, low]", "[hypo, shaky]", "NHS", "Low blood sugar"),
    "hi": ("हाइपो", "हाइपो क्या है।", "[हाइपो]", "[हाइपो, कांपना]", "NHS", "लो ब्लड शुगर"),
    "ur": ("ہائپو", "ہائپو کیا ہے۔", "[ہائپو]", "[ہائپو, کپکپی]", "NHS", "کم بلڈ شوگر"),
}
BODY = {
    "en": (
        "A hypo is when sugar is below 4 mmol/L.\n\n"
        "## Treat it\n\n"
        "1. Have 15 to 20 g of fast sugar.\n"
        "2. Check again after 10 to 15 minutes.\n\n"
        "See [driving](topic:driving) and [the NHS page](https://www.nhs.uk/).\n\n"
        "## Get help\n\n"
        "- Call **999** if they pass out.\n"
    ),
    "hi": (
        "हाइपो तब होता है जब शुगर 4 mmol/L से कम हो।\n\n"
        "## इलाज करें\n\n"
        "1. 15 से 20 ग्राम जल्दी असर करने वाली शुगर लें।\n"
        "2. 10 से 15 मिनट बाद फिर जाँचें।\n\n"
        "देखें [गाड़ी चलाना](topic:driving) और [NHS का पेज](https://www.nhs.uk/)।\n\n"
        "## मदद लें\n\n"
        "- बेहोश हों तो **999** पर फ़ोन करें।\n"
    ),
    "ur": (
        "ہائپو تب ہوتا ہے جب شوگر 4 mmol/L سے کم ہو۔\n\n"
        "## علاج کریں\n\n"
        "1. 15 سے 20 گرام جلدی اثر کرنے والی شوگر لیں۔\n"
        "2. 10 سے 15 منٹ بعد دوبارہ چیک کریں۔\n\n"
        "دیکھیں [گاڑی چلانا](topic:driving) اور [NHS کا صفحہ](https://www.nhs.uk/)۔\n\n"
        "## مدد لیں\n\n"
        "- بے ہوش ہوں تو **999** پر فون کریں۔\n"
    ),
}


def page_text(
    language: str, *, body: str | None = None, drop: str | None = None, **over: str
) -> str:
    title, summary, tags, words, org, source_title = FRONT[language]
    fields = {
        "title": title,
        "summary": summary,
        "category": "staying-safe",
        "audiences": "[type1, type2]",
        "tags": tags,
        "search_words": words,
        "related": "[driving]",
        "source": (
            f"\n  - org: {org}\n    title: {source_title}\n"
            "    url: https://www.nhs.uk/conditions/low-blood-sugar-hypoglycaemia/"
        ),
        "reviewed_by": "diabridge content team",
        "reviewed_on": "2026-11-23",
        "review_due": "2027-11-23",
    }
    fields.update(over)
    if drop:
        del fields[drop]
    front = "\n".join(f"{key}: {value}" for key, value in fields.items())
    return f"---\n{front}\n---\n{BODY[language] if body is None else body}"


def write_library(folder: Path, **pages: str) -> Path:
    """A two-topic library (hypos, driving); `pages` replaces files, e.g. hypos_hi=..."""
    for topic in ("hypos", "driving"):
        (folder / topic).mkdir(parents=True, exist_ok=True)
        for language in ("en", "hi", "ur"):
            text = page_text(language, related="[hypos]" if topic == "driving" else "[driving]")
            if topic == "driving":
                text = text.replace("topic:driving", "topic:hypos")
            override = pages.get(f"{topic}_{language}")
            if override == "":
                continue
            (folder / topic / f"{language}.md").write_text(override or text, encoding="utf-8")
    return folder


def errors(folder: Path, today: date = TODAY) -> list[str]:
    return [str(f) for f in check_library(folder, today) if f.level == "error"]


def test_the_fixture_library_is_clean(tmp_path):
    folder = write_library(tmp_path / "content")
    assert check_library(folder, TODAY) == []
    library = load_library(folder)
    assert sorted(library.topics) == ["driving", "hypos"]


def test_the_real_library_passes_its_check_and_has_every_topic_the_issue_names():
    assert errors(REAL_LIBRARY) == []
    library = load_library(REAL_LIBRARY)
    assert len(library.topics) >= 24
    for needed in (
        "type-1-diabetes",
        "type-2-diabetes",
        "annual-checks",
        "hba1c",
        "hypos",
        "high-sugar-and-dka",
        "sick-days",
        "feet",
        "eye-screening",
        "kidneys",
        "heart-health",
        "healthy-eating",
        "being-active",
        "weight",
        "stopping-smoking",
        "alcohol",
        "driving",
        "ramadan",
        "planning-pregnancy",
        "gestational-diabetes",
        "emotional-wellbeing",
        "medicines",
        "structured-education",
        "health-check-and-prevention",
        "young-parties-and-alcohol",
        "young-exams",
        "young-moving-away",
    ):
        assert needed in library.topics, needed
    assert {"new-to-type-2", "young-type-1"} <= set(library.courses)


def test_a_missing_language_is_an_error(tmp_path):
    folder = write_library(tmp_path / "content", hypos_ur="")
    assert any("hypos/ur.md: the ur page of this topic is missing" in e for e in errors(folder))


@pytest.mark.parametrize("field", ["source", "review_due", "summary", "audiences"])
def test_a_missing_front_matter_field_is_an_error(tmp_path, field):
    folder = write_library(tmp_path / "content", hypos_hi=page_text("hi", drop=field))
    assert any(f"hypos/hi.md: front matter lacks {field}" in e for e in errors(folder))


def test_a_source_without_a_url_is_an_error(tmp_path):
    broken = page_text("en", source="\n  - org: NHS\n    title: Hypos")
    folder = write_library(tmp_path / "content", hypos_en=broken)
    assert any("source 1 needs org, title and url" in e for e in errors(folder))


def test_a_broken_topic_link_is_an_error(tmp_path):
    body = BODY["en"].replace("topic:driving", "topic:drivng")
    folder = write_library(tmp_path / "content", hypos_en=page_text("en", body=body))
    assert any("links to topic 'drivng', which does not exist" in e for e in errors(folder))
    related = page_text("hi", related="[driving, alcohol]")
    folder = write_library(tmp_path / "other", hypos_hi=related)
    found = errors(folder)
    assert any("links to topic 'alcohol'" in e for e in found)
    # The languages disagree on related topics too.
    assert any("related differs from en.md" in e for e in found)


def test_languages_that_disagree_on_sections_list_items_or_numbers_are_errors(tmp_path):
    fewer_sections = BODY["hi"].split("## मदद लें")[0]
    folder = write_library(tmp_path / "a", hypos_hi=page_text("hi", body=fewer_sections))
    assert any("hypos/hi.md: has 1 sections, en.md has 2" in e for e in errors(folder))

    extra_item = BODY["ur"].replace("- بے ہوش", "- ایک اور بات\n- بے ہوش")
    folder = write_library(tmp_path / "b", hypos_ur=page_text("ur", body=extra_item))
    assert any("section 2 (Get help) has 2 list items, en.md has 1" in e for e in errors(folder))

    # "15 to 20 g" must not become "15 to 25 g" in one language.
    wrong_number = BODY["hi"].replace("15 से 20 ग्राम", "15 से 25 ग्राम")
    folder = write_library(tmp_path / "c", hypos_hi=page_text("hi", body=wrong_number))
    found = errors(folder)
    assert any(
        "section 1 (Treat it): the numbers differ from en.md (only here: ['25']; "
        "only in en.md: ['20'])" in e
        for e in found
    ), found


def test_digits_in_devanagari_or_urdu_script_count_as_the_same_numbers(tmp_path):
    native = BODY["ur"].replace("15 سے 20", "۱۵ سے ۲۰")
    folder = write_library(tmp_path / "content", hypos_ur=page_text("ur", body=native))
    assert errors(folder) == []


def test_forms_a_chat_cannot_show_are_errors(tmp_path):
    body = BODY["en"] + "\n### Small heading\n\n| a | b |\n|---|---|\n\n<b>raw</b>\n"
    folder = write_library(tmp_path / "content", hypos_en=page_text("en", body=body))
    found = errors(folder)
    assert any("use '## ' for a section heading" in e for e in found)
    assert any("HTML is not shown in a chat" in e for e in found)


def test_review_dates_warn_and_a_page_long_past_review_is_withdrawn(tmp_path):
    folder = write_library(tmp_path / "content")
    soon_after = check_library(folder, date(2027, 12, 1))
    assert soon_after and all(f.level == "warning" for f in soon_after)
    assert "review was due 2027-11-23; the bot stops showing it on 2028-02-22" in str(soon_after[0])
    library = load_library(folder)
    hypos = library.topics["hypos"]
    assert hypos.shown_on(date(2028, 2, 21))
    assert not hypos.shown_on(date(2028, 2, 22))
    assert library.search("hypo", "en", date(2028, 3, 1), {"type1"}) == []
    assert "bot no longer shows this topic" in str(check_library(folder, date(2028, 3, 1))[0])


def test_a_broken_library_is_refused_at_load_and_by_the_command(tmp_path, capsys):
    folder = write_library(tmp_path / "content", hypos_ur="")
    with pytest.raises(ContentError):
        load_library(folder)
    assert cli_main(["content", "check", str(folder)]) == 1
    out = capsys.readouterr()
    assert "the ur page of this topic is missing" in out.err
    assert "2 topics checked: 1 errors" in out.out
    good = write_library(tmp_path / "good")
    assert cli_main(["content", "check", str(good), "--today", "2026-11-23"]) == 0
    assert cli_main(["content", "check", str(good), "--today", "2028-01-01"]) == 0
    assert "1 warnings" not in capsys.readouterr().out  # two topics, two warnings


def test_the_renderer_makes_telegram_html_and_escapes_everything_else(tmp_path):
    body = (
        "Opening with <script> & a **bold** word and *emphasis*.\n\n"
        "## Section\n\n- one [web](https://www.nhs.uk/a?b=1&c=2)\n- two [topic](topic:driving)\n"
    )
    folder = write_library(tmp_path / "content", hypos_en=page_text("en", body=body))
    # The check refuses such a page; the renderer must still be safe with it.
    library, _ = content._read(folder)
    page = library.topics["hypos"].pages["en"]
    rendered = render_topic(page, translator("en"))
    text = "\n\n".join(rendered.pages)
    assert "&lt;script&gt; &amp; a <b>bold</b> word and <i>emphasis</i>." in text
    assert "<b>Section</b>\n• one" in text
    assert '<a href="https://www.nhs.uk/a?b=1&amp;c=2">web</a>' in text
    assert "• two <u>topic</u>" in text
    assert rendered.linked_topics == ("driving",)
    # Every tag opened is closed: Telegram refuses a message with broken HTML.
    for chunk in rendered.pages:
        for tag in ("b", "i", "u", "a"):
            assert chunk.count(f"<{tag}") == chunk.count(f"</{tag}>"), chunk


def test_long_pages_split_on_paragraph_boundaries(tmp_path):
    paragraphs = [f"Paragraph {n}. " + "Words to read on a phone. " * 12 for n in range(12)]
    body = "\n\n".join(paragraphs[:6]) + "\n\n## Later\n\n" + "\n\n".join(paragraphs[6:])
    folder = write_library(tmp_path / "content", hypos_en=page_text("en", body=body))
    page = content._read(folder)[0].topics["hypos"].pages["en"]
    pages = render_topic(page, translator("en")).pages
    assert len(pages) >= 3
    assert all(len(p) <= PAGE_LIMIT for p in pages)
    joined = "\n\n".join(pages)
    for paragraph in paragraphs:
        # No paragraph is cut between pages.
        assert paragraph.strip() in joined
        assert sum(paragraph.strip() in p for p in pages) == 1
    # A heading never ends a page: it stays with its paragraph.
    assert not any(p.rstrip().endswith("<b>Later</b>") for p in pages)
    assert "Source: " in pages[-1] and "Source: " not in pages[0]


def test_urdu_pages_read_right_to_left_with_numbers_and_units_intact():
    library = load_library(REAL_LIBRARY)
    t = translator("ur")
    for topic_id in ("hypos", "hba1c", "driving", "ramadan"):
        for chunk in render_topic(library.topics[topic_id].pages["ur"], t).pages:
            finished = t.finish(chunk)
            for line in finished.split("\n"):
                if line.strip():
                    # Each line shows right to left (its first strong character, or a mark).
                    assert line.startswith(RLM) or not _first_strong_is_ltr(_visible(line)), line
            # A number with its Latin unit is one left-to-right island: "4 mmol/L", not "L/4".
            for unit in re.findall(r"\d[\d.,]*\s(?:mmol/L|mmol/mol)", chunk):
                assert f"{LRI}{unit}" in chunk
            assert chunk.count(LRI) == chunk.count(PDI)


@pytest.mark.parametrize("language", ["hi", "ur"])
def test_hindi_and_urdu_pages_have_no_english_left(language):
    library = load_library(REAL_LIBRARY)
    t = translator(language)
    for topic in library.topics.values():
        for chunk in render_topic(topic.pages[language], t).pages:
            # The sources' links are web addresses; everything a reader reads is in script.
            visible = re.sub(r'href="[^"]*"', "", chunk)
            assert_no_english(visible)


@pytest.mark.parametrize(
    ("language", "query", "expected"),
    [
        ("en", "feet", "feet"),
        ("en", "sore toes", "feet"),
        ("hi", "पैर", "feet"),
        ("hi", "पैरों", "feet"),
        ("ur", "پاؤں", "feet"),
        ("en", "shaky", "hypos"),
        ("hi", "हाइपो", "hypos"),
        ("ur", "ہائپو", "hypos"),
        ("en", "ramadan", "ramadan"),
        ("hi", "रमज़ान", "ramadan"),
        ("hi", "रमजान", "ramadan"),
        ("ur", "رمضان", "ramadan"),
        ("ur", "روزہ", "ramadan"),
        ("en", "driving", "driving"),
        ("hi", "गाड़ी", "driving"),
        ("ur", "گاڑی", "driving"),
        ("en", "chapati", "healthy-eating"),
        ("ur", "HbA1c", "hba1c"),
    ],
)
def test_search_finds_the_page_in_the_person_s_own_words(language, query, expected):
    library = load_library(REAL_LIBRARY)
    found = library.search(query, language, TODAY, {"type2"})
    assert found, f"nothing for {query!r}"
    assert found[0].id == expected, [t.id for t in found]


def test_search_ignores_words_that_match_nothing():
    library = load_library(REAL_LIBRARY)
    assert library.search("xyzzy qwerty", "en", TODAY, {"type2"}) == []
    assert library.search("?!", "hi", TODAY, {"type2"}) == []


def test_suggestions_fit_the_person(tmp_path):
    library = load_library(REAL_LIBRARY)
    young = [t.id for t in library.suggested({"young_person", "type1"}, TODAY, 6)]
    assert any(topic.startswith("young-") for topic in young[:3])
    assert "gestational-diabetes" not in young
    at_risk = [t.id for t in library.suggested({"at_risk"}, TODAY, 6)]
    assert "health-check-and-prevention" in at_risk
    # A young person's "pregnancy" category comes after their own.
    pregnancy = library.in_category("pregnancy", {"young_person", "type1"}, TODAY)
    assert pregnancy and "gestational-diabetes" in [t.id for t in pregnancy]


def test_the_library_the_bot_shows_can_be_configured(tmp_path):
    folder = write_library(tmp_path / "content")
    try:
        assert sorted(content.configure(folder).topics) == ["driving", "hypos"]
        assert sorted(content.library().topics) == ["driving", "hypos"]
    finally:
        content.configure(REAL_LIBRARY)
