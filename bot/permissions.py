"""Who may do what, checked in one place (principle 7)."""

from __future__ import annotations

from enum import StrEnum

from bot.models import Role


class Permission(StrEnum):
    VIEW_OUTBOX = "view_outbox"
    # /careplan: a GP or practice nurse for their own practice's patients, the specialist team
    # and admins for any (bot.services.care_plan_form.patient_for).
    RECORD_CARE_PLAN = "record_care_plan"


GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.VIEW_OUTBOX: frozenset({Role.ADMIN, Role.SPECIALIST, Role.GP, Role.NURSE}),
    Permission.RECORD_CARE_PLAN: frozenset({Role.ADMIN, Role.SPECIALIST, Role.GP, Role.NURSE}),
}


def allowed(role: Role, permission: Permission) -> bool:
    return role in GRANTS[permission]
