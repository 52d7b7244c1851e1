"""Education pages as Telegram HTML: headings, bold, italics, lists and links; everything else
is escaped text. A page longer than a phone screen or two is split into chat pages on paragraph
boundaries. In Urdu, a number with its unit is isolated left to right, so "4 mmol/L" and
"15-20" read as written inside right-to-left text (and `Translator.finish` marks each line that
would otherwise start left to right)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from markdown_it.token import Token

from bot.content import TOPIC_LINK, Page
from bot.i18n import Markup, Translator, ltr

# Characters of HTML per chat page: about two phone screens, well under Telegram's 4,096.
PAGE_LIMIT = 1300
_NUMBER_WITH_UNIT = re.compile(
    r"(?<![A-Za-z\d.,])\d[\d.,:]*(?:\s?[-–]\s?\d[\d.,]*)?"
    r"(?:\s?%|\s(?:mmol/mol|mmol/L|mg/mmol|mmol|ml/min|kg/m2|kg|cm|mg|ml|g)(?![A-Za-z]))?"
)


@dataclass(frozen=True)
class RenderedTopic:
    pages: list[str]
    linked_topics: tuple[str, ...]


def _escape(text: str, rtl: bool) -> str:
    escaped = html.escape(text, quote=False)
    return _NUMBER_WITH_UNIT.sub(lambda m: ltr(m.group(0)), escaped) if rtl else escaped


def _inline(token: Token, rtl: bool) -> str:
    out: list[str] = []
    closing: list[str] = []
    for child in token.children or []:
        kind = child.type
        if kind in ("text", "code_inline"):
            out.append(_escape(child.content, rtl))
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("\n")
        elif kind == "strong_open":
            out.append("<b>")
        elif kind == "strong_close":
            out.append("</b>")
        elif kind == "em_open":
            out.append("<i>")
        elif kind == "em_close":
            out.append("</i>")
        elif kind == "link_open":
            href = str(child.attrs.get("href", ""))
            if href.startswith(TOPIC_LINK):
                # Another topic: underlined here, and a button under the page opens it.
                out.append("<u>")
                closing.append("</u>")
            else:
                out.append(f'<a href="{html.escape(href, quote=True)}">')
                closing.append("</a>")
        elif kind == "link_close":
            out.append(closing.pop() if closing else "")
        else:
            out.append(_escape(child.content, rtl))
    return "".join(out)


def body_blocks(page: Page, rtl: bool) -> list[str]:
    """The body as chat blocks: a heading travels with the block after it."""
    blocks: list[str] = []
    lists: list[list[str | int]] = []  # per open list: [marker kind, next number]
    items: list[str] = []
    prefix = ""
    in_heading = False
    pending_heading: str | None = None

    def emit(block: str) -> None:
        nonlocal pending_heading
        if pending_heading is not None:
            block = f"{pending_heading}\n{block}"
            pending_heading = None
        blocks.append(block)

    for token in page.tokens:
        kind = token.type
        if kind == "heading_open":
            in_heading = True
        elif kind == "heading_close":
            in_heading = False
        elif kind in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrs.get("start", 1) or 1)
            lists.append(["•" if kind == "bullet_list_open" else "1.", start])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                emit("\n".join(items))
                items = []
        elif kind == "list_item_open":
            marker, number = lists[-1]
            indent = "   " * (len(lists) - 1)
            prefix = f"{indent}• " if marker == "•" else f"{indent}{number}. "
            if marker != "•":
                lists[-1][1] = int(number) + 1
        elif kind == "inline":
            text = _inline(token, rtl)
            if in_heading:
                if pending_heading is not None:
                    blocks.append(pending_heading)
                pending_heading = f"<b>{text}</b>"
            elif lists:
                items.append(f"{prefix}{text}" if prefix else f"   {text}")
                prefix = ""
            else:
                emit(text)
    if pending_heading is not None:
        blocks.append(pending_heading)
    return blocks


def paginate(blocks: list[str], limit: int = PAGE_LIMIT) -> list[str]:
    """Chat pages of whole blocks; a block longer than a page is split between its lines."""
    pages: list[str] = []
    current = ""
    for block in blocks:
        pieces = [block] if len(block) <= limit else _split_lines(block, limit)
        for piece in pieces:
            candidate = f"{current}\n\n{piece}" if current else piece
            if len(candidate) <= limit or not current:
                current = candidate
            else:
                pages.append(current)
                current = piece
    if current:
        pages.append(current)
    return pages or [""]


def _split_lines(block: str, limit: int) -> list[str]:
    pieces: list[str] = []
    current = ""
    for line in block.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit or not current:
            current = candidate
        else:
            pieces.append(current)
            current = line
    if current:
        pieces.append(current)
    return pieces


def provenance(page: Page, t: Translator) -> str:
    """Where the page came from and when it was checked, in the reader's language."""
    sources = "; ".join(
        f'<a href="{html.escape(s.url, quote=True)}">'
        f"{_escape(s.org, t.rtl)}: {_escape(s.title, t.rtl)}</a>"
        for s in page.sources
    )
    return "\n".join(
        [
            t._("📚 Source: %(sources)s", sources=Markup(sources)),
            t._(
                "Checked by %(who)s on %(checked)s; next review by %(due)s.",
                who=page.reviewed_by,
                checked=t.date(page.reviewed_on),
                due=t.date(page.review_due),
            ),
        ]
    )


def render_topic(page: Page, t: Translator, limit: int = PAGE_LIMIT) -> RenderedTopic:
    """The chat pages of a topic: its title first, its sources and review last."""
    title = f"📖 <b>{_escape(page.title, t.rtl)}</b>"
    blocks = [title, *body_blocks(page, t.rtl), f"<i>{provenance(page, t)}</i>"]
    return RenderedTopic(paginate(blocks, limit), page.linked_topics)
