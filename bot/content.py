"""The education library: topics in `content/<topic-id>/{en,hi,ur}.md`, paced courses in
`content/courses.yaml`, the governance check, and search.

Pure: reads files, never talks to Telegram or the database. The format is described in
`content/README.md`; `check_library` enforces it and `load_library` refuses a library it fails.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.i18n import LANGUAGES
from bot.settings import REPO_ROOT

DEFAULT_CONTENT_DIR = REPO_ROOT / "content"

AUDIENCES = ("type1", "type2", "at_risk", "young_person", "carer", "pregnancy")
CATEGORIES = (
    "about",
    "staying-safe",
    "checks",
    "everyday",
    "pregnancy",
    "prevention",
    "young-people",
    "caring",
)
# Categories written for one audience; the rest are for everyone. A person sees their own
# first, the general ones next, and other people's last (a young person does not start at
# pregnancy, a carer starts at caring).
CATEGORY_AUDIENCE = {
    "young-people": "young_person",
    "pregnancy": "pregnancy",
    "prevention": "at_risk",
    "caring": "carer",
}
FIELDS = (
    "title",
    "summary",
    "category",
    "audiences",
    "tags",
    "search_words",
    "related",
    "source",
    "reviewed_by",
    "reviewed_on",
    "review_due",
)
# Fields that describe the topic rather than the words: the languages must agree on them.
SHARED_FIELDS = ("category", "audiences", "related", "reviewed_on", "review_due")
# A page this long past its review date is no longer shown (it may no longer be right).
STALE_AFTER = timedelta(days=90)
TOPIC_LINK = "topic:"
_TOPIC_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Forms the library does not use: a chat shows none of them well.
_REFUSED_BLOCKS = {
    "table_open": "a table",
    "code_block": "a code block",
    "fence": "a code block",
    "html_block": "HTML",
    "blockquote_open": "a quotation block",
    "hr": "a horizontal rule",
}
_REFUSED_INLINE = {"html_inline": "HTML", "image": "an image"}
_DIGITS = str.maketrans("०१२३४५६७८९۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "0123456789" * 3)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def markdown() -> MarkdownIt:
    # HTML and tables are parsed (not ignored) so the check can refuse them by name; the
    # renderer escapes anything it does not know, so nothing raw ever reaches a chat.
    return MarkdownIt("commonmark", {"html": True}).enable("table")


class ContentError(ValueError):
    """The library is not fit to show; `findings` says where and why."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        super().__init__("\n".join(str(f) for f in findings))


@dataclass(frozen=True)
class Finding:
    path: str
    message: str
    level: str = "error"  # or "warning"

    def __str__(self) -> str:
        return f"{self.level}: {self.path}: {self.message}"


@dataclass(frozen=True)
class Source:
    org: str
    title: str
    url: str


@dataclass(frozen=True)
class Section:
    """What the languages must agree on, section by section (the opening is section 0)."""

    heading: str
    list_items: int
    numbers: tuple[str, ...]


@dataclass(frozen=True)
class Page:
    topic_id: str
    language: str
    path: Path
    title: str
    summary: str
    category: str
    audiences: tuple[str, ...]
    tags: tuple[str, ...]
    search_words: tuple[str, ...]
    related: tuple[str, ...]
    sources: tuple[Source, ...]
    reviewed_by: str
    reviewed_on: date
    review_due: date
    body: str

    @cached_property
    def tokens(self) -> list[Token]:
        return markdown().parse(self.body)

    @cached_property
    def sections(self) -> list[Section]:
        return _sections(self.tokens)

    @cached_property
    def linked_topics(self) -> tuple[str, ...]:
        links: list[str] = []
        for token in self.tokens:
            for child in token.children or []:
                href = str(child.attrs.get("href", "")) if child.type == "link_open" else ""
                if href.startswith(TOPIC_LINK) and href[len(TOPIC_LINK) :] not in links:
                    links.append(href[len(TOPIC_LINK) :])
        return tuple(links)


@dataclass(frozen=True)
class Topic:
    id: str
    pages: dict[str, Page]

    @property
    def english(self) -> Page:
        return self.pages.get("en") or next(iter(self.pages.values()))

    def page(self, language: str) -> Page:
        return self.pages.get(language) or self.english

    @property
    def category(self) -> str:
        return self.english.category

    @property
    def audiences(self) -> tuple[str, ...]:
        return self.english.audiences

    @property
    def review_due(self) -> date:
        return self.english.review_due

    def shown_on(self, today: date) -> bool:
        """Pages far past their review are withdrawn until someone reviews them."""
        return today <= self.review_due + STALE_AFTER


@dataclass(frozen=True)
class Course:
    id: str
    titles: dict[str, str]
    summaries: dict[str, str]
    audiences: tuple[str, ...]
    lessons: tuple[str, ...]
    every_days: int
    # Offered to a patient registered by the practice within this many days of diagnosis.
    offer_when_diagnosed: str | None = None

    def title(self, language: str) -> str:
        return self.titles.get(language) or self.titles["en"]

    def summary(self, language: str) -> str:
        return self.summaries.get(language) or self.summaries["en"]


@dataclass
class Library:
    topics: dict[str, Topic] = field(default_factory=dict)
    courses: dict[str, Course] = field(default_factory=dict)

    def topic(self, topic_id: str) -> Topic | None:
        return self.topics.get(topic_id)

    def shown(self, today: date) -> list[Topic]:
        return [topic for topic in self.topics.values() if topic.shown_on(today)]

    def in_category(self, category: str, audiences: set[str], today: date) -> list[Topic]:
        """A category's topics, the ones written for this person first."""
        topics = [t for t in self.shown(today) if t.category == category]
        return sorted(topics, key=lambda t: (not audiences & set(t.audiences), _order(t)))

    def categories_for(self, audiences: set[str], today: date) -> list[str]:
        shown = {topic.category for topic in self.shown(today)}

        def rank(category: str) -> int:
            audience = CATEGORY_AUDIENCE.get(category)
            return 1 if audience is None else (0 if audience in audiences else 2)

        return sorted((c for c in CATEGORIES if c in shown), key=rank)

    def suggested(self, audiences: set[str], today: date, limit: int = 6) -> list[Topic]:
        """The topics written for this person, the ones written for fewest others first:
        a young person sees the young people's pages before the general ones."""
        fitting = [t for t in self.shown(today) if audiences & set(t.audiences)]
        return sorted(fitting, key=lambda t: (len(t.audiences), _order(t)))[:limit]

    def courses_for(self, audiences: set[str]) -> list[Course]:
        fitting = [c for c in self.courses.values() if audiences & set(c.audiences)]
        rest = [c for c in self.courses.values() if c not in fitting]
        return fitting + rest

    def search(
        self, query: str, language: str, today: date, audiences: set[str], limit: int = 5
    ) -> list[Topic]:
        return _search(self, query, language, today, audiences, limit)


def _order(topic: Topic) -> tuple[int, str]:
    return (CATEGORIES.index(topic.category) if topic.category in CATEGORIES else 99, topic.id)


# The library the running bot shows (outbox templates render at send time and need it).
_current: Library | None = None


def configure(folder: Path) -> Library:
    """Loads the library the bot shows from `folder` (ContentError when it is not fit)."""
    global _current
    _current = load_library(folder)
    _index_cache.clear()
    return _current


def library() -> Library:
    if _current is None:
        return configure(DEFAULT_CONTENT_DIR)
    return _current


# Loading -------------------------------------------------------------------------------------


def load_library(folder: Path) -> Library:
    """The library, or ContentError with every error (warnings do not stop it)."""
    library, findings = _read(folder)
    errors = [f for f in findings if f.level == "error"]
    if errors:
        raise ContentError(errors)
    return library


def check_library(folder: Path, today: date) -> list[Finding]:
    """Everything wrong with the library (errors) and what needs attention soon (warnings)."""
    library, findings = _read(folder)
    for topic in library.topics.values():
        due = topic.review_due
        if today > due + STALE_AFTER:
            findings.append(
                Finding(
                    _rel(folder, topic.english.path),
                    f"review was due {due.isoformat()}, more than {STALE_AFTER.days} days ago: "
                    "the bot no longer shows this topic",
                    "warning",
                )
            )
        elif today > due:
            findings.append(
                Finding(
                    _rel(folder, topic.english.path),
                    f"review was due {due.isoformat()}; the bot stops showing it on "
                    f"{(due + STALE_AFTER + timedelta(days=1)).isoformat()}",
                    "warning",
                )
            )
    return findings


def _rel(folder: Path, path: Path) -> str:
    try:
        return str(path.relative_to(folder.parent))
    except ValueError:
        return str(path)


def _read(folder: Path) -> tuple[Library, list[Finding]]:
    findings: list[Finding] = []
    library = Library()
    if not folder.is_dir():
        return library, [Finding(str(folder), "the content folder does not exist")]
    for topic_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        pages: dict[str, Page] = {}
        if not _TOPIC_ID.match(topic_dir.name):
            findings.append(
                Finding(
                    _rel(folder, topic_dir),
                    "a topic id is lower-case letters, digits and hyphens",
                )
            )
            continue
        for language in LANGUAGES:
            path = topic_dir / f"{language}.md"
            if not path.exists():
                findings.append(
                    Finding(_rel(folder, path), f"the {language} page of this topic is missing")
                )
                continue
            page = _read_page(folder, topic_dir.name, language, path, findings)
            if page is not None:
                pages[language] = page
        for extra in sorted(topic_dir.glob("*.md")):
            if extra.stem not in LANGUAGES:
                findings.append(
                    Finding(_rel(folder, extra), "not a language this bot speaks (en, hi, ur)")
                )
        if pages:
            library.topics[topic_dir.name] = Topic(topic_dir.name, pages)
    if not library.topics:
        findings.append(Finding(str(folder), "the library holds no topics"))
    for topic in library.topics.values():
        _check_topic(folder, library, topic, findings)
    courses_file = folder / "courses.yaml"
    if courses_file.exists():
        library.courses = _read_courses(folder, courses_file, library, findings)
    return library, findings


def _read_page(
    folder: Path, topic_id: str, language: str, path: Path, findings: list[Finding]
) -> Page | None:
    where = _rel(folder, path)
    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as error:
        findings.append(Finding(where, f"the front matter cannot be read: {error}"))
        return None
    meta: dict[str, Any] = dict(post.metadata)
    wrong: list[str] = []
    # `related: []` is a valid answer ("no related topics"); an absent field is not.
    missing = [name for name in FIELDS if name not in meta or meta[name] in (None, "")]
    if missing:
        findings.append(Finding(where, f"front matter lacks {', '.join(missing)}"))
        return None

    def texts(name: str) -> tuple[str, ...]:
        value = meta[name]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            wrong.append(f"{name} must be a list of words")
            return ()
        return tuple(str(v).strip() for v in value if str(v).strip())

    def day(name: str) -> date:
        value = meta[name]
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            wrong.append(f"{name} must be a date like 2026-11-23")
            return date.min

    audiences = texts("audiences")
    for audience in audiences:
        if audience not in AUDIENCES:
            wrong.append(f"unknown audience {audience!r} (one of {', '.join(AUDIENCES)})")
    if not audiences:
        wrong.append("audiences must name at least one audience")
    category = str(meta["category"])
    if category not in CATEGORIES:
        wrong.append(f"unknown category {category!r} (one of {', '.join(CATEGORIES)})")
    sources = _sources(meta["source"], wrong)
    page = Page(
        topic_id=topic_id,
        language=language,
        path=path,
        title=str(meta["title"]).strip(),
        summary=str(meta["summary"]).strip(),
        category=category,
        audiences=audiences,
        tags=texts("tags"),
        search_words=texts("search_words"),
        related=texts("related"),
        sources=sources,
        reviewed_by=str(meta["reviewed_by"]).strip(),
        reviewed_on=day("reviewed_on"),
        review_due=day("review_due"),
        body=post.content,
    )
    if date.min < page.reviewed_on and page.review_due <= page.reviewed_on:
        wrong.append("review_due must come after reviewed_on")
    if not page.body.strip():
        wrong.append("the page has no text")
    for token in page.tokens:
        if token.type in _REFUSED_BLOCKS:
            wrong.append(
                f"line {_line(token)}: {_REFUSED_BLOCKS[token.type]} is not shown in a chat"
            )
        if token.type == "heading_open" and token.tag != "h2":
            wrong.append(
                f"line {_line(token)}: use '## ' for a section heading (not {token.markup})"
            )
        for child in token.children or []:
            if child.type in _REFUSED_INLINE:
                refused = _REFUSED_INLINE[child.type]
                wrong.append(f"line {_line(token)}: {refused} is not shown in a chat")
            if child.type == "link_open":
                href = str(child.attrs.get("href", ""))
                if not href.startswith((TOPIC_LINK, "https://", "http://", "tel:")):
                    wrong.append(
                        f"line {_line(token)}: link {href!r} is neither topic: nor a web page"
                    )
    findings.extend(Finding(where, message) for message in wrong)
    return page


def _line(token: Token) -> int:
    # Front matter is stripped before parsing, so this counts from the body's first line.
    return (token.map[0] + 1) if token.map else 0


def _sources(value: Any, wrong: list[str]) -> tuple[Source, ...]:
    if not isinstance(value, list) or not value:
        wrong.append("source must list at least one source (org, title, url)")
        return ()
    sources = []
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict) or not all(
            str(item.get(k, "")).strip() for k in ("org", "title", "url")
        ):
            wrong.append(f"source {index} needs org, title and url")
            continue
        url = str(item["url"]).strip()
        if not url.startswith("https://"):
            wrong.append(f"source {index}: the url must start with https://")
        sources.append(Source(str(item["org"]).strip(), str(item["title"]).strip(), url))
    return tuple(sources)


def _sections(tokens: list[Token]) -> list[Section]:
    sections: list[Section] = []
    heading, items, numbers = "", 0, []
    in_heading = False
    for token in tokens:
        if token.type == "heading_open":
            sections.append(Section(heading, items, tuple(sorted(numbers))))
            heading, items, numbers, in_heading = "", 0, [], True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type == "list_item_open":
            items += 1
        elif token.type == "inline":
            if in_heading:
                heading = token.content
            numbers.extend(_NUMBER.findall(_plain_text(token).translate(_DIGITS)))
    sections.append(Section(heading, items, tuple(sorted(numbers))))
    return sections


def _plain_text(token: Token) -> str:
    # The words a reader sees: link targets (URLs, topic ids) are not part of them.
    return "".join(
        child.content for child in token.children or [] if child.type in ("text", "code_inline")
    )


def _check_topic(folder: Path, library: Library, topic: Topic, findings: list[Finding]) -> None:
    english = topic.pages.get("en")
    for page in topic.pages.values():
        where = _rel(folder, page.path)
        for linked in dict.fromkeys((*page.related, *page.linked_topics)):
            if linked not in library.topics and not (folder / linked).is_dir():
                findings.append(Finding(where, f"links to topic {linked!r}, which does not exist"))
            elif linked == topic.id:
                findings.append(Finding(where, "links to itself"))
        if english is None or page is english:
            continue
        for name in SHARED_FIELDS:
            mine, theirs = getattr(page, name), getattr(english, name)
            if (sorted(mine) if isinstance(mine, tuple) else mine) != (
                sorted(theirs) if isinstance(theirs, tuple) else theirs
            ):
                findings.append(Finding(where, f"{name} differs from en.md ({mine} / {theirs})"))
        if [s.url for s in page.sources] != [s.url for s in english.sources]:
            findings.append(Finding(where, "the sources differ from en.md (same urls, same order)"))
        _compare_structure(where, page, english, findings)


def _compare_structure(where: str, page: Page, english: Page, findings: list[Finding]) -> None:
    mine, theirs = page.sections, english.sections
    if len(mine) != len(theirs):
        findings.append(
            Finding(
                where,
                f"has {len(mine) - 1} sections, en.md has {len(theirs) - 1}",
            )
        )
        return
    for index, (section, english_section) in enumerate(zip(mine, theirs, strict=True)):
        name = f"section {index} ({english_section.heading})" if index else "the opening"
        if section.list_items != english_section.list_items:
            findings.append(
                Finding(
                    where,
                    f"{name} has {section.list_items} list items, en.md has "
                    f"{english_section.list_items}",
                )
            )
        if section.numbers != english_section.numbers:
            only_here = Counter(section.numbers) - Counter(english_section.numbers)
            only_there = Counter(english_section.numbers) - Counter(section.numbers)
            findings.append(
                Finding(
                    where,
                    f"{name}: the numbers differ from en.md "
                    f"(only here: {sorted(only_here.elements()) or 'none'}; "
                    f"only in en.md: {sorted(only_there.elements()) or 'none'})",
                )
            )


def _read_courses(
    folder: Path, path: Path, library: Library, findings: list[Finding]
) -> dict[str, Course]:
    where = _rel(folder, path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        findings.append(Finding(where, f"cannot be read: {error}"))
        return {}
    courses: dict[str, Course] = {}
    for index, item in enumerate(raw.get("courses") or [], start=1):
        name = f"course {index}"
        if not isinstance(item, dict) or not item.get("id"):
            findings.append(Finding(where, f"{name} needs an id"))
            continue
        name = f"course {item['id']!r}"
        titles, summaries = item.get("title") or {}, item.get("summary") or {}
        lessons = tuple(item.get("lessons") or [])
        audiences = tuple(item.get("audiences") or [])
        problems = [
            f"{name} lacks a {what} in {language}"
            for what, texts in (("title", titles), ("summary", summaries))
            for language in LANGUAGES
            if not str(texts.get(language, "")).strip()
        ]
        problems += [
            f"{name}: lesson {lesson!r} is not a topic"
            for lesson in lessons
            if lesson not in library.topics
        ]
        problems += [f"{name}: unknown audience {a!r}" for a in audiences if a not in AUDIENCES]
        if not lessons:
            problems.append(f"{name} has no lessons")
        every = item.get("every_days", 7)
        if not isinstance(every, int) or every < 1:
            problems.append(f"{name}: every_days must be a whole number of days, 1 or more")
        offer = item.get("offer_when_diagnosed")
        if offer is not None and offer not in ("type1", "type2"):
            problems.append(f"{name}: offer_when_diagnosed is type1 or type2")
        if problems:
            findings.extend(Finding(where, p) for p in problems)
            continue
        courses[item["id"]] = Course(
            id=item["id"],
            titles={k: str(v) for k, v in titles.items()},
            summaries={k: str(v) for k, v in summaries.items()},
            audiences=audiences,
            lessons=lessons,
            every_days=every,
            offer_when_diagnosed=offer,
        )
    return courses


# Search --------------------------------------------------------------------------------------

_HINDI_FOLD = str.maketrans(
    {
        "\u0901": "\u0902",  # chandrabindu and anusvara are written either way (पाँव, पांव)
        "\u093c": None,  # nukta: ज़ and ज are typed interchangeably
    }
)
_URDU_FOLD = str.maketrans(
    {
        "\u064a": "\u06cc",  # Arabic yeh -> Farsi yeh, as Urdu keyboards differ
        "\u0643": "\u06a9",  # Arabic kaf -> keheh
        "\u0647": "\u06c1",  # heh -> heh goal
        "\u0649": "\u06cc",
    }
)
_URDU_MARKS = re.compile("[\u064b-\u065f\u0670\u0654\u0655]")
WEIGHTS = {"title": 4, "words": 4, "summary": 2, "body": 1}


def normalise(text: str) -> list[str]:
    """The words of a text as search compares them: case, spelling variants and vowel marks
    that people type either way are folded; punctuation separates words."""
    text = unicodedata.normalize("NFC", text).casefold().translate(_DIGITS)
    text = text.translate(_HINDI_FOLD).translate(_URDU_FOLD)
    text = _URDU_MARKS.sub("", text)
    kept = "".join(
        " " if unicodedata.category(char)[0] in "PSZC" and char not in "\u200c\u200d" else char
        for char in text
    )
    return [word.replace("\u200c", "").replace("\u200d", "") for word in kept.split()]


def _matches(query_word: str, word: str) -> bool:
    if query_word == word:
        return True
    # "पैरों" finds "पैर", "feet" finds "feeting"; short words only match whole.
    if len(query_word) >= 3 and word.startswith(query_word):
        return True
    return len(word) >= 3 and query_word.startswith(word) and len(query_word) - len(word) <= 3


@dataclass(frozen=True)
class _Indexed:
    topic: Topic
    words: dict[str, int]
    # Words that name the topic: its title's, and its one-word tags and search words ("time"
    # in "extra time" does not name the exams page; "exams" does).
    naming: frozenset[str]


_index_cache: dict[tuple[int, str], list[_Indexed]] = {}


def _index(library: Library, language: str) -> list[_Indexed]:
    key = (id(library), language)
    if key not in _index_cache:
        entries = []
        for topic in library.topics.values():
            page = topic.page(language)
            words: dict[str, int] = {}

            def add(texts: list[str], weight: int, words: dict[str, int] = words) -> None:
                # A word counts once per field: a page about feet has "feet" in its title,
                # its search words and its summary, and outranks one that lists it once.
                for word in {w for text in texts for w in normalise(text)}:
                    words[word] = words.get(word, 0) + weight

            add([page.body], WEIGHTS["body"])
            add([page.summary], WEIGHTS["summary"])
            add([page.title], WEIGHTS["title"])
            add([*page.tags, *page.search_words], WEIGHTS["words"])
            labels = [*page.tags, *page.search_words]
            if page is not topic.english:
                # People type English words in any language ("sugar", "HbA1c").
                english = [*topic.english.tags, *topic.english.search_words]
                add(english, WEIGHTS["words"])
                labels += english
            naming = set(normalise(page.title))
            for label in labels:
                label_words = normalise(label)
                if len(label_words) == 1:
                    naming.update(label_words)
            entries.append(_Indexed(topic, words, frozenset(naming - STOP_WORDS)))
        _index_cache[key] = entries
    return _index_cache[key]


# Words that carry no subject ("what is it", "मेरे पैर में", "میرے پاؤں میں"): dropped from a
# query so that a question finds its subject, not every page with "is" in it.
STOP_WORDS = frozenset(
    normalise_word
    for text in (
        "a an and are at be can do does for from have how i if in is it me my of on or so "
        "the to was what when where which who why will with you your am im i'm get got "
        "please tell about know want need",
        "मैं मेरा मेरी मेरे में है हैं था थी क्या का की के को से और या कैसे कब कहाँ कहां क्यों "
        "हम आप तुम यह वह ये वो पर भी तो ही कुछ बताओ बताइए बताएं चाहिए",
        "میں میرا میری میرے ہے ہیں تھا تھی کیا کا کی کے کو سے اور یا کیسے کب کہاں کیوں ہم آپ "
        "تم یہ وہ پر بھی تو ہی کچھ بتائیں بتاؤ چاہیے",
    )
    for normalise_word in text.split()
)


def _search(
    library: Library,
    query: str,
    language: str,
    today: date,
    audiences: set[str],
    limit: int,
) -> list[Topic]:
    query_words = [
        w for w in normalise(query) if (len(w) >= 2 or w.isdigit()) and w not in STOP_WORDS
    ]
    if not query_words:
        return []
    scored = []
    for entry in _index(library, language):
        if not entry.topic.shown_on(today):
            continue
        matched, naming, score = 0, 0, 0
        for query_word in query_words:
            best = max(
                (weight for word, weight in entry.words.items() if _matches(query_word, word)),
                default=0,
            )
            if best:
                matched += 1
                score += best
                naming += any(_matches(query_word, word) for word in entry.naming)
        # Half the words at least must name the topic: "what time is it in Karachi" is not a
        # question about the exams page, which mentions extra time.
        if naming and naming * 2 >= len(query_words):
            fits = bool(audiences & set(entry.topic.audiences))
            scored.append((matched, score, fits, entry.topic))
    if not scored:
        return []
    scored.sort(key=lambda s: (-s[0], -s[1], not s[2], _order(s[3])))
    best_score = scored[0][1]
    # Far weaker matches are noise beside a strong one.
    return [s[3] for s in scored if s[1] * 3 >= best_score][:limit]
