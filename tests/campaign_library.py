"""A small education library for the campaign tests: the real content/ is being written by
others, and a fixture holds still. `ramadan` and `eid` are shown; `old-advice` is past its
review (more than 90 days) and so withdrawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import content
from bot.content import Library

# Each topic: its title in each language, and its review dates.
TOPICS = {
    "ramadan": (
        {"en": "Ramadan and diabetes", "hi": "रमज़ान और डायबिटीज़", "ur": "رمضان اور ذیابیطس"},
        "2026-11-01",
        "2027-11-01",
    ),
    "eid": (
        {"en": "Eid and diabetes", "hi": "ईद और डायबिटीज़", "ur": "عید اور ذیابیطس"},
        "2026-11-01",
        "2027-11-01",
    ),
    "old-advice": (
        {"en": "Fasting, old advice", "hi": "रोज़ा, पुरानी सलाह", "ur": "روزہ، پرانا مشورہ"},
        "2025-01-01",
        "2025-06-01",
    ),
}
TITLES = {topic_id: titles for topic_id, (titles, _, _) in TOPICS.items()}

FRONT = """\
---
title: {title}
summary: {summary}
category: everyday
audiences: [type1, type2]
tags: [{tags}]
search_words: [{tags}]
related: []
source:
  - org: NHS
    title: {source}
    url: https://www.nhs.uk/conditions/diabetes/
reviewed_by: {reviewed_by}
reviewed_on: {reviewed_on}
review_due: {review_due}
---
"""
PAGES = {
    "en": {
        "summary": "How to fast safely with diabetes, or when not to fast.",
        "tags": "ramadan, fasting",
        "source": "Diabetes and Ramadan",
        "reviewed_by": "diabridge test team",
        "body": """\
Talk to your diabetes team 6 weeks before Ramadan. Many people with diabetes can fast
safely with a plan.

## Before you fast

- Ask your team about your medicines.
- Check your sugar more often.

## Stop the fast

Stop the fast at once if your sugar is below 4 or above 16.
""",
    },
    "hi": {
        "summary": "डायबिटीज़ के साथ सुरक्षित रूप से रोज़ा कैसे रखें, या कब न रखें।",
        "tags": "रमज़ान, रोज़ा",
        "source": "डायबिटीज़ और रमज़ान",
        "reviewed_by": "diabridge टेस्ट टीम",
        "body": """\
रमज़ान से 6 हफ़्ते पहले अपनी डायबिटीज़ टीम से बात करें। डायबिटीज़ वाले बहुत से लोग
योजना के साथ सुरक्षित रूप से रोज़ा रख सकते हैं।

## रोज़ा रखने से पहले

- अपनी दवाओं के बारे में अपनी टीम से पूछें।
- अपनी शुगर ज़्यादा बार जांचें।

## रोज़ा तोड़ दें

अगर आपकी शुगर 4 से कम या 16 से ज़्यादा है, तो फ़ौरन रोज़ा तोड़ दें।
""",
    },
    "ur": {
        "summary": "ذیابیطس کے ساتھ محفوظ طریقے سے روزہ کیسے رکھیں، یا کب نہ رکھیں۔",
        "tags": "رمضان, روزہ",
        "source": "ذیابیطس اور رمضان",
        "reviewed_by": "diabridge ٹیسٹ ٹیم",
        "body": """\
رمضان سے 6 ہفتے پہلے اپنی ذیابیطس ٹیم سے بات کریں۔ ذیابیطس والے بہت سے لوگ منصوبے کے
ساتھ محفوظ طریقے سے روزہ رکھ سکتے ہیں۔

## روزہ رکھنے سے پہلے

- اپنی دواؤں کے بارے میں اپنی ٹیم سے پوچھیں۔
- اپنی شوگر زیادہ بار چیک کریں۔

## روزہ توڑ دیں

اگر آپ کی شوگر 4 سے کم یا 16 سے زیادہ ہو تو فوراً روزہ توڑ دیں۔
""",
    },
}


def write_library(folder: Path) -> Path:
    for topic_id, (titles, reviewed_on, review_due) in TOPICS.items():
        (folder / topic_id).mkdir(parents=True, exist_ok=True)
        for language, page in PAGES.items():
            text = FRONT.format(
                title=titles[language],
                reviewed_on=reviewed_on,
                review_due=review_due,
                **{k: v for k, v in page.items() if k != "body"},
            )
            (folder / topic_id / f"{language}.md").write_text(text + page["body"], encoding="utf-8")
    return folder


def use_library(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Library:
    """Makes the fixture library the one the bot shows (and the API checks topics against)
    for this test only; `monkeypatch` puts the previous one back."""
    library = content.load_library(write_library(folder))
    monkeypatch.setattr(content, "_current", library)
    return library
