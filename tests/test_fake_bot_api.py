"""The fake Bot API, driven by a real telegram.Bot over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
import warnings

import pytest
import pytest_asyncio
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)

from tests.fake_bot_api import FakeApiTimeout, FakeBotAPI, UserSim, group_text, parse_html

TOKEN = "123456:TEST-token_abc"
CHAT = 555_001


@pytest_asyncio.fixture
async def api():
    fake = FakeBotAPI()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def make_bot(api: FakeBotAPI) -> Bot:
    return Bot(TOKEN, base_url=f"{api.root}/bot", base_file_url=f"{api.root}/file/bot")


@pytest_asyncio.fixture
async def bot(api):
    async with make_bot(api) as b:
        yield b


def keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Yes", callback_data="consent:yes")],
            [
                InlineKeyboardButton("No", callback_data="consent:no"),
                InlineKeyboardButton("Docs", url="https://example.org/docs"),
            ],
        ]
    )


@pytest.mark.asyncio
async def test_get_me_is_a_bot(api, bot):
    me = await bot.get_me()
    assert me.is_bot and me.username == "diabridge_test_bot" and me.can_join_groups
    assert api.calls[0].method == "getMe" and api.calls[0].token == TOKEN


@pytest.mark.asyncio
async def test_send_message_records_text_and_buttons(api, bot):
    sent = await bot.send_message(
        CHAT, "<b>Hello</b> &amp; welcome", parse_mode="HTML", reply_markup=keyboard()
    )
    assert sent.text == "Hello & welcome"
    assert sent.entities[0].type == "bold" and sent.entities[0].length == 5
    assert sent.chat.type == "private" and sent.from_user.is_bot
    assert sent.reply_markup == keyboard()

    [message] = api.messages_to(CHAT)
    assert message.message_id == sent.message_id and message.method == "sendMessage"
    assert message.text == "<b>Hello</b> &amp; welcome"
    assert message.plain_text == "Hello & welcome"
    assert message.parse_mode == "HTML"
    assert api.buttons(message) == [
        [("Yes", "consent:yes")],
        [("No", "consent:no"), ("Docs", "https://example.org/docs")],
    ]
    call = api.calls_of("sendMessage")[0]
    assert call.params["chat_id"] == CHAT and isinstance(call.params["reply_markup"], dict)


@pytest.mark.asyncio
async def test_group_chat_ids_get_group_chats(bot):
    sent = await bot.send_message(-4001, "hi all")
    assert sent.chat.type == "group"


@pytest.mark.asyncio
async def test_send_document_keeps_bytes_and_filename_and_is_downloadable(api, bot):
    content = b"date,glucose\n2024-05-01,6.1\n"
    sent = await bot.send_document(
        CHAT, document=content, filename="readings.csv", caption="Your <i>export</i>",
        parse_mode="HTML",
    )  # fmt: skip
    assert sent.document.file_name == "readings.csv"
    assert sent.document.file_size == len(content)
    assert sent.caption == "Your export"

    [message] = api.messages_to(CHAT)
    assert message.method == "sendDocument"
    assert message.document == ("readings.csv", content)
    assert message.caption == "Your <i>export</i>" and message.text is None

    file = await bot.get_file(sent.document.file_id)
    assert bytes(await file.download_as_bytearray()) == content

    # the file_id can be sent again without uploading
    again = await bot.send_document(CHAT + 1, sent.document.file_id)
    assert again.document.file_id == sent.document.file_id


@pytest.mark.asyncio
async def test_send_photo(api, bot):
    sent = await bot.send_photo(CHAT, photo=b"\x89PNG fake", filename="chart.png")
    assert sent.photo[-1].file_size == len(b"\x89PNG fake")
    assert api.messages_to(CHAT)[0].photo == ("chart.png", b"\x89PNG fake")


@pytest.mark.asyncio
async def test_blocked_chat_raises_forbidden(api, bot):
    api.block_chat(CHAT)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(CHAT, "hello?")
    assert api.messages_to(CHAT) == []
    assert api.calls[-1].status == 403
    await bot.send_message(CHAT + 1, "others still work")


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_fail_next_429_raises_retry_after(api, bot):
    api.fail_next("sendMessage", error_code=429, description="Too Many Requests: retry after 7",
                  retry_after=7)  # fmt: skip
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "one")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        retry_after = caught.value.retry_after
    assert retry_after in (7, dtm.timedelta(seconds=7))
    assert api.calls[-1].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    # only once
    await bot.send_message(CHAT, "two")
    assert [m.text for m in api.messages_to(CHAT)] == ["two"]


@pytest.mark.asyncio
async def test_fail_next_500_raises_network_error(api, bot):
    api.fail_next("sendMessage", error_code=500, description="Internal Server Error", times=2)
    for _ in range(2):
        with pytest.raises(NetworkError) as caught:
            await bot.send_message(CHAT, "x")
        assert not isinstance(caught.value, RetryAfter | BadRequest)
    await bot.send_message(CHAT, "x")


@pytest.mark.asyncio
async def test_fail_next_400_raises_bad_request_only_for_that_chat(api, bot):
    api.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found",
                  chat_id=CHAT)  # fmt: skip
    await bot.send_message(CHAT + 1, "unaffected")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(CHAT, "x")


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_rate_limit_refuses_the_send_after_the_burst():
    # A low limit, so a slow machine cannot refill the bucket between the sends.
    async with FakeBotAPI(rate_limit_per_second=2) as api, make_bot(api) as bot:
        for i in range(2):
            await bot.send_message(CHAT, f"m{i}")
        with pytest.raises(RetryAfter):
            await bot.send_message(CHAT, "m2")
        assert api.too_many_requests == 1
        assert api.calls[-1].response["parameters"] == {"retry_after": 1}
        assert len(api.messages) == 2


@pytest.mark.asyncio
async def test_rate_limit_never_refuses_a_client_at_the_limit():
    rate = 20
    async with FakeBotAPI(rate_limit_per_second=rate) as api, make_bot(api) as bot:
        for i in range(rate):  # the initial burst
            await bot.send_message(CHAT, f"burst{i}")
        start = time.monotonic()
        for i in range(10):  # then exactly at the limit
            await asyncio.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))
            await bot.send_message(CHAT, f"paced{i}")
        assert api.too_many_requests == 0


@pytest.mark.asyncio
async def test_get_updates_returns_pushed_update_and_honours_offset(api, bot):
    user = UserSim(CHAT, "Ada")
    pushed = api.push_update(user.text("/start"))
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [pushed["update_id"]]
    message = updates[0].message
    assert message.text == "/start" and message.from_user.first_name == "Ada"
    assert message.entities[0].type == "bot_command" and message.entities[0].length == 6
    # not confirmed yet: delivered again
    assert len(await bot.get_updates(timeout=0)) == 1
    # confirmed by a higher offset
    assert await bot.get_updates(offset=pushed["update_id"] + 1, timeout=0) == ()
    assert api.pending_updates == []


@pytest.mark.asyncio
async def test_get_updates_long_polls(api, bot):
    user = UserSim(CHAT)

    async def push_later():
        await asyncio.sleep(0.3)
        api.push_update(user.text("hello"))

    task = asyncio.create_task(push_later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    elapsed = time.monotonic() - started
    await task
    assert len(updates) == 1 and updates[0].message.text == "hello"
    assert 0.25 <= elapsed < 3

    started = time.monotonic()
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0.5) == ()
    assert time.monotonic() - started >= 0.45


@pytest.mark.asyncio
async def test_second_get_updates_terminates_the_first(api, bot):
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    api.push_update(UserSim(CHAT).text("x"))
    second = await bot.get_updates(timeout=0)
    assert len(second) == 1
    # the first long poll either got the update first or was terminated with 409
    try:
        await first
    except Conflict as exc:
        assert "terminated by other getUpdates request" in str(exc)


@pytest.mark.asyncio
async def test_allowed_updates_filter(api, bot):
    user = UserSim(CHAT)
    api.push_update({"chat_member": {}})  # opt-in type: dropped without allowed_updates
    api.push_update(user.text("kept"))
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates] == ["kept"]
    assert len(api.dropped_updates) == 1


@pytest.mark.asyncio
async def test_set_my_commands_per_language_and_scope(api, bot):
    await bot.set_my_commands(
        [BotCommand("start", "शुरू करें"), BotCommand("help", "मदद")],
        scope=BotCommandScopeAllPrivateChats(),
        language_code="hi",
    )
    await bot.set_my_commands(
        [BotCommand("start", "Start")], scope=BotCommandScopeAllPrivateChats()
    )
    await bot.set_my_commands([BotCommand("triage", "Triage queue")], scope=BotCommandScopeChat(42))
    commands = api.commands()
    assert [c["command"] for c in commands[("all_private_chats", "hi")]] == ["start", "help"]
    assert commands[("all_private_chats", "")] == [{"command": "start", "description": "Start"}]
    assert commands[("chat:42", "")][0]["command"] == "triage"

    got = await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="hi")
    assert [c.command for c in got] == ["start", "help"]

    await bot.delete_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="hi")
    assert ("all_private_chats", "hi") not in api.commands()

    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Bad-Command", "x")])


@pytest.mark.asyncio
async def test_press_missing_button_lists_the_available_ones(api, bot):
    await bot.send_message(CHAT, "Agree?", reply_markup=keyboard())
    message = api.messages_to(CHAT)[0]
    with pytest.raises(AssertionError, match=r"(?i)'Yes', 'No', 'Docs'"):
        UserSim(CHAT).press(message, "Maybe")
    with pytest.raises(AssertionError, match=r"(?i)no callback_data"):
        UserSim(CHAT).press(message, "Docs")


@pytest.mark.asyncio
async def test_press_edit_and_answer_round_trip(api, bot):
    user = UserSim(CHAT)
    await bot.send_message(CHAT, "Agree?", reply_markup=keyboard())
    message = api.messages_to(CHAT)[0]
    update = Update.de_json(user.press(message, "Yes"), bot)
    query = update.callback_query
    assert query.data == "consent:yes" and query.message.message_id == message.message_id

    assert await query.answer("Thanks") is True
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer()

    edited = await query.edit_message_text("Thanks, noted.")
    assert edited.text == "Thanks, noted." and edited.reply_markup is None
    assert message.text == "Thanks, noted." and message.reply_markup is None  # keyboard removed
    assert len(message.edits) == 1 and message.edits[0].before["text"] == "Agree?"
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Thanks, noted.", CHAT, message.message_id)

    await bot.edit_message_reply_markup(CHAT, message.message_id, reply_markup=keyboard())
    assert api.buttons(message)[0] == [("Yes", "consent:yes")]

    assert await bot.delete_message(CHAT, message.message_id) is True
    assert message.deleted
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(CHAT, message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("again", CHAT, message.message_id)


@pytest.mark.asyncio
async def test_html_errors_are_telegrams(api, bot):
    with pytest.raises(BadRequest, match=r'(?i)Unsupported start tag "" at byte offset 6'):
        await bot.send_message(CHAT, "HbA1c < 48", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)Can't find end tag corresponding to start tag"):
        await bot.send_message(CHAT, "<b>bold", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(CHAT, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(
            CHAT, "x", reply_markup=InlineKeyboardMarkup.from_button(
                InlineKeyboardButton("long", callback_data="d" * 65)
            ),
        )  # fmt: skip
    assert api.messages == []


def test_parse_html_matches_tdlib():
    assert parse_html("🏟 🏟<i>🏟 &lt🏟</i>") == (
        "🏟 🏟🏟 <🏟",
        [{"type": "italic", "offset": 5, "length": 6}],
    )
    text, entities = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert text == "x = 1" and entities == [
        {"type": "pre", "offset": 0, "length": 5, "language": "python"}
    ]
    assert parse_html("<blockquote expandable>q</blockquote>")[1][0]["type"] == (
        "expandable_blockquote"
    )
    for html, error in [
        ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
        ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
        ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
        ("🏟 🏟&lt;<i>a</em   >", 'Unmatched end tag at byte offset 17, expected "</i>", found '
         '"</em>"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ]:  # fmt: skip
        with pytest.raises(ValueError) as caught:
            parse_html(html)
        assert str(caught.value) == error


@pytest.mark.asyncio
async def test_unknown_method_answers_404(api, bot):
    # PTB turns the 404 of do_api_request into EndPointNotFound, of a plain post into InvalidToken
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    with pytest.raises(InvalidToken, match=r"(?i)Not Found: method not found"):
        await bot.request.post(f"{api.root}/bot{TOKEN}/noSuchMethod")
    assert api.calls[-1].response == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }


@pytest.mark.asyncio
async def test_misc_methods(api, bot):
    assert await bot.send_chat_action(CHAT, "typing") is True
    assert await bot.set_chat_menu_button(CHAT) is True
    assert api.menu_buttons[CHAT] == {"type": "default"}
    assert await bot.log_out() is True and api.logged_out
    assert await bot.close() is True and api.closed


@pytest.mark.asyncio
async def test_webhook_state_and_delivery(api, bot):
    received: list[tuple[dict, str | None]] = []
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        assert await bot.set_webhook(url, secret_token="s3cret") is True
        assert api.webhook.url == url and api.webhook.secret_token == "s3cret"
        with pytest.raises(Conflict):
            await bot.get_updates(timeout=0)
        update = api.push_update(UserSim(CHAT).text("via webhook"))
        await api.wait_until_delivered(timeout=5)
        assert received == [(update, "s3cret")]
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        assert await bot.delete_webhook() is True
        assert api.webhook.url == "" and (await bot.get_webhook_info()).url == ""
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_wait_for_messages(api, bot):
    async def send_later():
        await asyncio.sleep(0.1)
        await bot.send_message(CHAT, "one")
        await bot.send_message(CHAT, "two")

    task = asyncio.create_task(send_later())
    got = await api.wait_for_messages(CHAT, 2, timeout=5)
    await task
    assert [m.text for m in got] == ["one", "two"]
    with pytest.raises(FakeApiTimeout):
        await api.wait_for_messages(CHAT, 3, timeout=0.2)


def test_update_builders_are_valid_updates():
    bot = Bot(TOKEN)
    user = UserSim(CHAT, "Bea", language_code="hi")
    built = [
        user.text("hello"),
        user.sticker(),
        user.voice(),
        user.photo(),
        user.document(),
        user.edited_text("hello again"),
        user.blocked(),
        user.unblocked(),
        group_text(-1001234567890, CHAT, "/help@diabridge_test_bot"),
    ]
    ids = [u["update_id"] for u in built]
    assert ids == sorted(set(ids))
    updates = [Update.de_json(u, bot) for u in built]
    assert updates[0].effective_user.language_code == "hi"
    assert updates[1].message.sticker and updates[2].message.voice and updates[3].message.photo
    assert updates[5].edited_message.text == "hello again"
    assert updates[5].edited_message.message_id == updates[0].message.message_id
    assert updates[6].my_chat_member.new_chat_member.status == "kicked"
    assert updates[7].my_chat_member.new_chat_member.status == "member"
    group = updates[8].message
    assert group.chat.type == "supergroup" and group.entities[0].type == "bot_command"


@pytest.mark.asyncio
async def test_pushed_block_update_blocks_the_chat(api, bot):
    user = UserSim(CHAT)
    api.push_update(user.blocked())
    with pytest.raises(Forbidden):
        await bot.send_message(CHAT, "x")
    api.push_update(user.unblocked())
    await bot.send_message(CHAT, "x")


@pytest.mark.asyncio
async def test_latency_delays_answers(api, bot):
    api.set_latency(0.2)
    started = time.monotonic()
    await bot.send_message(CHAT, "slow")
    assert time.monotonic() - started >= 0.19
