"""Reminder plans are data: the shipped file is complete, and a mistake is refused with its line."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.plans import AppointmentKind, PlanFileError, load_plans

LONDON = ZoneInfo("Europe/London")
GOOD_ROW = "{offset: -7, unit: days, at: '10:00', template: appointment_reminder}"


def plan_file(tmp_path: Path, annual_review_rows: str, *, other_kinds: bool = True) -> Path:
    lines = ["appointments:", "  annual_review:", annual_review_rows]
    if other_kinds:
        lines += [
            f"  {kind.value}: []" for kind in AppointmentKind if kind.value != "annual_review"
        ]
    lines.append("health_check_invitations: []")
    path = tmp_path / "plans.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_shipped_plans_cover_every_kind_with_the_agreed_defaults():
    plans = load_plans()
    assert set(plans.appointments) == set(AppointmentKind)
    review = plans.for_kind("annual_review")
    assert [(e.offset, e.unit, e.at) for e in review] == [
        (-7, "days", time(10, 0)),
        (-1, "days", time(18, 0)),
        (-2, "hours", None),
    ]
    assert review[0].calendar and not review[1].calendar
    assert [e.template for e in plans.for_kind("transition_clinic")] == [
        "young_appointment_reminder"
    ] * 3


@pytest.mark.parametrize(
    ("row", "line", "reason"),
    [
        (
            "    - {offset: -7, unit: fortnights, template: appointment_reminder}",
            3,
            "unit: Input should be 'minutes', 'hours', 'days' or 'weeks'",
        ),
        (
            "    - {offset: -2, unit: hours, at: '10:00', template: appointment_reminder}",
            3,
            "'at' fixes a time of day, so it only goes with days or weeks",
        ),
        (
            "    - {offset: -7, unit: days, template: appointment_reminder_v2}",
            3,
            "unknown template 'appointment_reminder_v2'",
        ),
        (
            "    - {offset: -7, unit: days, at: '25:00', template: appointment_reminder}",
            3,
            "'25:00' is not a time of day",
        ),
        (
            "    - {offset: -7, unit: days, template: appointment_reminder, buttons: [maybe]}",
            3,
            "buttons.0",
        ),
        (f"    - {GOOD_ROW}\n    - {GOOD_ROW}", 4, "two reminders at -7 days"),
        ("    - {offset: -7, unit: days, template: appointment_reminder", 4, "not valid YAML"),
    ],
)
def test_a_plan_with_a_mistake_is_refused_with_its_line(tmp_path, row, line, reason):
    with pytest.raises(PlanFileError) as refused:
        load_plans(plan_file(tmp_path, row))
    assert refused.value.line == line
    assert reason in str(refused.value)
    assert str(refused.value).startswith(f"{tmp_path / 'plans.yaml'}, line {line}: ")


def test_a_kind_left_out_is_refused_rather_than_silently_unreminded(tmp_path):
    with pytest.raises(PlanFileError) as refused:
        load_plans(plan_file(tmp_path, f"    - {GOOD_ROW}", other_kinds=False))
    assert "no plan for diabetes_clinic" in str(refused.value)
    assert "write `[]`" in str(refused.value)


def test_an_unquoted_time_of_day_is_read_as_a_time(tmp_path):
    # YAML 1.1 reads 10:00 as the sexagesimal number 600.
    row = "    - {offset: -1, unit: days, at: 18:30, template: appointment_reminder}"
    [event] = load_plans(plan_file(tmp_path, row)).for_kind("annual_review")
    assert event.at == time(18, 30)


def test_whole_day_offsets_count_local_days_across_the_spring_clock_change():
    [week_before, evening_before, two_hours] = load_plans().for_kind("annual_review")
    # Clocks go forward on 29 March 2026: the appointment is in BST, a week before is GMT.
    starts_at = datetime(2026, 3, 31, 9, 30, tzinfo=LONDON)
    assert week_before.send_time(starts_at, LONDON) == datetime(2026, 3, 24, 10, 0, tzinfo=UTC)
    assert evening_before.send_time(starts_at, LONDON) == datetime(2026, 3, 30, 17, 0, tzinfo=UTC)
    assert two_hours.send_time(starts_at, LONDON) == datetime(2026, 3, 31, 6, 30, tzinfo=UTC)


def test_diabridge_run_refuses_to_start_with_a_broken_plan(tmp_path, monkeypatch, capsys):
    broken = plan_file(tmp_path, "    - {offset: -7, unit: fortnights, template: x}")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST")
    monkeypatch.setenv("DIABRIDGE_PLANS_FILE", str(broken))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert main(["run"]) == 2
    assert f"{broken}, line 3" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()


def test_health_check_invitations_are_planned_from_the_day_of_invitation():
    invitation, *reminders = load_plans().health_check_invitations
    assert (invitation.offset, invitation.template) == (0, "health_check_invitation")
    assert [(r.offset, r.unit, r.at) for r in reminders] == [
        (14, "days", time(10, 0)),
        (28, "days", time(10, 0)),
    ]


def test_plans_check_lists_the_reminders(capsys):
    assert main(["plans", "check"]) == 0
    out = capsys.readouterr().out
    assert "annual_review: -7 days at 10:00, -1 days at 18:00, -2 hours" in out
    assert "eye_screening: -14 days at 10:00" in out


def test_the_shipped_plans_prepare_the_annual_review_as_the_issue_asks():
    plans = load_plans()
    results = plans.preparation("pre_review_results")
    nudge = plans.preparation("pre_review_agenda_nudge")
    summary = plans.preparation("pre_review_summary")
    assert results and (results.relative_to, results.offset, results.unit) == (
        "review",
        -14,
        "days",
    )
    assert nudge and (nudge.relative_to, nudge.offset, nudge.unit) == ("results", 3, "days")
    assert summary and (summary.relative_to, summary.offset, summary.unit) == ("review", -2, "days")
    assert (plans.goal_check_ins.every, plans.goal_check_ins.unit) == (4, "weeks")
    assert plans.goal_check_ins.at == time(18, 0)
    review = datetime(2027, 3, 30, 9, 30, tzinfo=UTC)  # 10:30 BST, after the clocks go forward
    assert results.send_time(review, LONDON) == datetime(2027, 3, 16, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("section", "reason"),
    [
        (
            "annual_review_preparation:\n"
            "  - {offset: 3, unit: days, template: pre_review_agenda_nudge}",
            "the agenda nudge is counted from the results: relative_to: results",
        ),
        (
            "annual_review_preparation:\n"
            "  - {relative_to: results, offset: -1, unit: days, template: pre_review_summary}",
            "a step counted from the results must come after them",
        ),
        (
            "annual_review_preparation:\n"
            "  - {offset: -14, unit: days, template: appointment_reminder}",
            "unknown template 'appointment_reminder'",
        ),
        (
            "annual_review_preparation:\n"
            "  - {offset: -14, unit: days, template: pre_review_results}\n"
            "  - {offset: -10, unit: days, template: pre_review_results}",
            "pre_review_results more than once",
        ),
        ("goal_check_ins: {every: 0, unit: weeks, at: '18:00'}", "greater than or equal to 1"),
        ("goal_check_ins: {every: 4, unit: months, at: '18:00'}", "Input should be 'days' or"),
    ],
)
def test_a_mistake_in_the_review_preparation_is_refused(tmp_path, section, reason):
    path = plan_file(tmp_path, "    - " + GOOD_ROW.strip())
    path.write_text(path.read_text(encoding="utf-8") + section + "\n", encoding="utf-8")
    with pytest.raises(PlanFileError) as refused:
        load_plans(path)
    assert reason in str(refused.value)


def test_without_a_preparation_section_nothing_is_prepared(tmp_path):
    plans = load_plans(plan_file(tmp_path, "    - " + GOOD_ROW.strip()))
    assert plans.preparation("pre_review_results") is None
    assert plans.goal_check_ins.every == 4  # the default still checks in on goals
