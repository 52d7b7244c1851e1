"""The advice line end to end: a GP asks with a photo, the card reaches the team's group, a
specialist claims and answers in private, the GP follows up, the request closes with an
outcome; a restart mid-way loses nothing; due times, the half-time raise, the breach and the
paused clock with time-machine."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import col, select

from bot.app import build_application
from bot.i18n import translator
from bot.models import AdviceRequest, AdviceStatus, AuditEvent
from bot.services import account, advice_line, hypo_hotline
from tests.fake_bot_api import SentMessage, UserSim, group_text
from tests.harness import (
    BotUnderTest,
    assert_no_english,
    button_texts,
    plain,
    press,
    running_bot,
)
from tests.test_e2e_journeys import join_with_code

LONDON = ZoneInfo("Europe/London")
TEAM_GROUP = -100_555_0001
NHS = "943 476 5919"
QUESTION = (
    "Mrs K, 67, type 2 on metformin and gliclazide: new ulcer on the left heel for 10 days, "
    "ABPI 0.9. Should we refer to the foot protection team today or dress and review?"
)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


@pytest.fixture
async def bot(tmp_path):
    async with running_bot(tmp_path) as running:
        yield running


class Team:
    def __init__(self) -> None:
        self.specialist = UserSim(850_001, first_name="Sam")
        self.gp = UserSim(850_002, first_name="Priya")
        self.admin = UserSim(850_003, first_name="Alex")


async def set_up_team(bot: BotUnderTest) -> Team:
    """An admin makes a code, a specialist registers the team's group; a GP has joined."""
    team = Team()
    for user, role, name, practice, title in (
        (team.specialist, "specialist", "Sam Jones", None, "Consultant diabetologist"),
        (team.gp, "gp", "Dr Priya Patel", "Y01234", ""),
        (team.admin, "admin", "Alex Admin", None, ""),
    ):
        issued = await bot.invite_staff(role, name, practice=practice, title=title)
        await join_with_code(bot, user, issued.code, "en")
    await bot.send(team.admin.text("/team_code"))
    code = re.search(r"[A-Z0-9]{5}-[A-Z0-9]{5}", bot.last(team.admin.chat_id).text or "")
    assert code, bot.last(team.admin.chat_id).text
    await bot.send(group_text(TEAM_GROUP, team.specialist.user_id, f"/register_team {code[0]}"))
    assert "is now the specialist team's group" in (bot.last(TEAM_GROUP).plain_text or "")
    return team


async def type_(bot: BotUnderTest, user: UserSim, text: str) -> SentMessage:
    await bot.send(user.text(text))
    return bot.last(user.chat_id)


async def tap(bot: BotUnderTest, user: UserSim, fragment: str) -> SentMessage:
    await bot.send(press(bot.fake, user, bot.last(user.chat_id), fragment))
    return bot.last(user.chat_id)


async def ask_until_question(bot: BotUnderTest, gp: UserSim) -> None:
    await type_(bot, gp, "/advice")
    await tap(bot, gp, "Foot")
    await tap(bot, gp, "Routine")
    await type_(bot, gp, NHS)
    await type_(bot, gp, "67")
    await tap(bot, gp, "Female")


def popup(bot: BotUnderTest) -> str:
    return str(bot.fake.calls_of("answerCallbackQuery")[-1].params.get("text") or "")


def card_in_group(bot: BotUnderTest) -> SentMessage:
    cards = [m for m in bot.said_to(TEAM_GROUP) if "Advice request" in (m.plain_text or "")]
    assert cards, [m.plain_text for m in bot.said_to(TEAM_GROUP)]
    return cards[-1]


async def test_a_gp_asks_with_a_photo_and_the_team_answers(bot: BotUnderTest):
    team = await set_up_team(bot)
    gp, sam = team.gp, team.specialist

    await type_(bot, gp, "/advice")
    assert "Which area" in (bot.last(gp.chat_id).plain_text or "")
    assert button_texts(bot.fake, bot.last(gp.chat_id))[:8] == [
        "Inpatient",
        "Antenatal",
        "Foot",
        "Kidney",
        "Insulin pump",
        "Type 1",
        "Type 2 medicines",
        "Other",
    ]
    urgency = await tap(bot, gp, "Foot")
    assert "on-call" in (urgency.plain_text or "") and "999" in (urgency.plain_text or "")
    await tap(bot, gp, "Routine")

    # Wrong NHS numbers are explained and asked again.
    wrong = await type_(bot, gp, "12345")
    assert "10 digits" in (wrong.plain_text or "")
    wrong = await type_(bot, gp, "943 476 5918")
    assert "not a valid NHS number" in (wrong.plain_text or "")
    assert "How old" in (await type_(bot, gp, NHS)).plain_text
    assert "number of years" in (await type_(bot, gp, "sixty")).plain_text
    await type_(bot, gp, "67")
    question = await tap(bot, gp, "Female")
    assert "Type your question" in (question.plain_text or "")

    # A hypo question from a GP is the question, not a red flag for the GP.
    short = await type_(bot, gp, "hypo?")
    assert "at least a sentence" in (short.plain_text or "")
    files = await type_(bot, gp, QUESTION)
    assert "photos or documents" in (files.plain_text or "")

    # A 40 MB scan is refused and the step asked again; a photo is kept.
    big = gp.document("scan.pdf")
    big["message"]["document"]["file_size"] = 40 * 1024 * 1024
    await bot.send(big)
    assert "larger than 20 MB" in (bot.last(gp.chat_id).plain_text or "")
    photo = gp.photo()
    photo_id = photo["message"]["photo"][-1]["file_id"]
    bot.fake.register_file(photo_id, b"\xff\xd8\xff\xe0 a foot photo")
    await bot.send(photo)
    assert "1 file added" in (bot.last(gp.chat_id).plain_text or "")

    summary = await tap(bot, gp, "Done")
    text = summary.plain_text or ""
    assert "Area: Foot" in text and "Urgency: Routine" in text
    assert "NHS number: 943 476 5919" in text and "67 years, Female" in text
    assert QUESTION in text
    assert button_texts(bot.fake, summary) == ["📨 Send", "✏️ Edit", "✖️ Cancel"]

    sent = await tap(bot, gp, "Send")
    assert "A-000001" in (sent.plain_text or "")
    assert "An answer is due by" in (sent.plain_text or "")

    # The card reaches the team's group.
    await bot.dispatch()
    card = card_in_group(bot)
    assert "A-000001" in (card.plain_text or "") and "Foot · Routine" in (card.plain_text or "")
    assert QUESTION in (card.plain_text or "")
    assert "📎 1 attachment" in (card.plain_text or "")
    assert button_texts(bot.fake, card) == ["🙋 Claim", "📎 See attachments"]

    # The GP is not a specialist: told no, nothing changes.
    await bot.send(gp.press(card, "🙋 Claim"))
    assert popup(bot) == "Only the diabetes specialist team can do that."
    async with bot.db.session() as session:
        request = await session.get(AdviceRequest, 1)
        assert request is not None and request.holder_id is None

    # Sam claims: the card shows who holds it; the whole request and the photo go to Sam.
    await bot.send(sam.press(card, "🙋 Claim"))
    assert "Claimed" in popup(bot)
    assert "Held by Sam Jones" in (card.plain_text or "")
    assert "✍️ Reply" in button_texts(bot.fake, card)
    private = [m for m in bot.said_to(sam.chat_id) if "A-000001" in (m.plain_text or "")]
    assert any("NHS number: 943 476 5919" in (m.plain_text or "") for m in private)
    photos = [c for c in bot.fake.calls_of("sendPhoto") if c.params["chat_id"] == sam.chat_id]
    assert len(photos) == 1 and photos[0].params["photo"] == photo_id

    # Sam answers from the card: the writing happens in Sam's private chat.
    await bot.send(sam.press(card, "✍️ Reply"))
    assert "privately" in popup(bot)
    assert "Type your answer for A-000001" in (bot.last(sam.chat_id).plain_text or "")
    answer = "Please refer to the foot protection team today; dress with a non-adherent dressing."
    posted = await type_(bot, sam, answer)
    assert "Sent to the GP" in (posted.plain_text or "")
    # The group never sees the answer.
    assert all(answer not in (m.plain_text or "") for m in bot.said_to(TEAM_GROUP))

    await bot.dispatch()
    to_gp = bot.last(gp.chat_id)
    assert "Sam Jones, Consultant diabetologist answered A-000001" in (to_gp.plain_text or "")
    assert answer in (to_gp.plain_text or "")

    # The GP asks a follow-up in the same thread.
    await tap(bot, gp, "Reply")
    follow_up = "Thank you. Should we stop the gliclazide while the ulcer heals?"
    assert "Sent to the specialist team" in (await type_(bot, gp, follow_up)).plain_text
    await bot.dispatch()
    to_sam = bot.last(sam.chat_id)
    assert "Dr Priya Patel (GP) replied on A-000001" in (to_sam.plain_text or "")
    assert follow_up in (to_sam.plain_text or "")

    # Sam closes with an outcome; the card says so; the GP is asked whether it helped.
    await tap(bot, sam, "Close")
    closed = await tap(bot, sam, "Referral advised")
    assert "A-000001 is closed: Referral advised" in (closed.plain_text or "")
    assert "Closed: Referral advised" in (card.plain_text or "")
    assert button_texts(bot.fake, card) == []
    await bot.dispatch()
    asked = bot.last(gp.chat_id)
    assert "Did the advice help?" in (asked.plain_text or "")
    await tap(bot, gp, "Yes")

    async with bot.db.session() as session:
        request = await session.get(AdviceRequest, 1)
        assert request is not None
        assert request.status == AdviceStatus.CLOSED and request.outcome == "referral_advised"
        assert request.helped == "yes" and request.first_answer_at is not None
        trail = (await session.exec(select(AuditEvent))).all()
    actions = {event.action for event in trail}
    assert {"advice.submit", "advice.claim", "advice.view", "advice.answer"} <= actions
    assert {"advice.gp_reply", "advice.close", "advice.rate"} <= actions
    for event in trail:  # who, what, when: never the NHS number or the words
        assert "9434765919" not in event.detail and "ulcer" not in event.detail

    # The queue is empty again; the GP sees the request and its answers.
    await bot.send(group_text(TEAM_GROUP, sam.user_id, "/queue"))
    assert "The queue is empty" in (bot.last(TEAM_GROUP).plain_text or "")
    mine = await type_(bot, gp, "/myrequests")
    assert "A-000001" in (mine.plain_text or "") and "closed" in (mine.plain_text or "")
    whole = await tap(bot, gp, "Open A-000001")
    assert answer in (whole.plain_text or "") and follow_up in (whole.plain_text or "")


async def test_only_the_holder_acts_and_release_gives_it_back(bot: BotUnderTest):
    team = await set_up_team(bot)
    other = UserSim(850_009, first_name="Kim")
    issued = await bot.invite_staff("specialist", "Kim Lee", practice=None)
    await join_with_code(bot, other, issued.code, "en")
    await ask_until_question(bot, team.gp)
    await type_(bot, team.gp, QUESTION)
    await tap(bot, team.gp, "No photos")
    await tap(bot, team.gp, "Send")
    await bot.dispatch()
    card = card_in_group(bot)

    await bot.send(team.specialist.press(card, "🙋 Claim"))
    await bot.send(other.press(card, "✍️ Reply"))
    assert popup(bot) == "Sam Jones holds this request."
    await bot.send(team.specialist.press(card, "↩️ Release"))
    assert "Nobody holds it yet" in (card.plain_text or "")
    await bot.send(other.press(card, "🙋 Claim"))
    assert "Held by Kim Lee" in (card.plain_text or "")

    await bot.send(group_text(TEAM_GROUP, team.specialist.user_id, "/queue"))
    queue = bot.last(TEAM_GROUP).plain_text or ""
    assert "A-000001" in queue and "held by Kim Lee" in queue
    # Clinical text stays out of the queue.
    assert "ulcer" not in queue

    # Someone who is not on the team cannot list the queue in the group.
    await bot.send(group_text(TEAM_GROUP, team.gp.user_id, "/queue"))
    assert "for the specialist team" in (bot.last(TEAM_GROUP).plain_text or "")


async def test_a_restart_in_the_middle_of_the_steps_loses_nothing(bot: BotUnderTest):
    team = await set_up_team(bot)
    gp = team.gp
    with time_machine.travel(local(2026, 11, 24, 16, 50), tick=False):
        await type_(bot, gp, "/advice")
        await tap(bot, gp, "Kidney")
        await tap(bot, gp, "Urgent")
        await type_(bot, gp, NHS)

    # The process restarts: a new Application on the same database.
    restarted = build_application(bot.ctx)
    async with restarted:
        again = BotUnderTest(fake=bot.fake, application=restarted, ctx=bot.ctx)
        with time_machine.travel(local(2026, 11, 25, 9, 5), tick=False):
            resumed = await type_(again, gp, "/advice")
            text = resumed.plain_text or ""
            assert "not sent yet" in text and "How old is the patient" in text
            await type_(again, gp, "71")
            await tap(again, gp, "Male")
            await type_(again, gp, "eGFR fell from 48 to 31 in three months on dapagliflozin.")
            await tap(again, gp, "No photos")
            summary = bot.last(gp.chat_id).plain_text or ""
            assert "Area: Kidney" in summary and "Urgency: Urgent" in summary
            assert "NHS number: 943 476 5919" in summary
            # Edit one field from the summary, then back to the summary.
            await tap(again, gp, "Edit")
            await tap(again, gp, "Age")
            back = await type_(again, gp, "72")
            assert "Check your request" in (back.plain_text or "")
            assert "72 years, Male" in (back.plain_text or "")
            sent = await tap(again, gp, "Send")
    # Urgent: one working day from Wednesday 09:05.
    assert "Thursday, 26 November 2026 at 09:05" in plain(sent.plain_text or "")


async def test_cancel_deletes_the_draft(bot: BotUnderTest):
    team = await set_up_team(bot)
    await ask_until_question(bot, team.gp)
    await type_(bot, team.gp, QUESTION)
    await tap(bot, team.gp, "Cancel")
    assert "Nothing was sent" in (bot.last(team.gp.chat_id).plain_text or "")
    async with bot.db.session() as session:
        request = await session.get(AdviceRequest, 1)
        assert request is not None and request.status == AdviceStatus.CANCELLED
        assert request.question is None and request.nhs_number is None
    fresh = await type_(bot, team.gp, "/advice")
    assert "Which area" in (fresh.plain_text or "") and "not sent yet" not in (
        fresh.plain_text or ""
    )


async def test_patients_and_specialists_cannot_use_advice(bot: BotUnderTest):
    team = await set_up_team(bot)
    reply = await type_(bot, team.specialist, "/advice")
    assert "for GPs and practice nurses" in (reply.plain_text or "")
    issued = await bot.register_patient(language="en")
    patient = UserSim(850_010, first_name="Irfan")
    await join_with_code(bot, patient, issued.code, "en")
    assert "for GPs and practice nurses" in (await type_(bot, patient, "/advice")).plain_text
    # A wrong team code is refused.
    await bot.send(group_text(-100_555_0002, team.specialist.user_id, "/register_team AAAAA-BBBBB"))
    assert "wrong, already used or out of date" in (bot.last(-100_555_0002).plain_text or "")


# Time ---------------------------------------------------------------------------------------


async def submit_at(bot: BotUnderTest, team: Team, moment: datetime, urgency: str) -> str:
    with time_machine.travel(moment, tick=False):
        await type_(bot, team.gp, "/advice")
        await tap(bot, team.gp, "Foot")
        await tap(bot, team.gp, urgency)
        await type_(bot, team.gp, NHS)
        await type_(bot, team.gp, "67")
        await tap(bot, team.gp, "Female")
        await type_(bot, team.gp, QUESTION)
        await tap(bot, team.gp, "No photos")
        sent = await tap(bot, team.gp, "Send")
        await bot.dispatch()
    return plain(sent.plain_text or "")


async def test_due_times_skip_the_weekend_and_the_bank_holiday(bot: BotUnderTest):
    team = await set_up_team(bot)
    # Thursday 27 August 2026, 14:00; Monday 31 August is the summer bank holiday.
    routine = await submit_at(bot, team, local(2026, 8, 27, 14), "Routine")
    assert "Tuesday, 1 September 2026 at 14:00" in routine
    # Friday 16:30, urgent: half an hour on Friday, seven and a half on Tuesday.
    urgent = await submit_at(bot, team, local(2026, 8, 28, 16, 30), "Urgent")
    assert "Tuesday, 1 September 2026 at 16:30" in urgent


async def watch(bot: BotUnderTest, moment: datetime) -> advice_line.WatchReport:
    async with bot.db.session() as session:
        report = await advice_line.watch(session, now=moment)
    with time_machine.travel(moment, tick=False):
        await bot.dispatch()
    return report


async def test_raised_at_half_time_then_breached_to_the_admins(bot: BotUnderTest):
    team = await set_up_team(bot)
    # Monday 10:00, routine: due Wednesday 10:00; half time is Tuesday 10:00.
    await submit_at(bot, team, local(2026, 11, 23, 10), "Routine")
    assert (await watch(bot, local(2026, 11, 24, 9, 59))).raised == 0
    assert (await watch(bot, local(2026, 11, 24, 10, 0))).raised == 1
    raised = bot.last(TEAM_GROUP)
    assert "A-000001 is still waiting for someone to claim it" in (raised.plain_text or "")
    assert button_texts(bot.fake, raised) == ["🙋 Claim"]
    # Raised once only.
    assert (await watch(bot, local(2026, 11, 24, 12, 0))).raised == 0

    assert (await watch(bot, local(2026, 11, 25, 9, 59))).breached == 0
    assert (await watch(bot, local(2026, 11, 25, 10, 0))).breached == 1
    breach = bot.last(team.admin.chat_id)
    assert "A-000001 is past its due time without an answer" in (breach.plain_text or "")
    async with bot.db.session() as session:
        request = await session.get(AdviceRequest, 1)
        assert request is not None and request.breached_at is not None
    await bot.send(team.specialist.text("/queue"))
    assert "⛔" in (bot.last(team.specialist.chat_id).plain_text or "")


async def test_waiting_on_the_gp_stops_the_clock(bot: BotUnderTest):
    team = await set_up_team(bot)
    sam, gp = team.specialist, team.gp
    # Monday 10:00, routine: due Wednesday 10:00.
    await submit_at(bot, team, local(2026, 11, 23, 10), "Routine")
    with time_machine.travel(local(2026, 11, 23, 11), tick=False):
        await bot.send(sam.press(card_in_group(bot), "🙋 Claim"))
        await bot.send(sam.press(card_in_group(bot), "❓ Ask the GP for more"))
        await type_(bot, sam, "What is the ABPI, and is there any spreading redness?")
        await bot.dispatch()
    asked = [m for m in bot.said_to(gp.chat_id) if "needs more information" in (m.plain_text or "")]
    assert len(asked) == 1

    # The GP answers two working days later (Wednesday 11:00): the 23 working hours the team
    # had left at Monday 11:00 count from now, so the answer is due on Friday at 10:00.
    assert (await watch(bot, local(2026, 11, 25, 10, 30))).breached == 0
    with time_machine.travel(local(2026, 11, 25, 11), tick=False):
        await bot.send(press(bot.fake, gp, asked[0], "Reply"))
        await type_(bot, gp, "ABPI 0.9, no spreading redness, no fever.")
    async with bot.db.session() as session:
        request = await session.get(AdviceRequest, 1)
        assert request is not None and request.status == AdviceStatus.CLAIMED
        assert request.due_at == local(2026, 11, 27, 10)
    assert (await watch(bot, local(2026, 11, 27, 9, 59))).breached == 0
    assert (await watch(bot, local(2026, 11, 27, 10, 0))).breached == 1


async def test_without_a_team_group_specialists_get_the_card(bot: BotUnderTest):
    sam = UserSim(850_101, first_name="Sam")
    gp = UserSim(850_102, first_name="Priya")
    for user, role, practice in ((sam, "specialist", None), (gp, "gp", "Y01234")):
        issued = await bot.invite_staff(role, f"{user.user['first_name']} Test", practice=practice)
        await join_with_code(bot, user, issued.code, "en")
    team = Team()
    team.gp = gp
    await submit_at(bot, team, local(2026, 11, 23, 10), "Routine")
    card = bot.last(sam.chat_id)
    assert "A-000001" in (card.plain_text or "") and "🙋 Claim" in button_texts(bot.fake, card)
    async with bot.db.session() as session:
        rows = (await session.exec(select(AdviceRequest).where(col(AdviceRequest.id) == 1))).all()
        assert len(rows) == 1


async def test_the_team_records_what_it_did_about_a_severe_hypo(bot: BotUnderTest):
    team = await set_up_team(bot)
    sam = team.specialist
    # Friday 19:30: the ambulance service tells us; the follow-up is due on Monday at 17:00.
    with time_machine.travel(local(2026, 11, 27, 19, 30), tick=False):
        async with bot.db.session() as session:
            callout = await hypo_hotline.record_callout(
                session,
                nhs_number_text="401 023 2137",
                occurred_at=local(2026, 11, 27, 18, 40),
                taken_to_hospital=False,
                callout_id="SWAST-1",
                source="api:ambulance",
                targets=bot.ctx.advice_targets(),
                now=local(2026, 11, 27, 19, 30),
            )
        await bot.dispatch()
    assert callout.request.due_at == local(2026, 11, 30, 17)
    cards = [m for m in bot.said_to(TEAM_GROUP) if "Severe hypo" in (m.plain_text or "")]
    assert len(cards) == 1
    card = cards[0]
    text = plain(card.plain_text or "")
    assert "H-000001" in text and "Reported by the ambulance service" in text
    assert "Not taken to hospital" in text and "Monday, 30 November 2026 at 17:00" in text
    assert "does not use diabridge" in text

    await bot.send(sam.press(card, "🙋 Claim"))
    assert button_texts(bot.fake, card)[:4] == [
        "📞 Phoned",
        "📝 Care plan changed",
        "🎓 Referred to education",
        "📵 Could not reach",
    ]
    await bot.send(sam.press(card, "📵 Could not reach"))
    async with bot.db.session() as session:
        request = await session.get(AdviceRequest, 1)
        assert request is not None and request.first_answer_at is None
    await bot.send(sam.press(card, "📞 Phoned"))
    async with bot.db.session() as session:
        request = await session.get(AdviceRequest, 1)
        assert request is not None and request.first_answer_at is not None
    await bot.send(sam.press(card, "✅ Close"))
    closed = await tap(bot, sam, "Followed up")
    assert "H-000001 is closed: Followed up" in (closed.plain_text or "")
    assert "Closed: Followed up" in (card.plain_text or "")
    await bot.send(sam.text("/queue"))
    assert "The queue is empty" in (bot.last(sam.chat_id).plain_text or "")


@pytest.mark.parametrize("language", ["hi", "ur"])
async def test_a_gp_asks_in_hindi_or_urdu_without_english(bot: BotUnderTest, language: str):
    """Staff choose their language too: every step, problem, summary and answer in theirs."""
    t = translator(language)
    sam = UserSim(850_201, first_name="Sam")
    gp = UserSim(850_202, first_name="Priya")
    for user, role, practice, lang in (
        (sam, "specialist", None, "en"),
        (gp, "gp", "Y01234", language),
    ):
        issued = await bot.invite_staff(role, f"{user.user['first_name']} Test", practice=practice)
        await join_with_code(bot, user, issued.code, lang)
    seen: list[str] = []
    with time_machine.travel(local(2026, 11, 23, 10), tick=False):
        seen.append((await type_(bot, gp, "/advice")).text or "")
        seen.append((await tap(bot, gp, t._("Foot"))).text or "")
        seen.append((await tap(bot, gp, t._("Urgent"))).text or "")
        seen.append((await type_(bot, gp, "943 476 5918")).text or "")
        seen.append((await type_(bot, gp, NHS)).text or "")
        seen.append((await type_(bot, gp, "67")).text or "")
        seen.append((await tap(bot, gp, t._("Female"))).text or "")
        seen.append((await type_(bot, gp, "?")).text or "")
        seen.append((await type_(bot, gp, QUESTION)).text or "")
        seen.append((await tap(bot, gp, t._("No photos or documents"))).text or "")
        sent = await tap(bot, gp, t._("📨 Send"))
        seen.append(sent.text or "")
        await bot.dispatch()
        card = bot.last(sam.chat_id)
        await bot.send(sam.press(card, "🙋 Claim"))
        await bot.send(sam.press(bot.last(sam.chat_id), "✍️ Reply"))
        await type_(bot, sam, "Refer to the foot protection team today.")
        await bot.dispatch()
        answer = bot.last(gp.chat_id)
        seen.append(answer.text or "")
        seen.append((await tap(bot, gp, t._("↩️ Reply"))).text or "")
        seen.append((await type_(bot, gp, "OK, referred today.")).text or "")
        seen.append((await type_(bot, gp, "/myrequests")).text or "")
    assert "A-000001" in plain(sent.text or "")
    # Urgent from Monday 10:00: due Tuesday 10:00, written the 24-hour way in every language.
    assert "10:00" in plain(sent.text or "")
    for text in seen:
        # The question and the specialist's words are the writers' own, not the bot's.
        for own in (QUESTION, "Refer to the foot protection team today.", "OK, referred today."):
            text = text.replace(own, "")
        assert_no_english(text.replace("Sam Test", "").replace("Priya Test", ""))


def callback(user: UserSim, message: SentMessage, data: str) -> dict:
    """A button press with data no current button carries (stale or forged)."""
    return {
        "update_id": 900_000 + len(data),
        "callback_query": {
            "id": f"stale-{data}",
            "from": dict(user.user),
            "message": dict(message.raw),
            "chat_instance": "1",
            "data": data,
        },
    }


async def test_a_new_request_is_not_typed_into_an_old_thread(bot: BotUnderTest):
    team = await set_up_team(bot)
    gp, sam = team.gp, team.specialist
    await submit_at(bot, team, local(2026, 11, 23, 10), "Routine")
    with time_machine.travel(local(2026, 11, 23, 11), tick=False):
        await bot.send(sam.press(card_in_group(bot), "🙋 Claim"))
        await bot.send(sam.press(card_in_group(bot), "✍️ Reply"))
        await type_(bot, sam, "Refer to the foot protection team today.")
        await bot.dispatch()
        # The GP starts a reply, changes their mind, and asks something new instead.
        answer = [m for m in bot.said_to(gp.chat_id) if "answered A-000001" in (m.plain_text or "")]
        await bot.send(press(bot.fake, gp, answer[0], "Reply"))
        await type_(bot, gp, "/advice")
        await tap(bot, gp, "Kidney")
        await tap(bot, gp, "Routine")
        age = await type_(bot, gp, NHS)
    assert "How old is the patient" in (age.plain_text or "")
    async with bot.db.session() as session:
        turns = await advice_line.thread(session, 1)
    assert [turn.kind for turn in turns] == ["reply"]


async def test_stale_or_forged_buttons_change_nothing(bot: BotUnderTest):
    team = await set_up_team(bot)
    await submit_at(bot, team, local(2026, 11, 23, 10), "Routine")
    card = card_in_group(bot)
    for data in ("adv:claim:x", "adv:w:1", "adv:d", "adv:h:1:phoned", "adv:rate:1:maybe"):
        await bot.send(callback(team.specialist, card, data))
        assert popup(bot) == "There is no such request.", data
    # Closing what nobody holds says how, and closes nothing.
    await bot.send(callback(team.specialist, card, "adv:outcome:1:advice_given"))
    assert popup(bot) == "Nobody holds this request yet: claim it first."
    async with bot.db.session() as session:
        request = await session.get(AdviceRequest, 1)
        assert request is not None and request.status == AdviceStatus.OPEN
        assert request.holder_id is None


async def test_a_card_the_bot_can_no_longer_edit_does_not_cost_the_presser_their_account(
    bot: BotUnderTest,
):
    team = await set_up_team(bot)
    sam = team.specialist
    await submit_at(bot, team, local(2026, 11, 23, 10), "Routine")
    card = card_in_group(bot)
    # The bot is removed from the team's group after the card went out: edits answer 403.
    bot.fake.block_chat(TEAM_GROUP)
    await bot.send(sam.press(card, "🙋 Claim"))
    whole = [m for m in bot.said_to(sam.chat_id) if "NHS number" in (m.plain_text or "")]
    assert whole, "the specialist did not get the whole request"
    async with bot.db.session() as session:
        person = await account.person_for_telegram(session, sam.user_id)
        assert person is not None and person.status == "active"
