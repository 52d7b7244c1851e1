"""The hypo hotline from the patient's side, end to end in English, Hindi and Urdu: /hypo and
its three answers, the "ask the diabetes team" button under a severe-hypo red flag, and the
message after an ambulance call-out, each with the team's due time in the reader's own words
and local time (one working day: a Friday evening report is due on Monday at 17:00)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import select

from bot import content
from bot.i18n import LANGUAGE_NAMES, Translator, translator
from bot.models import AdviceKind, AdviceRequest, AdviceStatus, OutboxMessage, Role
from bot.services import account, hypo_hotline, outbox
from bot.services.advice_line import request_topic
from tests.fake_bot_api import SentMessage, UserSim
from tests.harness import BotUnderTest, assert_no_english, button_texts, plain, press, running_bot
from tests.test_e2e_journeys import join_with_code

LONDON = ZoneInfo("Europe/London")
LANGS = ["en", "hi", "ur"]
NHS = "943 476 5919"
# Someone else had to give glucagon: the severe_hypo rule in bot/red_flags.yaml, as people write it.
RED_FLAG_TEXT = {
    "en": "my wife had to give me glucagon for a hypo",
    "hi": "हाइपो हुआ तो पत्नी को मुझे ग्लूकागन का इंजेक्शन देना पड़ा",
    "ur": "ہائپو ہوا تو بیوی کو مجھے گلوکاگون کا انجیکشن دینا پڑا",
}


@pytest.fixture
async def bot(tmp_path):
    async with running_bot(tmp_path) as running:
        yield running


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def check_language(text: str | None, language: str) -> None:
    if language != "en":
        assert_no_english(text or "")


def when(t: Translator, moment: datetime) -> str:
    """The due time as the reader sees it: their weekday, date and local time."""
    return plain(
        t._(
            "%(day)s at %(time)s",
            day=t.date(moment.astimezone(LONDON).date(), "full"),
            time=t.time(moment, LONDON),
        )
    )


async def joined_patient(bot: BotUnderTest, language: str, user_id: int = 930_001):
    issued = await bot.register_patient(language=language, name="Irfan Ahmed", nhs_number=NHS)
    user = UserSim(user_id, first_name="Irfan")
    await join_with_code(bot, user, issued.code, language)
    async with bot.db.session() as session:
        # The welcome follow-up is not what these tests are about.
        await outbox.cancel_pending_for_person(session, issued.person_id, reason="test")
    return user, issued.person_id


async def joined_specialist(bot: BotUnderTest, user_id: int = 930_900) -> tuple[UserSim, int]:
    issued = await bot.invite_staff("specialist", "Sam Jones", practice=None)
    user = UserSim(user_id, first_name="Sam")
    await join_with_code(bot, user, issued.code, "en")
    async with bot.db.session() as session:
        await outbox.cancel_pending_for_person(session, issued.person_id, reason="test")
    return user, issued.person_id


async def follow_ups(bot: BotUnderTest) -> list[AdviceRequest]:
    async with bot.db.session() as session:
        return list((await session.exec(select(AdviceRequest))).all())


async def cards_for(bot: BotUnderTest, request_id: int) -> list[OutboxMessage]:
    async with bot.db.session() as session:
        rows = await outbox.for_topic(session, request_topic(request_id))
    return [row for row in rows if row.template_key == "advice_card"]


def hypo_page_title(language: str) -> str:
    return content.library().topics["hypos"].pages[language].title


async def open_page(bot: BotUnderTest, user: UserSim, message: SentMessage, t: Translator) -> None:
    """The page button opens the library's hypo page as a new message; the one with the
    button (when the team will call) stays as it was."""
    before = plain(message.plain_text or "")
    count = len(bot.said_to(user.user_id))
    await bot.send(press(bot.fake, user, message, t._("📖 Hypos: what to do")))
    page = bot.last(user.user_id)
    assert len(bot.said_to(user.user_id)) == count + 1
    assert plain(hypo_page_title(t.language)) in plain(page.plain_text or "")
    assert t._("Next ▶") in button_texts(bot.fake, page)
    assert plain(message.plain_text or "") == before
    check_language(page.text, t.language)


@pytest.mark.parametrize("language", LANGS)
async def test_a_hypo_that_needed_help_is_followed_up_within_one_working_day(
    bot: BotUnderTest, language
):
    t = translator(language)
    friday_evening = local(2026, 11, 20, 19, 0)
    with time_machine.travel(friday_evening, tick=False):
        await joined_specialist(bot)
        user, person_id = await joined_patient(bot, language)

        await bot.send(user.text("/hypo"))
        asked = bot.last(user.user_id)
        # First, always: what to do if it is happening now.
        first_line = plain(asked.plain_text or "").split("\n")[0]
        assert "999" in first_line
        assert plain(t._("How was your last hypo treated?")) in plain(asked.plain_text or "")
        assert button_texts(bot.fake, asked) == [
            t._("🍬 I treated it myself"),
            t._("🤝 Someone else had to help me"),
            t._("🚑 I needed an ambulance or went to hospital"),
        ]
        check_language(asked.text, language)

        await bot.send(press(bot.fake, user, asked, t._("🤝 Someone else had to help me")))
        answered = bot.last(user.user_id)
        assert answered.message_id == asked.message_id  # the answer replaces the question
        shown = plain(answered.plain_text or "")
        # Friday 19:00 is after hours: one working day is Monday 09:00 to 17:00.
        monday_five = local(2026, 11, 23, 17, 0)
        assert when(t, monday_five) in shown
        [request] = await follow_ups(bot)
        assert request.reference == "H-000001" and request.reference in shown
        assert (request.kind, request.status, request.source) == (
            AdviceKind.HYPO,
            AdviceStatus.OPEN,
            "patient:help",
        )
        assert request.patient_id == person_id and request.due_at == monday_five.astimezone(UTC)
        assert request.taken_to_hospital is None
        # The team hears of it: a card for the specialist.
        assert len(await cards_for(bot, request.id or 0)) == 1
        assert t._("📖 Hypos: what to do") in button_texts(bot.fake, answered)
        check_language(answered.text, language)

        # Telling us again (now: "an ambulance") the same evening is the same follow-up.
        await bot.send(user.text("/hypo"))
        await bot.send(
            press(
                bot.fake,
                user,
                bot.last(user.user_id),
                t._("🚑 I needed an ambulance or went to hospital"),
            )
        )
        again = bot.last(user.user_id)
        assert plain(
            t._(
                "✅ <b>The diabetes team already know about this hypo</b> (reference "
                "%(reference)s). You do not need to tell us again.",
                reference="H-000001",
            )
        ).replace("<b>", "").replace("</b>", "") in plain(again.plain_text or "")
        assert when(t, monday_five) in plain(again.plain_text or "")
        assert len(await follow_ups(bot)) == 1
        assert len(await cards_for(bot, request.id or 0)) == 1
        check_language(again.text, language)

        await open_page(bot, user, answered, t)


@pytest.mark.parametrize("language", LANGS)
async def test_a_hypo_treated_alone_creates_no_follow_up(bot: BotUnderTest, language):
    t = translator(language)
    with time_machine.travel(local(2026, 11, 18, 11, 0), tick=False):
        await joined_specialist(bot)
        user, _ = await joined_patient(bot, language)
        await bot.send(user.text("/hypo"))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("🍬 I treated it myself")))
        reply = bot.last(user.user_id)
        assert plain(
            t._(
                "👍 Thank you for telling us. A hypo you treated yourself does not need a call "
                "from the diabetes team."
            )
        ) in plain(reply.plain_text or "")
        # The standard rule, as on the NHS page: below 4, 15 to 20 g, check after 10 to 15 min.
        assert all(n in plain(reply.plain_text or "") for n in ("4", "15", "20", "10"))
        check_language(reply.text, language)
        assert await follow_ups(bot) == []
        async with bot.db.session() as session:
            queued = (await session.exec(select(OutboxMessage))).all()
        assert [row for row in queued if row.status == "pending"] == []
        await open_page(bot, user, reply, t)


@pytest.mark.parametrize("language", LANGS)
async def test_a_severe_hypo_told_in_words_is_followed_up_only_when_the_button_is_pressed(
    bot: BotUnderTest, language
):
    t = translator(language)
    with time_machine.travel(local(2026, 11, 20, 19, 0), tick=False):
        await joined_specialist(bot)
        user, person_id = await joined_patient(bot, language)
        await bot.send(user.text(RED_FLAG_TEXT[language]))
        warning = bot.last(user.user_id)
        assert plain(t._("⚠️ <b>A hypo that needed someone else's help is serious.</b>")).replace(
            "<b>", ""
        ).replace("</b>", "") in plain(warning.plain_text or "")
        assert button_texts(bot.fake, warning) == [t._("📞 Ask the diabetes team to contact me")]
        check_language(warning.text, language)
        # Words alone never create a follow-up.
        assert await follow_ups(bot) == []

        await bot.send(
            press(bot.fake, user, warning, t._("📞 Ask the diabetes team to contact me"))
        )
        answer = bot.last(user.user_id)
        # A new message: the safety advice stays, without its button.
        assert answer.message_id != warning.message_id
        assert "999" in plain(warning.plain_text or "")
        assert button_texts(bot.fake, warning) == []
        [request] = await follow_ups(bot)
        assert (request.source, request.patient_id) == ("patient:help", person_id)
        assert request.reference in plain(answer.plain_text or "")
        assert when(t, local(2026, 11, 23, 17, 0)) in plain(answer.plain_text or "")
        assert len(await cards_for(bot, request.id or 0)) == 1
        check_language(answer.text, language)


@pytest.mark.parametrize("language", LANGS)
async def test_after_an_ambulance_call_out_the_patient_hears_when_the_team_will_call(
    bot: BotUnderTest, language
):
    t = translator(language)
    # Half past midnight on Friday 3 July in London is still Thursday in UTC: the date shown is
    # the person's own. Reported at 09:30, one working day runs to Monday 09:30.
    occurred = local(2026, 7, 3, 0, 30)
    reported = local(2026, 7, 3, 9, 30)
    with time_machine.travel(reported, tick=False):
        user, person_id = await joined_patient(bot, language)
        async with bot.db.session() as session:
            callout = await hypo_hotline.record_callout(
                session,
                nhs_number_text=NHS,
                occurred_at=occurred.astimezone(UTC),
                taken_to_hospital=False,
                callout_id="SCAS-2026-0703-001",
                source="api:ambulance",
                targets=bot.ctx.advice_targets(),
                now=reported.astimezone(UTC),
            )
        assert callout.patient_told
        await bot.dispatch()
        told = bot.last(user.user_id)
        shown = plain(told.plain_text or "")
        assert plain(t._("Hello %(name)s.", name="Irfan Ahmed")) in shown
        assert plain(t.date(date(2026, 7, 3), "full")) in shown
        assert when(t, local(2026, 7, 6, 9, 30)) in shown
        assert "999" in shown
        assert button_texts(bot.fake, told) == [t._("📖 Hypos: what to do")]
        check_language(told.text, language)
        [request] = await follow_ups(bot)
        assert (request.patient_id, request.source) == (person_id, "api:ambulance")
        await open_page(bot, user, told, t)


@pytest.mark.parametrize("language", LANGS)
async def test_a_carer_is_told_kindly_who_hypo_is_for(bot: BotUnderTest, language):
    t = translator(language)
    user = UserSim(930_500, first_name="Khadija", language_code=language)
    await bot.send(user.text("/start"))
    await bot.send(press(bot.fake, user, bot.last(user.user_id), LANGUAGE_NAMES[language]))
    await bot.send(
        press(bot.fake, user, bot.last(user.user_id), t._("I look after someone with diabetes"))
    )
    await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("✅ I agree")))
    async with bot.db.session() as session:
        carer = await account.person_for_telegram(session, user.user_id)
        assert carer is not None and carer.role == Role.CARER
        assert not hypo_hotline.may_report(carer)

    await bot.send(user.text("/hypo"))
    reply = bot.last(user.user_id)
    shown = plain(reply.plain_text or "")
    assert "999" in shown.split("\n")[0]
    assert (
        plain(
            t._(
                "If the person you look after had a hypo that needed your help, or an ambulance, "
                "please tell their GP practice or diabetes team today. If you cannot reach them, "
                "call NHS 111."
            )
        )
        in shown
    )
    assert t._("🤝 Someone else had to help me") not in button_texts(bot.fake, reply)
    check_language(reply.text, language)
    # Even a carer's free-text red flag gets the safety advice, but no "ask the team" button.
    await bot.send(user.text(RED_FLAG_TEXT[language]))
    assert button_texts(bot.fake, bot.last(user.user_id)) == []
    assert await follow_ups(bot) == []


async def test_staff_are_told_where_follow_ups_arrive(bot: BotUnderTest):
    user, _ = await joined_specialist(bot)
    await bot.send(user.text("/hypo"))
    assert "diabetes team's queue" in (bot.last(user.user_id).plain_text or "")
    assert await follow_ups(bot) == []
