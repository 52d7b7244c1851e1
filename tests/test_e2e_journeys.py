"""End to end: people use the real bot through the fake Bot API, in English, Hindi and Urdu."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import select

from bot import messages
from bot.i18n import LANGUAGE_NAMES, RLM, translator
from bot.models import AuditEvent, OutboxMessage, OutboxStatus, Person, PersonStatus, Role
from bot.services import account
from bot.services.safety import RedFlagAction
from tests.fake_bot_api import UserSim
from tests.harness import (
    BotUnderTest,
    assert_no_english,
    button_texts,
    plain,
    press,
    running_bot,
    said,
)

LANGS = ["en", "hi", "ur"]


@pytest.fixture
async def bot(tmp_path):
    async with running_bot(tmp_path) as running:
        yield running


def check_language(text: str, language: str) -> None:
    if language != "en":
        assert_no_english(text)


async def join_with_code(bot: BotUnderTest, user: UserSim, code: str, language: str) -> None:
    await bot.send(user.text(f"/start {code}"))
    await bot.send(press(bot.fake, user, bot.last(user.user_id), LANGUAGE_NAMES[language]))
    t = translator(language)
    await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("✅ I agree")))


@pytest.mark.parametrize("language", LANGS)
async def test_a_patient_joins_with_the_practice_link(bot: BotUnderTest, language: str):
    issued = await bot.register_patient(language="ur")
    user = UserSim(700_001, first_name="Irfan", language_code="en")
    await bot.send(user.text(f"/start {issued.code}"))

    choose = bot.last(user.user_id)
    labels = button_texts(bot.fake, choose)
    # All three languages offered, the practice's choice (Urdu) pre-selected.
    assert labels == ["English", "हिन्दी", "✓ اردو"]
    assert "Please choose your language" in choose.text and "اپنی زبان" in choose.text

    await bot.send(press(bot.fake, user, choose, LANGUAGE_NAMES[language]))
    t = translator(language)
    consent = bot.last(user.user_id)
    assert t._("<b>Before we start</b>").replace("<b>", "").replace("</b>", "") in consent.text
    assert button_texts(bot.fake, consent) == [t._("✅ I agree"), t._("Not now")]
    check_language(consent.text, language)
    async with bot.db.session() as session:
        person = await session.get(Person, issued.person_id)
        assert person is not None and person.telegram_user_id is None  # not before Agree

    await bot.send(press(bot.fake, user, consent, t._("✅ I agree")))
    welcome = bot.last(user.user_id)
    assert "Irfan Ahmed" in welcome.text and "Y01234" in welcome.text
    assert t._("🌐 Language") in button_texts(bot.fake, welcome)
    check_language(welcome.text, language)
    if language == "ur":
        assert welcome.text.startswith(RLM) or not welcome.text[0].isascii()

    async with bot.db.session() as session:
        person = await session.get(Person, issued.person_id)
        assert person is not None
        assert (person.telegram_user_id, person.language, person.status) == (
            700_001,
            language,
            PersonStatus.ACTIVE,
        )
        followup = (await session.exec(select(OutboxMessage))).one()
        assert followup.template_key == "welcome_followup"
    # The chat's command menu is in the chosen language, with no staff commands.
    chat_commands = bot.fake.commands()[("chat:700001", "")]
    assert [c["command"] for c in chat_commands] == [
        "menu",
        "learn",
        "help",
        "language",
        "privacy",
        "mydata",
        "carer",
        "healthcheck",
        "hypo",
        "myplan",
        "review",
        "stop",
        "forget",
    ]
    assert chat_commands[3]["description"] == t._("Change language")


@pytest.mark.parametrize("path", ["carer", "at_risk"])
@pytest.mark.parametrize("language", LANGS)
async def test_start_without_a_code_offers_three_ways_in(bot: BotUnderTest, language, path):
    user = UserSim(710_001, first_name="Khadija", language_code="ur")
    await bot.send(user.text("/start"))
    choose = bot.last(user.user_id)
    # Telegram says the phone is in Urdu: that is the suggestion.
    assert "✓ اردو" in button_texts(bot.fake, choose)
    await bot.send(press(bot.fake, user, choose, LANGUAGE_NAMES[language]))
    t = translator(language)
    paths = bot.last(user.user_id)
    assert button_texts(bot.fake, paths) == [
        t._("I have a code from my practice"),
        t._("I look after someone with diabetes"),
        t._("I want to learn and lower my risk"),
    ]
    check_language(paths.text, language)
    label = (
        t._("I look after someone with diabetes")
        if path == "carer"
        else t._("I want to learn and lower my risk")
    )
    await bot.send(press(bot.fake, user, paths, label))
    consent = bot.last(user.user_id)
    check_language(consent.text, language)
    await bot.send(press(bot.fake, user, consent, t._("✅ I agree")))
    check_language(bot.last(user.user_id).text, language)
    async with bot.db.session() as session:
        person = await account.person_for_telegram(session, 710_001)
        assert person is not None
        assert person.role == (Role.CARER if path == "carer" else Role.AT_RISK)
        assert person.nhs_number is None and person.date_of_birth is None


@pytest.mark.parametrize("language", LANGS)
async def test_typing_the_code_after_choosing_i_have_a_code(bot: BotUnderTest, language):
    issued = await bot.register_patient(language="en")
    user = UserSim(720_001)
    await bot.send(user.text("/start"))
    await bot.send(press(bot.fake, user, bot.last(user.user_id), LANGUAGE_NAMES[language]))
    t = translator(language)
    await bot.send(
        press(bot.fake, user, bot.last(user.user_id), t._("I have a code from my practice"))
    )
    assert "ABCDE-23456" in bot.last(user.user_id).text
    await bot.send(user.text("NOT-A-CODE"))
    wrong = bot.last(user.user_id)
    assert wrong.text == translator(language).finish(
        t._(
            "This code was not recognised. Please check it and type it again, or ask your GP "
            "practice for a new code."
        )
    )
    # Typed with a space and in lower case, as people do.
    await bot.send(user.text(f"{issued.code[:5].lower()} {issued.code[5:].lower()}"))
    consent = bot.last(user.user_id)
    check_language(consent.text, language)
    await bot.send(press(bot.fake, user, consent, t._("✅ I agree")))
    async with bot.db.session() as session:
        person = await session.get(Person, issued.person_id)
        assert person is not None and person.telegram_user_id == 720_001


async def test_wrong_used_and_expired_codes_are_explained_in_all_three_languages(bot):
    user = UserSim(730_001)
    await bot.send(user.text("/start ZZZZZZZZZZ"))
    wrong = bot.last(user.user_id).text
    for language in LANGS:
        assert (
            said(
                language,
                "This code was not recognised. Please check it and type it again, or ask your GP "
                "practice for a new code.",
            )
            in wrong
        )
    assert "पहचाना" in wrong or "पहचान" in wrong  # Hindi is really there, not English twice

    issued = await bot.register_patient()
    first = UserSim(730_002)
    await join_with_code(bot, first, issued.code, "en")
    second = UserSim(730_003)
    await bot.send(second.text(f"/start {issued.code}"))
    used = bot.last(second.user_id).text
    for language in LANGS:
        assert (
            said(
                language,
                "This code has already been used. Each code works only once. If you did not "
                "use it, or need a new one, please contact your GP practice.",
            )
            in used
        )

    old = await bot.register_patient(
        nhs_number="401 023 2137", name="Elsie", now=datetime.now(UTC) - timedelta(days=15)
    )
    third = UserSim(730_004)
    await bot.send(third.text(f"/start {old.code}"))
    expired = plain(bot.last(third.user_id).text)
    assert "14 days" in expired and "14 दिन" in expired and "14 دن" in expired


async def test_five_wrong_codes_lock_code_entry_for_an_hour(bot):
    issued = await bot.register_patient()
    user = UserSim(740_001)
    start = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(5):
            await bot.send(user.text("/start WRONGCODE1"))
            clock.shift(timedelta(minutes=2))
        locked = bot.last(user.user_id).text
        assert "Too many wrong codes" in locked
        # The fifth wrong code came at 10:08 (GMT in November): locked until 11:08.
        assert "11:08" in locked
        await bot.send(user.text(f"/start {issued.code}"))
        assert "Too many wrong codes" in bot.last(user.user_id).text
        clock.move_to(start + timedelta(minutes=8, hours=1))
        await bot.send(user.text(f"/start {issued.code}"))
        assert "اردو" in button_texts(bot.fake, bot.last(user.user_id))[-1]


@pytest.mark.parametrize("language", LANGS)
async def test_language_change_reaches_a_message_already_queued(bot: BotUnderTest, language):
    issued = await bot.register_patient(language="en")
    user = UserSim(750_001)
    await join_with_code(bot, user, issued.code, "en")
    await bot.send(user.text("/language"))
    await bot.send(press(bot.fake, user, bot.last(user.user_id), LANGUAGE_NAMES[language]))
    t = translator(language)
    changed = bot.last(user.user_id)
    assert LANGUAGE_NAMES[language] in changed.text
    check_language(changed.text, language)
    assert bot.fake.commands()[("chat:750001", "")][0]["description"] == t._("Main menu")
    # The welcome follow-up was queued in English; it goes out in the new language.
    with time_machine.travel(datetime.now(UTC) + timedelta(days=1, hours=12), tick=False):
        with time_machine.travel(datetime.now(UTC).replace(hour=12, minute=0), tick=False):
            report = await bot.dispatch()
    assert report.sent == 1
    followup = bot.last(user.user_id)
    assert said(language, "• /stop to pause messages") in followup.text
    check_language(followup.text, language)


@pytest.mark.parametrize("language", LANGS)
async def test_forget_erases_everything_and_the_practice_can_enrol_again(bot, language):
    issued = await bot.register_patient(language=language)
    user = UserSim(760_001)
    await join_with_code(bot, user, issued.code, language)
    t = translator(language)
    await bot.send(user.text("/forget"))
    confirm = bot.last(user.user_id)
    check_language(confirm.text, language)
    await bot.send(press(bot.fake, user, confirm, t._("Yes, erase my data")))
    check_language(bot.last(user.user_id).text, language)
    async with bot.db.session() as session:
        assert (await session.exec(select(Person))).all() == []
        assert (await session.exec(select(OutboxMessage))).all() == []
        erased = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "person.erase"))
        ).one()
        assert erased.person_id == issued.person_id
    again = await bot.register_patient(language=language)
    assert not again.reissued
    await join_with_code(bot, user, again.code, language)
    async with bot.db.session() as session:
        assert (await account.person_for_telegram(session, 760_001)) is not None


async def test_forget_can_be_called_off(bot):
    issued = await bot.register_patient(language="hi")
    user = UserSim(761_001)
    await join_with_code(bot, user, issued.code, "hi")
    t = translator("hi")
    await bot.send(user.text("/forget"))
    await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("No, keep it")))
    async with bot.db.session() as session:
        assert (await account.person_for_telegram(session, 761_001)) is not None


@pytest.mark.parametrize("language", LANGS)
async def test_mydata_sends_a_json_document(bot, language):
    issued = await bot.register_patient(language=language)
    user = UserSim(770_001)
    await join_with_code(bot, user, issued.code, language)
    await bot.send(user.text("/mydata"))
    sent = bot.last(user.user_id)
    assert sent.method == "sendDocument" and sent.document is not None
    filename, content = sent.document
    assert filename.endswith(".json")
    data = json.loads(content)
    assert data["person"]["nhs_number"] == "9434765919"
    assert data["person"]["language"] == language
    assert data["messages"][0]["template"] == "welcome_followup"
    check_language(sent.caption or "", language)


async def test_stop_pauses_proactive_messages_until_start(bot):
    issued = await bot.register_patient(language="ur")
    user = UserSim(780_001)
    await join_with_code(bot, user, issued.code, "ur")
    await bot.send(user.text("/stop"))
    assert_no_english(bot.last(user.user_id).text)
    with time_machine.travel(datetime.now(UTC) + timedelta(days=2), tick=False):
        with time_machine.travel(datetime.now(UTC).replace(hour=12), tick=False):
            report = await bot.dispatch()
    assert report.sent == 0 and report.cancelled == 1
    count = len(bot.said_to(user.user_id))
    await bot.send(user.text("/start"))
    assert len(bot.said_to(user.user_id)) == count + 1
    async with bot.db.session() as session:
        person = await account.person_for_telegram(session, 780_001)
        assert person is not None and person.paused_at is None


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "I have chest pain and feel sick"),
        ("hi", "मेरे सीने में दर्द हो रहा है"),
        ("ur", "میرے سینے میں درد ہے"),
    ],
)
async def test_a_red_flag_gets_call_999_at_once_in_the_persons_language(bot, language, text):
    issued = await bot.register_patient(language=language)
    user = UserSim(790_001)
    await join_with_code(bot, user, issued.code, language)
    await bot.send(user.text(text))
    reply = bot.last(user.user_id).text
    assert "999" in reply
    assert said(language, "🚨 <b>Call 999 now.</b>") in reply
    check_language(reply, language)
    async with bot.db.session() as session:
        event = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.action == "safety.red_flag_reply")
            )
        ).one()
        assert event.detail == "chest_pain"  # the rule, never what they wrote


@pytest.mark.parametrize(
    ("language", "text", "action"),
    [
        ("en", "there's a new black patch on my foot", RedFlagAction.SAME_DAY),
        ("hi", "उल्टी हो रही है और शुगर बहुत ज़्यादा है", RedFlagAction.URGENT_111),
        ("ur", "ہائپو ہوا اور بیوی کو مدد کرنی پڑی", RedFlagAction.SEVERE_HYPO),
        ("en", "meri sugar 25 hai aur ulti ho rahi hai", RedFlagAction.URGENT_111),
    ],
)
async def test_other_red_flags_get_the_right_kind_of_help(bot, language, text, action):
    issued = await bot.register_patient(language=language)
    user = UserSim(791_001)
    await join_with_code(bot, user, issued.code, language)
    await bot.send(user.text(text))
    reply = bot.last(user.user_id).text
    t = translator(language)
    assert reply == t.finish(messages.red_flag(t, action).text)
    assert "111" in reply
    check_language(reply, language)


async def test_a_red_flag_from_someone_not_yet_joined_is_answered_in_all_three(bot):
    user = UserSim(792_001, language_code=None)
    await bot.send(user.text("he is unconscious and won't wake up"))
    reply = bot.last(user.user_id).text
    for language in LANGS:
        assert said(language, "🚨 <b>Call 999 now.</b>") in reply


@pytest.mark.parametrize("language", LANGS)
async def test_things_the_bot_cannot_read_get_a_kind_answer(bot, language):
    issued = await bot.register_patient(language=language)
    user = UserSim(800_001)
    await join_with_code(bot, user, issued.code, language)
    for update in (user.sticker(), user.voice(), user.photo()):
        before = len(bot.said_to(user.user_id))
        await bot.send(update)
        reply = bot.last(user.user_id)
        assert len(bot.said_to(user.user_id)) == before + 1
        assert "999" in reply.text
        check_language(reply.text, language)
    await bot.send(user.text("what time is it in Karachi"))
    not_understood = bot.last(user.user_id)
    assert said(language, "What would you like to do?") in not_understood.text
    check_language(not_understood.text, language)
    before = len(bot.said_to(user.user_id))
    await bot.send(user.edited_text("hello again"))
    assert len(bot.said_to(user.user_id)) == before  # an edit is not acted on twice
    await bot.send(user.edited_text("actually I have chest pain"))
    assert "999" in bot.last(user.user_id).text


async def test_someone_not_joined_is_told_how_to_start(bot):
    user = UserSim(810_001, language_code=None)
    await bot.send(user.text("/mydata"))
    reply = bot.last(user.user_id).text
    assert "/start" in reply
    for language in LANGS:
        assert said(language, "You have not joined yet. Please send /start to begin.") in reply


async def test_blocking_the_bot_deactivates_and_cancels_pending_messages(bot):
    issued = await bot.register_patient(language="en")
    user = UserSim(820_001)
    await join_with_code(bot, user, issued.code, "en")
    await bot.send(user.blocked())
    async with bot.db.session() as session:
        person = await account.person_for_telegram(session, 820_001)
        assert person is not None and person.status == PersonStatus.INACTIVE
        [row] = (await session.exec(select(OutboxMessage))).all()
        assert row.status == OutboxStatus.CANCELLED
    # Coming back with /start switches them on again.
    await bot.send(user.text("/start"))
    async with bot.db.session() as session:
        person = await account.person_for_telegram(session, 820_001)
        assert person is not None and person.status == PersonStatus.ACTIVE


async def test_a_403_on_a_direct_reply_also_deactivates(bot):
    issued = await bot.register_patient(language="hi")
    user = UserSim(821_001)
    await join_with_code(bot, user, issued.code, "hi")
    bot.fake.block_chat(821_001)
    await bot.send(user.text("/help"))  # the reply is refused with 403; nothing crashes
    async with bot.db.session() as session:
        person = await account.person_for_telegram(session, 821_001)
        assert person is not None and person.status == PersonStatus.INACTIVE
        [row] = (await session.exec(select(OutboxMessage))).all()
        assert row.status == OutboxStatus.CANCELLED


async def test_staff_see_staff_commands_and_patients_do_not(bot):
    issued = await bot.invite_staff("gp", "Dr Shah")
    gp = UserSim(830_001)
    await join_with_code(bot, gp, issued.code, "en")
    assert "Your staff account is ready (GP)" in bot.last(gp.user_id).text
    commands = [c["command"] for c in bot.fake.commands()[("chat:830001", "")]]
    assert "outbox" in commands
    await bot.send(gp.text("/outbox"))
    assert "Message queue" in bot.last(gp.user_id).text
    # The GP's own welcome note for tomorrow is the one message waiting.
    assert "Waiting: 1" in bot.last(gp.user_id).text

    patient_code = await bot.register_patient(language="en")
    patient = UserSim(830_002)
    await join_with_code(bot, patient, patient_code.code, "en")
    assert "outbox" not in [c["command"] for c in bot.fake.commands()[("chat:830002", "")]]
    assert "📮 Message queue" not in button_texts(bot.fake, bot.last(patient.user_id))
    await bot.send(patient.text("/outbox"))
    assert bot.last(patient.user_id).text == "That is only for the care team."


async def test_help_and_privacy_name_999_and_111_in_every_language(bot):
    for offset, language in enumerate(LANGS):
        issued = await bot.register_patient(
            language=language, nhs_number=["943 476 5919", "401 023 2137", "999 999 9468"][offset]
        )
        user = UserSim(840_001 + offset)
        await join_with_code(bot, user, issued.code, language)
        for command in ("/help", "/privacy", "/menu"):
            await bot.send(user.text(command))
            reply = bot.last(user.user_id).text
            check_language(reply, language)
            if command != "/menu":
                assert "999" in reply and "111" in reply
