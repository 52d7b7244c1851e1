"""A fake Telegram Bot API server for end-to-end tests and benchmarks.

The real python-telegram-bot ``Application``/``Bot`` talks to it over HTTP exactly as it talks to
Telegram::

    api = FakeBotAPI()
    root = await api.start()
    bot = Bot(token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot")

Requests arrive as ``POST {root}/bot<token>/<method>`` with the parameters form-encoded
(``application/x-www-form-urlencoded``, or ``multipart/form-data`` when files are uploaded).
PTB JSON-encodes every non-string value per field (``reply_markup``, ``entities``, ``scope``...);
the fake decodes them back into Python objects. Answers are Telegram's envelopes
(``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": ...,
"parameters": {...}}`` with the HTTP status equal to ``error_code``), so PTB raises its real
exceptions: ``RetryAfter`` (429 + ``retry_after``), ``Forbidden`` (403), ``BadRequest`` (400),
``NetworkError`` (5xx), ``Conflict`` (409), ``InvalidToken`` (401/404).

Fidelity beyond the happy path (all of it is what Telegram itself does):

* ``parse_mode="HTML"`` text and captions go through a port of TDLib's HTML parser: the same
  "can't parse entities: ..." errors with byte offsets, and the resulting plain text and entities
  in the returned ``Message``. Length limits (4096 text / 1024 caption, in UTF-16 units after
  parsing), empty text, callback_data over 64 bytes, invalid commands are refused likewise.
  MarkdownV2/Markdown are accepted as is (not validated).
* ``editMessageText`` without ``reply_markup`` removes the inline keyboard; an edit that changes
  nothing answers "message is not modified"; editing/deleting unknown messages answers
  "message to edit/delete not found"; answering the same callback query twice is refused.
* ``getUpdates`` is a long poll honouring ``offset``/``limit``/``timeout``/``allowed_updates``
  (without allowed_updates, chat_member and reaction updates are not delivered); a second
  concurrent ``getUpdates`` terminates the first with 409, and ``getUpdates`` while a webhook is
  set answers 409.
* With a webhook set, pushed updates are POSTed to it (with ``X-Telegram-Bot-Api-Secret-Token``)
  in order, retried while it fails; ``getWebhookInfo`` reports pending count and last error.
  Unlike Telegram, plain ``http://`` webhook URLs on any port are accepted.

Update builders (:class:`UserSim`, :func:`group_text`) produce Bot API JSON dicts so tests can
play users; pass them to :meth:`FakeBotAPI.push_update` (polling/webhook) or straight to
``Update.de_json``. Message ids are unique across the whole process (shared by the fake and the
builders), so incoming and outgoing ids never collide.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from aiohttp import web

__all__ = [
    "DEFAULT_BOT_ID",
    "ApiCall",
    "FakeApiTimeout",
    "FakeBotAPI",
    "MessageEdit",
    "SentMessage",
    "UploadedFile",
    "UserSim",
    "WebhookDelivery",
    "WebhookState",
    "group_text",
    "parse_html",
]

log = logging.getLogger(__name__)

DEFAULT_BOT_ID = 7_000_000_001
DEFAULT_BOT_USERNAME = "diabridge_test_bot"
DEFAULT_BOT_FIRST_NAME = "DiaBridge (test)"

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)

# Update types Telegram leaves out unless asked for explicitly in allowed_updates.
_OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Methods that create a message: subject to the rate limit (flood control).
_MESSAGE_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "sendAudio",
        "sendVideo",
        "sendVoice",
        "sendAnimation",
        "sendSticker",
        "sendVideoNote",
        "sendMediaGroup",
        "sendLocation",
        "sendContact",
        "sendPoll",
        "copyMessage",
        "forwardMessage",
    }
)

# Parameters that are always strings on the wire: never JSON-decoded.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "language_code",
        "action",
        "file_id",
        "title",
        "description",
        "short_description",
        "name",
        "emoji",
        "business_connection_id",
        "message_effect_id",
        "inline_query_id",
        "web_app_query_id",
        "next_offset",
        "performer",
        "address",
        "phone_number",
        "first_name",
        "last_name",
        "vcard",
        "question",
        "explanation",
        "question_parse_mode",
        "explanation_parse_mode",
        "payload",
        "provider_token",
        "currency",
        "start_parameter",
        "provider_data",
        "photo_url",
        "shipping_query_id",
        "pre_checkout_query_id",
        "error_message",
        "custom_title",
        "invite_link",
        "sticker_set_name",
        "set_name",
        "game_short_name",
        "gift_id",
        "custom_emoji_id",
        "icon_custom_emoji_id",
        "format",
        "sticker_format",
        # media: a file_id, a URL or "attach://<part>"
        "document",
        "photo",
        "audio",
        "video",
        "voice",
        "animation",
        "sticker",
        "video_note",
        "thumbnail",
        "certificate",
    }
)

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_BOT_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])")
_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


# --------------------------------------------------------------------------------------------
# ids shared by the fake and the update builders
# --------------------------------------------------------------------------------------------


class _Sequence:
    """A process-wide increasing counter."""

    def __init__(self, start: int) -> None:
        self._last = start - 1

    def next(self) -> int:
        self._last += 1
        return self._last

    def bump(self, value: int) -> None:
        self._last = max(self._last, value)


_UPDATE_IDS = _Sequence(10_001)
_MESSAGE_IDS = _Sequence(1)
_CALLBACK_IDS = _Sequence(4_242_000_000_000_000_001)
_FILE_IDS = _Sequence(1)

# (chat_id, message_id) of every incoming message built by UserSim/group_text: lets the fake
# accept deleteMessage for user messages even when updates bypass push_update.
_INCOMING_MESSAGES: set[tuple[int, int]] = set()


def _now() -> int:
    return int(time.time())


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def default_bot_user(
    bot_id: int = DEFAULT_BOT_ID,
    username: str = DEFAULT_BOT_USERNAME,
    first_name: str = DEFAULT_BOT_FIRST_NAME,
) -> dict[str, Any]:
    return {"id": bot_id, "is_bot": True, "first_name": first_name, "username": username}


def _chat_for_id(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "User"}
    if chat_id <= -1_000_000_000_000:
        return {"id": chat_id, "type": "supergroup", "title": "Test supergroup"}
    return {"id": chat_id, "type": "group", "title": "Test group"}


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------


@dataclass
class UploadedFile:
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass
class ApiCall:
    """One request as the fake received it (parameters decoded)."""

    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() on arrival
    files: dict[str, UploadedFile] = field(default_factory=dict)
    token: str = ""
    status: int | None = None  # HTTP status of the answer, once answered
    response: dict[str, Any] | None = None  # the JSON answer, once answered


@dataclass
class MessageEdit:
    method: str  # editMessageText / editMessageReplyMarkup / editMessageCaption
    at: float
    before: dict[str, Any]  # text, parse_mode, caption, reply_markup before the edit
    after: dict[str, Any]


@dataclass
class SentMessage:
    """A message the bot sent. ``text``/``caption``/``reply_markup`` hold the latest state
    (after edits); ``text`` is as the bot sent it (markup included), ``plain_text`` is what the
    user sees after parse_mode was applied."""

    message_id: int
    chat_id: int
    text: str | None
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    method: str
    document: tuple[str, bytes] | None = None
    caption: str | None = None
    photo: tuple[str, bytes] | None = None
    plain_text: str | None = None  # text or caption after parsing
    entities: list[dict[str, Any]] = field(default_factory=list)
    date: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)  # the Message JSON as last returned
    edits: list[MessageEdit] = field(default_factory=list)
    deleted: bool = False

    def _state(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "parse_mode": self.parse_mode,
            "caption": self.caption,
            "reply_markup": self.reply_markup,
        }


@dataclass
class WebhookState:
    url: str = ""
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    ip_address: str | None = None
    has_custom_certificate: bool = False
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class WebhookDelivery:
    update_id: int
    url: str
    status: int | None  # None: connection failed
    at: float
    error: str | None = None


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes


@dataclass
class _Failure:
    method: str
    error_code: int
    description: str
    parameters: dict[str, Any] | None
    times: int
    chat_id: int | None


class ApiError(Exception):
    """Raised inside method handlers: becomes an ``{"ok": false, ...}`` answer."""

    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


class FakeApiTimeout(AssertionError, TimeoutError):
    """A wait_for_* helper gave up: both an assertion failure and a timeout."""


class _Signal:
    """Wake every current waiter; later waiters wait for the next notify."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float | None) -> bool:
        event = self._event
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            return False
        return True


# --------------------------------------------------------------------------------------------
# TDLib's HTML parser
# --------------------------------------------------------------------------------------------


class EntityParseError(ValueError):
    pass


_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "tg-time",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_HTML_SPACE = frozenset(b" \t\r\n\x0b\x00")  # td::is_space; NUL stands for the end of text
_NAMED_ENTITIES = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}
_SIMPLE_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}


def _is_alpha(c: int) -> bool:
    return 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def _is_digit(c: int) -> bool:
    return 0x30 <= c <= 0x39


def _is_hex(c: int) -> bool:
    return _is_digit(c) or 0x41 <= c <= 0x46 or 0x61 <= c <= 0x66


def _decode_html_entity(b: bytes, pos: int) -> tuple[int, int]:
    """td's decode_html_entity: (code point, position after it) or (0, pos)."""
    n = len(b)

    def at(i: int) -> int:
        return b[i] if i < n else 0

    end = pos + 1
    code = 0
    if at(pos + 1) == 0x23:  # '#'
        end += 1
        if at(pos + 2) == 0x78:  # 'x'
            end += 1
            while _is_hex(at(end)):
                code = code * 16 + int(chr(at(end)), 16)
                end += 1
        else:
            while _is_digit(at(end)):
                code = code * 10 + at(end) - 0x30
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while _is_alpha(at(end)):
            end += 1
        code = _NAMED_ENTITIES.get(b[pos + 1 : end], 0)
        if code == 0:
            return 0, pos
    if at(end) == 0x3B:  # ';'
        end += 1
    return code, end


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML like the Bot API does (a port of TDLib's ``parse_html``).

    Returns the plain text and Bot API ``MessageEntity`` dicts; raises :class:`EntityParseError`
    with Telegram's own message (byte offsets are into the UTF-8 encoded text)."""
    b = text.encode("utf-8")
    n = len(b)

    def at(i: int) -> int:
        return b[i] if i < n else 0

    result = bytearray()
    entities: list[dict[str, Any]] = []
    nested: list[tuple[str, str, int, int]] = []  # tag, argument, utf16 offset, result position
    utf16 = 0
    bad_surrogate = False
    i = 0
    while i < n:
        c = b[i]
        if c == 0x26:  # '&'
            code, npos = _decode_html_entity(b, i)
            if code:
                if 0xD800 <= code <= 0xDFFF:
                    bad_surrogate = True
                else:
                    result += chr(code).encode("utf-8")
                utf16 += 2 if code > 0xFFFF else 1
                i = npos
                continue
        if c != 0x3C:  # '<'
            if c < 0x80 or c >= 0xC0:
                utf16 += 2 if c >= 0xF0 else 1
            result.append(c)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != 0x2F:  # a start tag
            while at(i) not in _HTML_SPACE and at(i) != 0x3E:
                i += 1
            if at(i) == 0:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            tag = b[begin + 1 : i].lower().decode("utf-8", "replace")
            if tag not in _HTML_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            while at(i) != 0x3E:
                while at(i) != 0 and at(i) in _HTML_SPACE:
                    i += 1
                if at(i) == 0x3E:
                    break
                attr_begin = i
                while at(i) not in _HTML_SPACE and at(i) not in b"=>/\"'":
                    i += 1
                attribute = b[attr_begin:i].decode("utf-8", "replace")
                if not attribute:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                while at(i) != 0 and at(i) in _HTML_SPACE:
                    i += 1
                if at(i) != 0x3D:  # an attribute without a value
                    if at(i) == 0:
                        raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                    if tag == "blockquote" and attribute == "expandable":
                        argument = "1"
                    continue
                i += 1
                while at(i) != 0 and at(i) in _HTML_SPACE:
                    i += 1
                if at(i) == 0:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if at(i) not in (0x22, 0x27):  # a name token
                    token_begin = i
                    while _is_alpha(at(i)) or _is_digit(at(i)) or at(i) in (0x2E, 0x2D):
                        i += 1
                    value = b[token_begin:i].lower().decode("ascii")
                    if at(i) not in _HTML_SPACE and at(i) != 0x3E:
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {token_begin}"
                        )
                else:  # a quoted string
                    quote = at(i)
                    i += 1
                    raw = bytearray()
                    while at(i) != quote and at(i) != 0:
                        if at(i) == 0x26:
                            code, npos = _decode_html_entity(b, i)
                            if code:
                                raw += chr(code).encode("utf-8", "surrogatepass")
                                i = npos
                                continue
                        raw.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                    value = raw.decode("utf-8", "replace")
                if at(i) == 0:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                if (tag, attribute) in (("a", "href"), ("tg-emoji", "emoji-id")):
                    argument = value
                elif tag == "code" and attribute == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and attribute == "class" and value.startswith("tg-"):
                    argument = value[3:]
                elif tag == "blockquote" and attribute == "expandable":
                    argument = "1"
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin}'
                )
            nested.append((tag, argument, utf16, len(result)))
            i += 1  # past '>'
            continue

        # an end tag
        if not nested:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
        while at(i) not in _HTML_SPACE and at(i) != 0x3E:
            i += 1
        end_tag = b[begin + 2 : i].lower().decode("utf-8", "replace")
        while at(i) != 0 and at(i) in _HTML_SPACE:
            i += 1
        if at(i) != 0x3E:
            raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
        tag, argument, offset, result_pos = nested[-1]
        if end_tag and end_tag != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", '
                f'found "</{end_tag}>"'
            )
        length = utf16 - offset
        if length > 0:
            _add_html_entity(entities, tag, argument, offset, length, result, result_pos)
        nested.pop()
        i += 1

    if nested:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{nested[-1][0]}"')
    if bad_surrogate:
        raise EntityParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for "
            "unmatched surrogate code units"
        )
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return result.decode("utf-8"), entities


def _add_html_entity(
    entities: list[dict[str, Any]],
    tag: str,
    argument: str,
    offset: int,
    length: int,
    result: bytearray,
    result_pos: int,
) -> None:
    last = entities[-1] if entities else None
    same_span = last is not None and last["offset"] == offset and last["length"] == length
    if tag in _SIMPLE_TAG_ENTITY:
        entities.append({"type": _SIMPLE_TAG_ENTITY[tag], "offset": offset, "length": length})
    elif tag == "tg-emoji":
        if not argument.isdigit() or int(argument) <= 0 or int(argument) >= 2**63:
            raise EntityParseError("Invalid custom emoji identifier specified")
        entities.append(
            {
                "type": "custom_emoji",
                "offset": offset,
                "length": length,
                "custom_emoji_id": argument,
            }
        )
    elif tag == "a":
        url = argument or result[result_pos:].decode("utf-8", "replace")
        if url:
            entities.append({"type": "text_link", "offset": offset, "length": length, "url": url})
    elif tag == "pre":
        if same_span and last is not None and last["type"] == "code" and last.get("language"):
            last["type"] = "pre"
        else:
            entities.append({"type": "pre", "offset": offset, "length": length})
    elif tag == "code":
        if same_span and last is not None and last["type"] == "pre" and argument:
            last["language"] = argument
        else:
            entity = {"type": "code", "offset": offset, "length": length}
            if argument:
                entity["language"] = argument
            entities.append(entity)
    elif tag == "blockquote":
        kind = "expandable_blockquote" if argument else "blockquote"
        entities.append({"type": kind, "offset": offset, "length": length})
    # tg-time: no entity


# --------------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------------


def _decode_param(name: str, value: str) -> Any:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _update_type(update: dict[str, Any]) -> str:
    for key in update:
        if key != "update_id":
            return key
    return ""


def _inline_keyboard(markup: Any) -> list[list[dict[str, Any]]] | None:
    if isinstance(markup, dict) and isinstance(markup.get("inline_keyboard"), list):
        return markup["inline_keyboard"]
    return None


class FakeBotAPI:
    """An in-process HTTP server speaking the Telegram Bot API. See the module docstring."""

    def __init__(
        self,
        *,
        bot_username: str = DEFAULT_BOT_USERNAME,
        rate_limit_per_second: float | None = None,
        bot_id: int = DEFAULT_BOT_ID,
        bot_first_name: str = DEFAULT_BOT_FIRST_NAME,
        webhook_retry_delay: float = 0.2,
    ) -> None:
        self.bot_username = bot_username
        self.bot_id = bot_id
        self.bot_first_name = bot_first_name
        self.rate_limit_per_second = rate_limit_per_second
        self.webhook_retry_delay = webhook_retry_delay
        self.root = ""
        self.calls: list[ApiCall] = []
        self.messages: list[SentMessage] = []
        self.too_many_requests = 0
        self.webhook = WebhookState()
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.blocked_chats: set[int] = set()
        self.chats: dict[int, dict[str, Any]] = {}  # learnt from pushed updates
        self.allowed_updates: list[str] | None = None  # as last set by getUpdates/setWebhook
        self.dropped_updates: list[dict[str, Any]] = []  # filtered out by allowed_updates
        self.closed = False
        self.logged_out = False

        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._profile: dict[str, str] = {}
        self._failures: list[_Failure] = []
        self._latency = 0.0
        self._bucket_tokens = 0.0
        self._bucket_at: float | None = None
        self._updates: list[dict[str, Any]] = []  # pending (unconfirmed) updates
        self._last_update_id = 0
        self._poll_generation = 0
        self._answered_callbacks: set[str] = set()
        self._incoming: set[tuple[int, int]] = set()
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._stopping = False
        self._update_signal = _Signal()
        self._message_signal = _Signal()
        self._call_signal = _Signal()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._methods = {
            "getMe": self._get_me,
            "logOut": self._log_out,
            "close": self._close,
            "sendMessage": self._send_message,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": self._get_my_commands,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "sendChatAction": self._send_chat_action,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getFile": self._get_file,
            "getChat": self._get_chat,
            "setMyName": self._set_profile,
            "setMyDescription": self._set_profile,
            "setMyShortDescription": self._set_profile,
            "getMyName": self._get_profile,
            "getMyDescription": self._get_profile,
            "getMyShortDescription": self._get_profile,
            "pinChatMessage": self._ok,
            "unpinChatMessage": self._ok,
            "unpinAllChatMessages": self._ok,
            "setMessageReaction": self._ok,
            "leaveChat": self._ok,
        }
        self._method_names = {name.lower(): name for name in self._methods}

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0: a free port); returns the root url ``http://host:port``."""
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.root = f"http://{host}:{bound_port}"
        self._session = aiohttp.ClientSession()
        self._stopping = False
        return self.root

    async def stop(self) -> None:
        """End long polls, stop webhook delivery and the server."""
        self._stopping = True
        self._update_signal.notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"{self.root}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.root}/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        return default_bot_user(self.bot_id, self.bot_username, self.bot_first_name)

    # ---- inspection ------------------------------------------------------------------------

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        """Every message the bot sent to that chat, oldest first (deleted ones included,
        flagged ``deleted``)."""
        return [m for m in self.messages if m.chat_id == chat_id]

    def last_message(self, chat_id: int) -> SentMessage:
        sent = self.messages_to(chat_id)
        assert sent, f"the bot sent nothing to chat {chat_id}"
        return sent[-1]

    def calls_of(self, method: str) -> list[ApiCall]:
        name = self._canonical(method)
        return [c for c in self.calls if c.method == name]

    def buttons(self, message: SentMessage) -> list[list[tuple[str, str]]]:
        """Rows of (text, callback_data or url) of the message's current keyboard. Other
        inline buttons give their web_app/login url, switch_inline_query or copy text; reply
        keyboard buttons give (text, "")."""
        markup = message.reply_markup
        if not isinstance(markup, dict):
            return []
        if "inline_keyboard" in markup:
            return [
                [(b.get("text", ""), _button_value(b)) for b in row]
                for row in markup["inline_keyboard"]
            ]
        if "keyboard" in markup:
            return [
                [(b, "") if isinstance(b, str) else (b.get("text", ""), "") for b in row]
                for row in markup["keyboard"]
            ]
        return []

    def commands(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """(scope, language_code or "") -> commands. scope is the scope type ("default",
        "all_private_chats"...), "chat:<id>", "chat_administrators:<id>" or
        "chat_member:<chat_id>:<user_id>"."""
        return {key: [dict(c) for c in value] for key, value in self._commands.items()}

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._updates)

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the API other tests use
    ) -> list[SentMessage]:
        """Wait until the bot has sent at least ``count`` messages to the chat; returns them all.
        Raises :class:`FakeApiTimeout` (an AssertionError) listing what was sent otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            sent = self.messages_to(chat_id)
            if len(sent) >= count:
                return sent
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await self._message_signal.wait(remaining):
                sent = self.messages_to(chat_id)
                if len(sent) >= count:
                    return sent
                recent = ", ".join(f"{c.method}->{c.status}" for c in self.calls[-10:])
                texts = [m.text if m.text is not None else m.caption for m in sent]
                raise FakeApiTimeout(
                    f"expected {count} message(s) to chat {chat_id} within {timeout}s, got "
                    f"{len(sent)}: {texts!r}; last calls: {recent or 'none'}"
                )

    async def wait_for_call(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[ApiCall]:
        """Wait until ``method`` has been called (and answered) at least ``count`` times."""
        name = self._canonical(method)
        deadline = time.monotonic() + timeout
        while True:
            calls = [c for c in self.calls if c.method == name and c.status is not None]
            if len(calls) >= count:
                return calls
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await self._call_signal.wait(remaining):
                calls = [c for c in self.calls if c.method == name and c.status is not None]
                if len(calls) >= count:
                    return calls
                raise FakeApiTimeout(
                    f"expected {count} {name} call(s) within {timeout}s, got {len(calls)}"
                )

    async def wait_until_delivered(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until no pushed update is pending (confirmed by getUpdates or delivered to the
        webhook)."""
        deadline = time.monotonic() + timeout
        while self._updates:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await self._update_signal.wait(remaining):
                if not self._updates:
                    return
                raise FakeApiTimeout(
                    f"{len(self._updates)} update(s) still pending after {timeout}s"
                )

    # ---- failure injection -----------------------------------------------------------------

    def block_chat(self, chat_id: int) -> None:
        """Sends and edits to that chat answer 403 (user blocked the bot / bot kicked)."""
        self.blocked_chats.add(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        self.blocked_chats.discard(chat_id)

    def fail_next(
        self,
        method: str,
        *,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` (to ``chat_id``, if given) fail with that
        error. A 429 always carries ``retry_after`` (1 unless given), as Telegram's do. Queued
        failures apply in the order they were added."""
        params = dict(parameters or {})
        if retry_after is None and error_code == 429:
            retry_after = 1
        if retry_after is not None:
            params["retry_after"] = retry_after
        if description is None:
            description = {
                400: "Bad Request: injected failure",
                403: "Forbidden: bot was blocked by the user",
                409: "Conflict: injected failure",
                429: f"Too Many Requests: retry after {retry_after}",
                500: "Internal Server Error",
                502: "Bad Gateway",
            }.get(error_code, f"Error {error_code}: injected failure")
        self._failures.append(
            _Failure(
                self._canonical(method), error_code, description, params or None, times, chat_id
            )
        )

    def set_latency(self, seconds: float) -> None:
        """Delay every answer by ``seconds``."""
        self._latency = max(0.0, seconds)

    # ---- updates ---------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates (or the webhook, when one is set). Assigns an
        update_id when it is missing or not above the last one queued (Telegram's ids only
        increase); returns the (same) dict. A my_chat_member update of a private chat blocks or
        unblocks that chat, as the user's action would."""
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or update_id <= self._last_update_id:
            update_id = _UPDATE_IDS.next()
            update["update_id"] = update_id
        _UPDATE_IDS.bump(update_id)
        self._last_update_id = update_id
        self._learn(update)
        self._updates.append(update)
        self._update_signal.notify()
        if self.webhook.url:
            self._kick_webhook()
        return update

    def register_file(self, file_id: str, content: bytes, file_path: str | None = None) -> None:
        """Make a file_id (e.g. of a UserSim photo) downloadable through getFile."""
        path = file_path or f"files/{file_id}"
        stored = _StoredFile(file_id, f"u{file_id}", path, content)
        self._files[file_id] = stored
        self._files_by_path[path] = stored

    # ---- HTTP ------------------------------------------------------------------------------

    def _canonical(self, method: str) -> str:
        return self._method_names.get(method.lower(), method)

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        params: dict[str, Any] = {k: _decode_param(k, v) for k, v in request.query.items()}
        files: dict[str, UploadedFile] = {}
        if request.content_type == "application/json" and request.can_read_body:
            try:
                body = await request.json()
            except ValueError as exc:
                raise _bad_request("can't parse JSON encoded request parameters") from exc
            if isinstance(body, dict):
                params.update(body)
        elif request.can_read_body:
            if request.content_type not in (
                "multipart/form-data",
                "application/x-www-form-urlencoded",
                "",
            ):
                raw = (await request.read()).decode("utf-8", "replace")
                form: Iterable[tuple[str, Any]] = parse_qsl(raw)
            else:
                form = (await request.post()).items()
            for key, value in form:
                if isinstance(value, web.FileField):
                    files[key] = UploadedFile(
                        value.filename,
                        value.file.read(),
                        value.content_type or "application/octet-stream",
                    )
                elif isinstance(value, bytes | bytearray):
                    params[key] = _decode_param(key, bytes(value).decode("utf-8", "replace"))
                else:
                    params[key] = _decode_param(key, value)
        return params, files

    async def _handle_method(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        token = request.match_info["token"]
        method = self._canonical(request.match_info["method"])
        call = ApiCall(method=method, params={}, at=at, token=token)
        self.calls.append(call)
        try:
            call.params, call.files = await self._read_params(request)
            if self._latency:
                await asyncio.sleep(self._latency)
            result = await self._dispatch(method, call.params, call.files)
            body: dict[str, Any] = {"ok": True, "result": result}
            status = 200
        except ApiError as exc:
            body, status = exc.body(), exc.error_code
        except web.HTTPRequestEntityTooLarge:
            body = {"ok": False, "error_code": 413, "description": "Request Entity Too Large"}
            status = 413
        except Exception as exc:  # a bug in the fake: say so loudly, as a 500
            log.exception("FakeBotAPI failed on %s", method)
            body = {
                "ok": False,
                "error_code": 500,
                "description": f"Internal Server Error: FakeBotAPI crashed: {exc!r}",
            }
            status = 500
        call.status, call.response = status, body
        self._call_signal.notify()
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(body=stored.content, content_type="application/octet-stream")

    async def _handle_not_found(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def _dispatch(
        self, method: str, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        handler = self._methods.get(method)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        self._apply_injected_failure(method, params)
        if method in _MESSAGE_METHODS and self.rate_limit_per_second:
            self._apply_rate_limit()
        return await handler(method, params, files)

    def _apply_injected_failure(self, method: str, params: dict[str, Any]) -> None:
        for failure in self._failures:
            if failure.method != method:
                continue
            if failure.chat_id is not None and params.get("chat_id") != failure.chat_id:
                continue
            failure.times -= 1
            if failure.times <= 0:
                self._failures.remove(failure)
            raise ApiError(failure.error_code, failure.description, failure.parameters)

    def _apply_rate_limit(self) -> None:
        rate = float(self.rate_limit_per_second or 0)
        capacity = max(rate, 1.0)
        now = time.monotonic()
        if self._bucket_at is None:
            tokens = capacity
        else:
            tokens = min(capacity, self._bucket_tokens + (now - self._bucket_at) * rate)
        self._bucket_at = now
        if tokens >= 1.0 - 1e-9:
            self._bucket_tokens = tokens - 1.0
            return
        self._bucket_tokens = tokens
        self.too_many_requests += 1
        retry_after = max(1, math.ceil((1.0 - tokens) / rate))
        raise ApiError(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
        )

    # ---- helpers for handlers --------------------------------------------------------------

    def _chat_id(self, params: dict[str, Any], name: str = "chat_id") -> int:
        value = params.get(name)
        if value is None or value == "":
            raise _bad_request(f"{name} is empty")
        if isinstance(value, bool):
            raise _bad_request("chat not found")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return int(value)
            for chat in self.chats.values():
                if value.startswith("@") and chat.get("username") == value[1:]:
                    return int(chat["id"])
        raise _bad_request("chat not found")

    def _check_not_blocked(self, chat_id: int) -> None:
        if chat_id in self.blocked_chats:
            if chat_id > 0:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            raise ApiError(403, "Forbidden: bot was kicked from the group chat")

    def _chat(self, chat_id: int) -> dict[str, Any]:
        return dict(self.chats.get(chat_id) or _chat_for_id(chat_id))

    def _format(
        self, text: str, parse_mode: Any, entities: Any, *, caption: bool = False
    ) -> tuple[str, list[dict[str, Any]]]:
        if isinstance(entities, list) and entities:
            plain, parsed = text, [dict(e) for e in entities if isinstance(e, dict)]
        elif isinstance(parse_mode, str) and parse_mode.lower() == "html":
            try:
                plain, parsed = parse_html(text)
            except EntityParseError as exc:
                raise _bad_request(f"can't parse entities: {exc}") from exc
        elif parse_mode not in (None, "", "Markdown", "MarkdownV2", "markdown", "markdownv2"):
            raise _bad_request(f"unsupported parse_mode: {parse_mode}")
        else:
            plain, parsed = text, []
        if caption:
            if _utf16_len(plain) > MAX_CAPTION_LENGTH:
                raise _bad_request("message caption is too long")
        else:
            if not plain.strip():
                raise _bad_request("message text is empty")
            if _utf16_len(plain) > MAX_TEXT_LENGTH:
                raise _bad_request("message is too long")
        return plain, parsed

    def _check_reply_markup(self, markup: Any) -> None:
        if markup is None:
            return
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad_request(
                    'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                )
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                        raise _bad_request(
                            "can't parse inline keyboard button: "
                            'Field "text" must be of type String'
                        )
                    actions = set(button) - {"text", "style", "icon_custom_emoji_id"}
                    if not actions:
                        raise _bad_request(
                            "can't parse inline keyboard button: Text buttons are unallowed in "
                            "the inline keyboard"
                        )
                    if "callback_data" in button:
                        data = button["callback_data"]
                        if not isinstance(data, str) or not (
                            1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
                        ):
                            raise _bad_request("BUTTON_DATA_INVALID")
                    if "url" in button and not button["url"]:
                        raise _bad_request(
                            "inline keyboard button URL '' is invalid: URL host is empty"
                        )
        elif "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad_request(
                    'field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays'
                )
        elif not ("remove_keyboard" in markup or "force_reply" in markup):
            raise _bad_request("can't parse reply keyboard markup JSON object")

    def _find_message(self, chat_id: int, message_id: Any) -> SentMessage | None:
        for message in reversed(self.messages):
            if message.chat_id == chat_id and message.message_id == message_id:
                return message
        return None

    def _is_incoming(self, chat_id: int, message_id: Any) -> bool:
        key = (chat_id, message_id)
        return key in self._incoming or key in _INCOMING_MESSAGES

    def _record_message(
        self,
        method: str,
        chat_id: int,
        params: dict[str, Any],
        content: dict[str, Any],
        *,
        text: str | None = None,
        caption: str | None = None,
        plain: str | None = None,
        entities: list[dict[str, Any]] | None = None,
        document: tuple[str, bytes] | None = None,
        photo: tuple[str, bytes] | None = None,
    ) -> dict[str, Any]:
        markup = params.get("reply_markup")
        raw: dict[str, Any] = {
            "message_id": _MESSAGE_IDS.next(),
            "from": self.bot_user,
            "chat": self._chat(chat_id),
            "date": _now(),
        }
        thread_id = params.get("message_thread_id")
        if isinstance(thread_id, int):
            raw["message_thread_id"] = thread_id
        reply = params.get("reply_parameters")
        reply_to = reply.get("message_id") if isinstance(reply, dict) else None
        reply_to = reply_to or params.get("reply_to_message_id")
        if reply_to is not None:
            replied = self._find_message(chat_id, reply_to)
            if replied is not None:
                raw["reply_to_message"] = {
                    k: v for k, v in replied.raw.items() if k != "reply_to_message"
                }
        raw.update(content)
        if _inline_keyboard(markup) is not None:
            raw["reply_markup"] = markup
        message = SentMessage(
            message_id=raw["message_id"],
            chat_id=chat_id,
            text=text,
            parse_mode=params.get("parse_mode"),
            reply_markup=markup if isinstance(markup, dict) else None,
            method=method,
            document=document,
            caption=caption,
            photo=photo,
            plain_text=plain,
            entities=list(entities or []),
            date=raw["date"],
            params=dict(params),
            raw=raw,
        )
        self.messages.append(message)
        self._message_signal.notify()
        return raw

    def _store_upload(self, kind: str, upload: UploadedFile) -> _StoredFile:
        n = _FILE_IDS.next()
        file_id = f"{kind[:2].upper()}AC{n:010d}fake"
        path = f"{kind}s/file_{n}{_suffix(upload.filename)}"
        stored = _StoredFile(file_id, f"AgAD{n:06d}", path, upload.content)
        self._files[file_id] = stored
        self._files_by_path[path] = stored
        return stored

    def _media(
        self, kind: str, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> tuple[UploadedFile | None, _StoredFile | None, str | None]:
        """Resolve the media param: (uploaded file, stored file, url)."""
        value = params.get(kind)
        upload: UploadedFile | None = None
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value[len("attach://") :])
            if upload is None:
                raise _bad_request(f"file {value} not found in the request")
        elif kind in files:
            upload = files[kind]
        elif isinstance(value, str) and value:
            if value in self._files:
                return None, self._files[value], None
            if urlsplit(value).scheme in ("http", "https"):
                return None, None, value
            raise _bad_request("wrong file identifier/HTTP URL specified")
        else:
            raise _bad_request(f"there is no {kind} in the request")
        if not upload.content:
            raise _bad_request("file must be non-empty")
        return upload, self._store_upload(kind, upload), None

    # ---- methods ---------------------------------------------------------------------------

    async def _ok(self, method: str, params: dict[str, Any], files: Any) -> bool:
        return True

    async def _get_me(self, method: str, params: dict[str, Any], files: Any) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _log_out(self, method: str, params: dict[str, Any], files: Any) -> bool:
        self.logged_out = True
        return True

    async def _close(self, method: str, params: dict[str, Any], files: Any) -> bool:
        self.closed = True
        return True

    async def _send_message(
        self, method: str, params: dict[str, Any], files: Any
    ) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        self._check_not_blocked(chat_id)
        text = params.get("text")
        if text is None or text == "":
            raise _bad_request("message text is empty")
        text = str(text)
        plain, entities = self._format(text, params.get("parse_mode"), params.get("entities"))
        self._check_reply_markup(params.get("reply_markup"))
        content: dict[str, Any] = {"text": plain}
        if entities:
            content["entities"] = entities
        if isinstance(params.get("link_preview_options"), dict):
            content["link_preview_options"] = params["link_preview_options"]
        return self._record_message(
            method, chat_id, params, content, text=text, plain=plain, entities=entities
        )

    def _caption(self, params: dict[str, Any]) -> tuple[str | None, str | None, list[Any]]:
        caption = params.get("caption")
        if caption is None or caption == "":
            return None, None, []
        caption = str(caption)
        plain, entities = self._format(
            caption, params.get("parse_mode"), params.get("caption_entities"), caption=True
        )
        return caption, plain, entities

    async def _send_document(
        self, method: str, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        self._check_not_blocked(chat_id)
        upload, stored, url = self._media("document", params, files)
        caption, plain, entities = self._caption(params)
        self._check_reply_markup(params.get("reply_markup"))
        if upload is not None and stored is not None:
            document = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": upload.filename,
                "mime_type": upload.content_type,
                "file_size": len(upload.content),
            }
        elif stored is not None:
            document = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.content),
            }
        else:
            document = {
                "file_id": f"BQAC{_FILE_IDS.next():010d}url",
                "file_unique_id": f"AgADurl{_FILE_IDS.next()}",
                "file_name": urlsplit(url or "").path.rsplit("/", 1)[-1] or "file",
            }
        content: dict[str, Any] = {"document": document}
        if plain is not None:
            content["caption"] = plain
            if entities:
                content["caption_entities"] = entities
        return self._record_message(
            method,
            chat_id,
            params,
            content,
            caption=caption,
            plain=plain,
            entities=entities,
            document=(upload.filename, upload.content) if upload is not None else None,
        )

    async def _send_photo(
        self, method: str, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        self._check_not_blocked(chat_id)
        upload, stored, _url = self._media("photo", params, files)
        caption, plain, entities = self._caption(params)
        self._check_reply_markup(params.get("reply_markup"))
        file_id = stored.file_id if stored is not None else f"AgAC{_FILE_IDS.next():010d}url"
        unique = stored.file_unique_id if stored is not None else f"AQAD{_FILE_IDS.next()}"
        size = len(stored.content) if stored is not None else 0
        photo = [
            {"file_id": f"{file_id}s", "file_unique_id": f"{unique}s", "width": 90, "height": 90},
            {
                "file_id": file_id,
                "file_unique_id": unique,
                "width": 800,
                "height": 800,
                "file_size": size,
            },
        ]
        content: dict[str, Any] = {"photo": photo}
        if plain is not None:
            content["caption"] = plain
            if entities:
                content["caption_entities"] = entities
        return self._record_message(
            method,
            chat_id,
            params,
            content,
            caption=caption,
            plain=plain,
            entities=entities,
            photo=(upload.filename, upload.content) if upload is not None else None,
        )

    def _message_to_edit(self, params: dict[str, Any]) -> SentMessage | None:
        """The bot message an edit targets; None for inline messages."""
        if params.get("inline_message_id"):
            return None
        chat_id = self._chat_id(params)
        self._check_not_blocked(chat_id)
        message_id = params.get("message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        message = self._find_message(chat_id, message_id)
        if message is None or message.deleted:
            if self._is_incoming(chat_id, message_id):
                raise _bad_request("message can't be edited")
            raise _bad_request("message to edit not found")
        return message

    def _apply_edit(
        self, message: SentMessage, method: str, changes: dict[str, Any], raw: dict[str, Any]
    ) -> dict[str, Any]:
        before = message._state()
        for key, value in changes.items():
            setattr(message, key, value)
        message.edits.append(MessageEdit(method, time.monotonic(), before, message._state()))
        raw["edit_date"] = _now()
        message.raw = raw
        self._message_signal.notify()
        return raw

    async def _edit_message_text(
        self, method: str, params: dict[str, Any], files: Any
    ) -> dict[str, Any] | bool:
        text = params.get("text")
        if text is None or text == "":
            raise _bad_request("message text is empty")
        text = str(text)
        plain, entities = self._format(text, params.get("parse_mode"), params.get("entities"))
        markup = params.get("reply_markup")
        self._check_reply_markup(markup)
        message = self._message_to_edit(params)
        if message is None:
            return True
        if message.plain_text is None or "text" not in message.raw:
            raise _bad_request("there is no text in the message to edit")
        new_markup = markup if _inline_keyboard(markup) is not None else None
        if (
            plain == message.plain_text
            and entities == message.entities
            and new_markup == message.raw.get("reply_markup")
        ):
            raise _bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        raw = {k: v for k, v in message.raw.items() if k not in ("entities", "reply_markup")}
        raw["text"] = plain
        if entities:
            raw["entities"] = entities
        if new_markup is not None:
            raw["reply_markup"] = new_markup
        changes = {
            "text": text,
            "parse_mode": params.get("parse_mode"),
            "plain_text": plain,
            "entities": entities,
            "reply_markup": new_markup,
        }
        return self._apply_edit(message, method, changes, raw)

    async def _edit_message_caption(
        self, method: str, params: dict[str, Any], files: Any
    ) -> dict[str, Any] | bool:
        caption, plain, entities = self._caption(params)
        markup = params.get("reply_markup")
        self._check_reply_markup(markup)
        message = self._message_to_edit(params)
        if message is None:
            return True
        if "text" in message.raw:
            raise _bad_request("there is no caption in the message to edit")
        new_markup = markup if _inline_keyboard(markup) is not None else None
        if (
            plain == message.raw.get("caption")
            and entities == message.raw.get("caption_entities", [])
            and new_markup == message.raw.get("reply_markup")
        ):
            raise _bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        raw = {
            k: v
            for k, v in message.raw.items()
            if k not in ("caption", "caption_entities", "reply_markup")
        }
        if plain is not None:
            raw["caption"] = plain
            if entities:
                raw["caption_entities"] = entities
        if new_markup is not None:
            raw["reply_markup"] = new_markup
        changes = {
            "caption": caption,
            "parse_mode": params.get("parse_mode"),
            "plain_text": plain,
            "entities": entities,
            "reply_markup": new_markup,
        }
        return self._apply_edit(message, method, changes, raw)

    async def _edit_message_reply_markup(
        self, method: str, params: dict[str, Any], files: Any
    ) -> dict[str, Any] | bool:
        markup = params.get("reply_markup")
        self._check_reply_markup(markup)
        if markup is not None and _inline_keyboard(markup) is None:
            raise _bad_request("inline keyboard expected")
        message = self._message_to_edit(params)
        if message is None:
            return True
        new_markup = markup if _inline_keyboard(markup) else None
        if new_markup == message.raw.get("reply_markup"):
            raise _bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        raw = {k: v for k, v in message.raw.items() if k != "reply_markup"}
        if new_markup is not None:
            raw["reply_markup"] = new_markup
        return self._apply_edit(message, method, {"reply_markup": new_markup}, raw)

    async def _delete_message(self, method: str, params: dict[str, Any], files: Any) -> bool:
        chat_id = self._chat_id(params)
        message_id = params.get("message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        message = self._find_message(chat_id, message_id)
        if message is not None and not message.deleted:
            message.deleted = True
            self._message_signal.notify()
            return True
        key = (chat_id, message_id)
        if message is None and self._is_incoming(chat_id, message_id):
            self._incoming.discard(key)
            _INCOMING_MESSAGES.discard(key)
            return True
        raise _bad_request("message to delete not found")

    async def _answer_callback_query(self, method: str, params: dict[str, Any], files: Any) -> bool:
        query_id = params.get("callback_query_id")
        if not query_id:
            raise _bad_request("query_id is empty")  # pragma: no cover - PTB always sends it
        query_id = str(query_id)
        if query_id in self._answered_callbacks:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = params.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        self._answered_callbacks.add(query_id)
        self.callback_answers.append(dict(params))
        return True

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not isinstance(scope, dict) or not scope.get("type"):
            return "default"
        kind = scope["type"]
        if kind in ("chat", "chat_administrators"):
            return f"{kind}:{scope.get('chat_id')}"
        if kind == "chat_member":
            return f"chat_member:{scope.get('chat_id')}:{scope.get('user_id')}"
        return str(kind)

    async def _set_my_commands(self, method: str, params: dict[str, Any], files: Any) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad_request("too many commands specified")
        cleaned: list[dict[str, Any]] = []
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand")
            name = command.get("command")
            description = command.get("description")
            if not isinstance(name, str) or not _COMMAND_RE.match(name):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        if cleaned:
            self._commands[key] = cleaned
        else:
            self._commands.pop(key, None)
        return True

    async def _delete_my_commands(self, method: str, params: dict[str, Any], files: Any) -> bool:
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self._commands.pop(key, None)
        return True

    async def _get_my_commands(
        self, method: str, params: dict[str, Any], files: Any
    ) -> list[dict[str, Any]]:
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        return [dict(c) for c in self._commands.get(key, [])]

    async def _set_chat_menu_button(self, method: str, params: dict[str, Any], files: Any) -> bool:
        chat_id = self._chat_id(params) if params.get("chat_id") is not None else None
        button = params.get("menu_button")
        if button is None:
            button = {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise _bad_request("can't parse menu button JSON object")
        self.menu_buttons[chat_id] = button
        return True

    async def _get_chat_menu_button(
        self, method: str, params: dict[str, Any], files: Any
    ) -> dict[str, Any]:
        chat_id = self._chat_id(params) if params.get("chat_id") is not None else None
        return dict(
            self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "commands"}
        )

    async def _send_chat_action(self, method: str, params: dict[str, Any], files: Any) -> bool:
        chat_id = self._chat_id(params)
        self._check_not_blocked(chat_id)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    async def _get_file(self, method: str, params: dict[str, Any], files: Any) -> dict[str, Any]:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise _bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    async def _get_chat(self, method: str, params: dict[str, Any], files: Any) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        return {
            **self._chat(chat_id),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
            },
        }

    async def _set_profile(self, method: str, params: dict[str, Any], files: Any) -> bool:
        field_name = {
            "setMyName": "name",
            "setMyDescription": "description",
            "setMyShortDescription": "short_description",
        }[method]
        key = (field_name, str(params.get("language_code") or ""))
        self._profile["/".join(key)] = str(params.get(field_name) or "")
        return True

    async def _get_profile(self, method: str, params: dict[str, Any], files: Any) -> dict[str, str]:
        field_name = {
            "getMyName": "name",
            "getMyDescription": "description",
            "getMyShortDescription": "short_description",
        }[method]
        key = f"{field_name}/{params.get('language_code') or ''}"
        default = self.bot_first_name if field_name == "name" else ""
        return {field_name: self._profile.get(key, default)}

    # ---- getUpdates ------------------------------------------------------------------------

    def _allowed(self, update: dict[str, Any], allowed: list[str] | None) -> bool:
        kind = _update_type(update)
        if allowed:
            return kind in allowed
        return kind not in _OPT_IN_UPDATE_TYPES

    def _confirm(self, offset: int) -> None:
        before = len(self._updates)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if len(self._updates) != before:
            self._update_signal.notify()

    def _take_deliverable(self, allowed: list[str] | None, limit: int) -> list[dict[str, Any]]:
        kept: list[dict[str, Any]] = []
        for update in self._updates:
            if self._allowed(update, allowed):
                kept.append(update)
            else:
                self.dropped_updates.append(update)
        if len(kept) != len(self._updates):
            self._updates = kept
            self._update_signal.notify()
        return kept[:limit]

    async def _get_updates(
        self, method: str, params: dict[str, Any], files: Any
    ) -> list[dict[str, Any]]:
        if self.webhook.url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._update_signal.notify()  # terminates an earlier long poll
        try:
            offset = int(params.get("offset") or 0)
            limit = int(params.get("limit") or 100)
            timeout = float(params.get("timeout") or 0)
        except (TypeError, ValueError) as exc:
            raise _bad_request("wrong parameter in request") from exc
        limit = min(max(limit, 1), 100)
        if "allowed_updates" in params and isinstance(params["allowed_updates"], list):
            self.allowed_updates = [str(t) for t in params["allowed_updates"]]
        self._confirm(offset)
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
            batch = self._take_deliverable(self.allowed_updates, limit)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._stopping or self.webhook.url:
                return [dict(u) for u in batch]
            await self._update_signal.wait(remaining)

    # ---- webhook ---------------------------------------------------------------------------

    async def _set_webhook(self, method: str, params: dict[str, Any], files: Any) -> bool:
        url = str(params.get("url") or "")
        if url and urlsplit(url).scheme not in ("http", "https"):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.match(str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
            self._update_signal.notify()
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(t) for t in allowed]
        if not url:
            self.webhook = WebhookState()
            return True
        self.webhook = WebhookState(
            url=url,
            secret_token=str(secret) if secret is not None else None,
            max_connections=int(params.get("max_connections") or 40),
            allowed_updates=self.allowed_updates,
            ip_address=params.get("ip_address"),
            has_custom_certificate="certificate" in params or "certificate" in (files or {}),
        )
        self._update_signal.notify()  # a pending getUpdates ends
        if self._updates:
            self._kick_webhook()
        return True

    async def _delete_webhook(self, method: str, params: dict[str, Any], files: Any) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
            self._update_signal.notify()
        self.webhook = WebhookState()
        return True

    async def _get_webhook_info(
        self, method: str, params: dict[str, Any], files: Any
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.url,
            "has_custom_certificate": self.webhook.has_custom_certificate,
            "pending_update_count": len(self._updates),
        }
        if self.webhook.url:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.ip_address:
                info["ip_address"] = self.webhook.ip_address
            if self.webhook.allowed_updates:
                info["allowed_updates"] = self.webhook.allowed_updates
            if self.webhook.last_error_date is not None:
                info["last_error_date"] = self.webhook.last_error_date
                info["last_error_message"] = self.webhook.last_error_message
        return info

    def _kick_webhook(self) -> None:
        if self._stopping or self._session is None:
            return
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_webhook())

    async def _deliver_webhook(self) -> None:
        while not self._stopping and self.webhook.url and self._session is not None:
            batch = self._take_deliverable(self.webhook.allowed_updates, 1)
            if not batch:
                return
            update = batch[0]
            url = self.webhook.url
            headers = {}
            if self.webhook.secret_token:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook.secret_token
            status: int | None = None
            error: str | None = None
            try:
                async with self._session.post(
                    url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
                ) as response:
                    status = response.status
                    await response.read()
                    if not 200 <= status < 300:
                        error = f"Wrong response from the webhook: {status} {response.reason}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"Connection failed: {exc!r}"
            self.webhook_deliveries.append(
                WebhookDelivery(update["update_id"], url, status, time.monotonic(), error)
            )
            if error is None:
                if self._updates and self._updates[0] is update:
                    self._updates.pop(0)
                self._update_signal.notify()
                continue
            self.webhook.last_error_date = _now()
            self.webhook.last_error_message = error
            await asyncio.sleep(self.webhook_retry_delay)

    # ---- learning from updates -------------------------------------------------------------

    def _learn(self, update: dict[str, Any]) -> None:
        for kind in ("message", "edited_message", "channel_post", "edited_channel_post"):
            message = update.get(kind)
            if isinstance(message, dict):
                self._learn_message(message)
        query = update.get("callback_query")
        if isinstance(query, dict) and isinstance(query.get("message"), dict):
            chat = query["message"].get("chat")
            if isinstance(chat, dict) and chat.get("id") not in self.chats:
                self.chats[chat["id"]] = dict(chat)
        member = update.get("my_chat_member")
        if isinstance(member, dict) and isinstance(member.get("chat"), dict):
            chat = member["chat"]
            self.chats.setdefault(chat["id"], dict(chat))
            status = (member.get("new_chat_member") or {}).get("status")
            if chat.get("type") == "private":
                if status == "kicked":
                    self.blocked_chats.add(chat["id"])
                elif status == "member":
                    self.blocked_chats.discard(chat["id"])

    def _learn_message(self, message: dict[str, Any]) -> None:
        chat = message.get("chat")
        if isinstance(chat, dict) and "id" in chat:
            self.chats[chat["id"]] = dict(chat)
            if "message_id" in message:
                self._incoming.add((chat["id"], message["message_id"]))
                _MESSAGE_IDS.bump(int(message["message_id"]))


def _button_value(button: dict[str, Any]) -> str:
    for key in ("callback_data", "url"):
        if key in button:
            return str(button[key])
    for key in ("web_app", "login_url"):
        if isinstance(button.get(key), dict):
            return str(button[key].get("url", ""))
    for key in ("switch_inline_query", "switch_inline_query_current_chat"):
        if key in button:
            return str(button[key])
    if isinstance(button.get("copy_text"), dict):
        return str(button["copy_text"].get("text", ""))
    return ""


def _suffix(filename: str) -> str:
    name = filename.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1] if "." in name else ""


# --------------------------------------------------------------------------------------------
# update builders
# --------------------------------------------------------------------------------------------


def _command_entities(text: str) -> list[dict[str, Any]]:
    match = _BOT_COMMAND_RE.match(text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": _utf16_len(match.group(0))}]


def _new_update(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"update_id": _UPDATE_IDS.next(), kind: payload}


def _file_ids(kind: str) -> tuple[str, str]:
    n = _FILE_IDS.next()
    return f"{kind}{n:010d}user", f"AgAD{kind[:3]}{n}"


class UserSim:
    """One Telegram user talking to the bot in a private chat: builds their updates."""

    def __init__(
        self,
        user_id: int,
        first_name: str = "Test",
        language_code: str | None = "en",
        *,
        last_name: str | None = None,
        username: str | None = None,
        bot_user: dict[str, Any] | None = None,
    ) -> None:
        self.user_id = user_id
        self.user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        self.chat: dict[str, Any] = {"id": user_id, "type": "private", "first_name": first_name}
        for key, value in (("last_name", last_name), ("username", username)):
            if value is not None:
                self.user[key] = value
                self.chat[key] = value
        if language_code is not None:
            self.user["language_code"] = language_code
        self.bot_user = bot_user or default_bot_user()
        self.sent: list[dict[str, Any]] = []  # every message this user sent, oldest first

    @property
    def chat_id(self) -> int:
        return self.user_id

    def _message(self, **content: Any) -> dict[str, Any]:
        message = {
            "message_id": _MESSAGE_IDS.next(),
            "from": dict(self.user),
            "chat": dict(self.chat),
            "date": _now(),
            **content,
        }
        _INCOMING_MESSAGES.add((self.user_id, message["message_id"]))
        self.sent.append(message)
        return message

    def text(self, text: str, *, reply_to: SentMessage | None = None) -> dict[str, Any]:
        """A message update; "/cmd ..." carries the bot_command entity Telegram adds."""
        content: dict[str, Any] = {"text": text}
        entities = _command_entities(text)
        if entities:
            content["entities"] = entities
        if reply_to is not None:
            content["reply_to_message"] = dict(reply_to.raw)
        return _new_update("message", self._message(**content))

    def press(self, message: SentMessage, button_text: str) -> dict[str, Any]:
        """A callback_query update for the inline button with that text (current keyboard)."""
        keyboard = _inline_keyboard(message.reply_markup) or []
        available = [b.get("text") for row in keyboard for b in row]
        assert not message.deleted, (
            f"message {message.message_id} was deleted; its buttons can't be pressed"
        )
        for row in keyboard:
            for button in row:
                if button.get("text") != button_text:
                    continue
                assert "callback_data" in button, (
                    f"button {button_text!r} has no callback_data (it is {button!r})"
                )
                query = {
                    "id": str(_CALLBACK_IDS.next()),
                    "from": dict(self.user),
                    "message": dict(message.raw),
                    "chat_instance": str(abs(message.chat_id) * 7919 + 13),
                    "data": button["callback_data"],
                }
                return _new_update("callback_query", query)
        raise AssertionError(
            f"no button {button_text!r} on message {message.message_id} "
            f"({(message.text or message.caption or '')[:60]!r}); available: {available!r}"
        )

    def sticker(self, emoji: str = "👍") -> dict[str, Any]:
        file_id, unique = _file_ids("CAAC")
        sticker = {
            "file_id": file_id,
            "file_unique_id": unique,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": "TestStickers",
            "file_size": 21_000,
        }
        return _new_update("message", self._message(sticker=sticker))

    def voice(self, duration: int = 3) -> dict[str, Any]:
        file_id, unique = _file_ids("AwAC")
        voice = {
            "file_id": file_id,
            "file_unique_id": unique,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": 4_000 * duration,
        }
        return _new_update("message", self._message(voice=voice))

    def photo(self, caption: str | None = None) -> dict[str, Any]:
        file_id, unique = _file_ids("AgAC")
        sizes = [
            {"file_id": f"{file_id}{w}", "file_unique_id": f"{unique}{w}", "width": w,
             "height": w * 3 // 4, "file_size": w * 40}
            for w in (90, 320, 1280)
        ]  # fmt: skip
        content: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        return _new_update("message", self._message(**content))

    def document(
        self, file_name: str = "report.pdf", mime_type: str = "application/pdf"
    ) -> dict[str, Any]:
        file_id, unique = _file_ids("BQAC")
        document = {
            "file_id": file_id,
            "file_unique_id": unique,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": 12_345,
        }
        return _new_update("message", self._message(document=document))

    def edited_text(self, text: str, message_id: int | None = None) -> dict[str, Any]:
        """An edited_message update for this user's last text message (or ``message_id``)."""
        candidates = [m for m in self.sent if "text" in m]
        if message_id is not None:
            candidates = [m for m in candidates if m["message_id"] == message_id]
        assert candidates, "this user has sent no text message to edit"
        original = candidates[-1]
        original["text"] = text
        original.pop("entities", None)
        entities = _command_entities(text)
        if entities:
            original["entities"] = entities
        edited = {**original, "edit_date": _now()}
        return _new_update("edited_message", edited)

    def _member_update(self, old: str, new: str) -> dict[str, Any]:
        old_member: dict[str, Any] = {"user": dict(self.bot_user), "status": old}
        new_member: dict[str, Any] = {"user": dict(self.bot_user), "status": new}
        for member in (old_member, new_member):
            if member["status"] == "kicked":
                member["until_date"] = 0
        payload = {
            "chat": dict(self.chat),
            "from": dict(self.user),
            "date": _now(),
            "old_chat_member": old_member,
            "new_chat_member": new_member,
        }
        return _new_update("my_chat_member", payload)

    def blocked(self) -> dict[str, Any]:
        """The user blocked the bot (my_chat_member: member -> kicked)."""
        return self._member_update("member", "kicked")

    def unblocked(self) -> dict[str, Any]:
        """The user restarted the bot (my_chat_member: kicked -> member)."""
        return self._member_update("kicked", "member")


def group_text(
    chat_id: int,
    user_id: int,
    text: str,
    *,
    first_name: str = "Test",
    title: str = "Test group",
) -> dict[str, Any]:
    """A message update from a user in a group (supergroup for -100... ids)."""
    chat = _chat_for_id(chat_id) if chat_id < 0 else {"id": chat_id, "type": "group"}
    chat["title"] = title
    message: dict[str, Any] = {
        "message_id": _MESSAGE_IDS.next(),
        "from": {"id": user_id, "is_bot": False, "first_name": first_name},
        "chat": chat,
        "date": _now(),
        "text": text,
    }
    entities = _command_entities(text)
    if entities:
        message["entities"] = entities
    _INCOMING_MESSAGES.add((chat_id, message["message_id"]))
    return _new_update("message", message)
