"""Reminder plans as data (principle 4), read from `content/plans.yaml`.

Like RapidPro's campaign events: each row is a signed offset from the appointment's start, a
unit, an optional local delivery time, the template, and the buttons. A plan file with a mistake
is refused with its line and the reason, so a typo never silently stops reminders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.settings import REPO_ROOT

DEFAULT_PLANS_FILE = REPO_ROOT / "content" / "plans.yaml"


class AppointmentKind(StrEnum):
    ANNUAL_REVIEW = "annual_review"
    DIABETES_CLINIC = "diabetes_clinic"
    TRANSITION_CLINIC = "transition_clinic"
    FOOT_CLINIC = "foot_clinic"
    EYE_SCREENING = "eye_screening"
    ANTENATAL = "antenatal"
    DIETITIAN = "dietitian"
    EDUCATION_SESSION = "education_session"
    HEALTH_CHECK = "health_check"


class ReminderButton(StrEnum):
    ATTEND = "attend"
    CHANGE = "change"
    CANT_COME = "cant_come"


# The templates a plan row may name; each is rendered at send time (bot/templates.py).
REMINDER_TEMPLATES = frozenset(
    {
        "appointment_reminder",
        "young_appointment_reminder",
        "health_check_invitation",
        "health_check_reminder",
    }
)

# Getting ready for an annual review (Year of Care), planned by bot/services/pre_review.py.
PREPARATION_TEMPLATES = frozenset(
    {"pre_review_results", "pre_review_agenda_nudge", "pre_review_summary"}
)

Unit = Literal["minutes", "hours", "days", "weeks"]


def time_of_day(value: Any) -> Any:
    """A plan's "at": "10:00", or what YAML 1.1 made of an unquoted 10:00 (600, minutes)."""
    if isinstance(value, int) and not isinstance(value, bool):
        hours, minutes = divmod(value, 60)
        return time(hours, minutes) if hours < 24 else value
    if isinstance(value, str):
        try:
            hours, minutes = (int(part) for part in value.split(":"))
            return time(hours, minutes)
        except ValueError:
            raise ValueError(f"{value!r} is not a time of day like 10:00") from None
    return value


class PlanEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    offset: int = Field(description="signed: -7 is seven units before the appointment")
    unit: Unit
    at: time | None = Field(None, description="local delivery time, for days and weeks")
    template: str
    buttons: tuple[ReminderButton, ...] = ()
    calendar: bool = Field(False, description="attach an .ics file")

    templates: ClassVar[frozenset[str]] = REMINDER_TEMPLATES

    @field_validator("at", mode="before")
    @classmethod
    def _parse_at(cls, value: Any) -> Any:
        return time_of_day(value)

    @field_validator("template")
    @classmethod
    def _known_template(cls, value: str) -> str:
        if value not in cls.templates:
            known = ", ".join(sorted(cls.templates))
            raise ValueError(f"unknown template {value!r}; use one of {known}")
        return value

    @model_validator(mode="after")
    def _at_only_for_whole_days(self) -> PlanEvent:
        if self.at is not None and self.unit in ("minutes", "hours"):
            raise ValueError(
                f"'at' fixes a time of day, so it only goes with days or weeks, not {self.unit}"
            )
        return self

    @property
    def key(self) -> str:
        """Stable across edits of other rows: part of each planned message's dedupe key."""
        return f"{self.offset:+d}{self.unit[0]}"

    def send_time(self, starts_at: datetime, zone: tzinfo) -> datetime:
        """When to send, in UTC. Whole-day offsets count local calendar days, so a reminder
        "7 days before at 10:00" is at 10:00 local time on both sides of a clock change."""
        if self.unit in ("minutes", "hours"):
            return starts_at + timedelta(**{self.unit: self.offset})
        local = starts_at.astimezone(zone)
        days = self.offset * (7 if self.unit == "weeks" else 1)
        day = local.date() + timedelta(days=days)
        at = self.at or local.time().replace(tzinfo=None)
        return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


class PreparationEvent(PlanEvent):
    """A step of getting ready for an annual review, like RapidPro's `relative_to`: counted
    from the review's start, or from the day the results were sent (the agenda nudge)."""

    templates: ClassVar[frozenset[str]] = PREPARATION_TEMPLATES

    relative_to: Literal["review", "results"] = "review"

    @model_validator(mode="after")
    def _nudge_after_results(self) -> PreparationEvent:
        if self.template == "pre_review_agenda_nudge" and self.relative_to != "results":
            raise ValueError("the agenda nudge is counted from the results: relative_to: results")
        if self.relative_to == "results" and self.offset <= 0:
            raise ValueError("a step counted from the results must come after them (offset > 0)")
        return self


class GoalCheckInPlan(BaseModel):
    """How often each goal of a care plan is checked in on, until the next review."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: int = Field(ge=1, le=52)
    unit: Literal["days", "weeks"]
    at: time

    @field_validator("at", mode="before")
    @classmethod
    def _parse_at(cls, value: Any) -> Any:
        return time_of_day(value)

    @property
    def interval(self) -> timedelta:
        return timedelta(days=self.every * (7 if self.unit == "weeks" else 1))


DEFAULT_GOAL_CHECK_INS = GoalCheckInPlan(every=4, unit="weeks", at=time(18, 0))


class PlanFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appointments: dict[AppointmentKind, tuple[PlanEvent, ...]]
    # Relative to the day a person is invited: offset 0 is the invitation itself.
    health_check_invitations: tuple[PlanEvent, ...]
    annual_review_preparation: tuple[PreparationEvent, ...] = ()
    goal_check_ins: GoalCheckInPlan = DEFAULT_GOAL_CHECK_INS

    @model_validator(mode="after")
    def _each_preparation_step_once(self) -> PlanFile:
        seen = [event.template for event in self.annual_review_preparation]
        twice = sorted({template for template in seen if seen.count(template) > 1})
        if twice:
            raise ValueError("annual_review_preparation: " + ", ".join(twice) + " more than once")
        return self

    @model_validator(mode="after")
    def _every_kind_planned_once(self) -> PlanFile:
        missing = [kind.value for kind in AppointmentKind if kind not in self.appointments]
        if missing:
            raise ValueError(
                "no plan for " + ", ".join(missing) + " (write `[]` for a kind with no reminders)"
            )
        return self


@dataclass(frozen=True)
class Plans:
    source: Path
    appointments: dict[AppointmentKind, tuple[PlanEvent, ...]]
    health_check_invitations: tuple[PlanEvent, ...] = ()
    annual_review_preparation: tuple[PreparationEvent, ...] = ()
    goal_check_ins: GoalCheckInPlan = DEFAULT_GOAL_CHECK_INS

    def preparation(self, template: str) -> PreparationEvent | None:
        """The preparation step that sends `template`, or None when the plan leaves it out."""
        return next((e for e in self.annual_review_preparation if e.template == template), None)

    def for_kind(self, kind: str) -> tuple[PlanEvent, ...]:
        return self.appointments.get(AppointmentKind(kind), ())


class PlanFileError(ValueError):
    def __init__(self, source: Path, line: int | None, reason: str) -> None:
        where = f"{source}, line {line}" if line else str(source)
        super().__init__(f"{where}: {reason}")
        self.source, self.line, self.reason = source, line, reason


def _lines(node: yaml.Node, path: tuple[Any, ...], into: dict[tuple[Any, ...], int]) -> None:
    into[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _lines(value, (*path, key.value), into)
            # An error about a key points at the key's line, not its value's.
            into[(*path, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), into)


def _line_of(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    path = tuple(str(part) if not isinstance(part, int) else part for part in loc)
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def load_plans(source: Path | str | None = None) -> Plans:
    path = Path(source) if source else DEFAULT_PLANS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PlanFileError(path, None, f"cannot read the plan file ({error.strerror})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else None
        raise PlanFileError(path, line, f"not valid YAML: {error.problem}") from None
    if node is None or not isinstance(raw, dict):
        raise PlanFileError(path, 1, "the file must be a mapping with an `appointments:` section")
    lines: dict[tuple[Any, ...], int] = {}
    _lines(node, (), lines)
    try:
        parsed = PlanFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        reason = first["msg"].removeprefix("Value error, ")
        raise PlanFileError(
            path, _line_of(first["loc"], lines), f"{where}: {reason}" if where else reason
        ) from None
    sections: list[tuple[tuple[str, ...], tuple[PlanEvent, ...]]] = [
        (("appointments", kind.value), events) for kind, events in parsed.appointments.items()
    ]
    sections.append((("health_check_invitations",), parsed.health_check_invitations))
    for where, events in sections:
        seen: set[str] = set()
        for index, event in enumerate(events):
            if event.key in seen:
                raise PlanFileError(
                    path,
                    _line_of((*where, index), lines),
                    f"{'.'.join(where)}.{index}: two reminders at {event.offset} {event.unit}",
                )
            seen.add(event.key)
    return Plans(
        source=path,
        appointments=dict(parsed.appointments),
        health_check_invitations=parsed.health_check_invitations,
        annual_review_preparation=parsed.annual_review_preparation,
        goal_check_ins=parsed.goal_check_ins,
    )
