"""Who may do what, checked in one place (principle 7)."""

from __future__ import annotations

from enum import StrEnum

from bot.models import Role


class Permission(StrEnum):
    VIEW_OUTBOX = "view_outbox"


GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.VIEW_OUTBOX: frozenset({Role.ADMIN, Role.SPECIALIST, Role.GP, Role.NURSE}),
}


def allowed(role: Role, permission: Permission) -> bool:
    return role in GRANTS[permission]
