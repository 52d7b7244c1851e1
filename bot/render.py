"""What a message looks like, as plain data, and how it becomes a Telegram message.

Services and templates build `Reply` objects; only the functions at the bottom know Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

TELEGRAM_TEXT_LIMIT = 4096
# The largest row id a button may carry (PostgreSQL's integer), so forged data never reaches a
# query that the database would refuse.
LARGEST_ID = 2**31 - 1


def button_number(text: str | None) -> int | None:
    """A whole number from button data: ASCII digits only ("²" is a digit to str.isdigit),
    at most LARGEST_ID; None for anything else."""
    if not text or not text.isascii() or not text.isdecimal() or len(text) > 10:
        return None
    number = int(text)
    return number if number <= LARGEST_ID else None


@dataclass(frozen=True)
class Button:
    text: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Document:
    filename: str
    content: bytes
    caption: str | None = None


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    document: Document | None = None


def split_text(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Splits on paragraph boundaries, then lines, then words, so no part exceeds the limit.

    Tags are never split because messages keep their markup within a paragraph.
    """
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for paragraph in text.split("\n\n"):
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        current = ""
        if len(paragraph) <= limit:
            current = paragraph
        else:
            parts.extend(_split_long_paragraph(paragraph, limit))
    if current:
        parts.append(current)
    return parts


def _split_long_paragraph(paragraph: str, limit: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for word in paragraph.replace("\n", "\n ").split(" "):
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current.replace("\n ", "\n"))
        while len(word) > limit:
            parts.append(word[:limit])
            word = word[limit:]
        current = word
    if current:
        parts.append(current.replace("\n ", "\n"))
    return parts


def to_markup(buttons: list[list[Button]]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.text, callback_data=b.data, url=b.url) for b in row]
            for row in buttons
        ]
    )
