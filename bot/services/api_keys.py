"""Bearer keys for the integration API: a practice system or hospital PAS sends patients and
appointments with one, a council's public health team its NHS Health Check cohorts.

A key is printed once, when it is made; only its SHA-256 hash is kept. A plain (fast) hash is
enough here, unlike for a password: the key is 32 random bytes, so there is nothing to guess
from a leaked hash. Each key has a name, which is how the audit trail names whatever the key
did (`api:<name>`), and scopes, which say what it may touch.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import ApiKey
from bot.services import audit
from bot.services.enrolment import InvalidField

KEY_PREFIX = "dbk_"
PATIENTS = "patients"
APPOINTMENTS = "appointments"
# NHS Health Check cohorts: often sent by a council's public health team rather than the
# practice, so a key of its own, which touches no diabetes patient's record.
HEALTH_CHECKS = "health-checks"
# The ambulance service tells the hypo hotline of a severe hypo: a key of its own, which can
# only add call-outs.
HYPO_CALLOUTS = "hypo-callouts"
# Education campaigns: one topic sent to a whole cohort; not given by default.
CAMPAIGNS = "campaigns"
# The advice line's requests and hypo follow-ups with their times and states, for a service
# manager's reporting (never the question or the NHS number); not given by default.
ADVICE_LINE = "advice-line"
# Results of the nine care processes in, the pre-review summary and the care plan in and out:
# clinical values and a person's own words, so only for a key that asks for it.
CARE_PLANNING = "care-planning"
SCOPES = (
    PATIENTS,
    APPOINTMENTS,
    HEALTH_CHECKS,
    HYPO_CALLOUTS,
    CAMPAIGNS,
    ADVICE_LINE,
    CARE_PLANNING,
)
DEFAULT_SCOPES = (PATIENTS, APPOINTMENTS)
# "api:" + the name must fit the 100 characters of an audit or appointment-event actor.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")
# Marking every request would make every call a write on one row (a hot row under PostgreSQL
# with many workers); to the minute is enough to tell a key in use from a forgotten one.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class IssuedKey:
    name: str
    key: str  # shown once, never stored
    scopes: tuple[str, ...]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.strip().encode()).hexdigest()


def actor(key: ApiKey) -> str:
    """How the audit trail names what a key did."""
    return f"api:{key.name}"


def check_scopes(scopes: Iterable[str] | None) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(scopes or DEFAULT_SCOPES))
    unknown = [scope for scope in chosen if scope not in SCOPES]
    if unknown:
        raise InvalidField(
            "--scope", f"{', '.join(unknown)} is not a scope; use {', '.join(SCOPES)}"
        )
    return chosen


async def by_name(session: AsyncSession, name: str) -> ApiKey | None:
    return (await session.exec(select(ApiKey).where(col(ApiKey.name) == name))).one_or_none()


async def create(
    session: AsyncSession,
    name: str,
    *,
    scopes: Iterable[str] | None = None,
    now: datetime,
    actor: str,
) -> IssuedKey:
    if not NAME_PATTERN.match(name):
        raise InvalidField(
            "NAME",
            "use up to 60 letters, digits, dots, dashes or underscores, e.g. emis-y01234",
        )
    chosen = check_scopes(scopes)
    # A name stays with its key for good, revoked or not, so `api:<name>` in the audit trail
    # always means one key.
    if await by_name(session, name) is not None:
        raise InvalidField("NAME", f"a key named {name!r} exists already; choose another name")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, key_hash=hash_key(key), scopes=list(chosen), created_at=now))
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="api_key.create",
        detail=f"name={name} scopes={','.join(chosen)}",
        at=now,
    )
    return IssuedKey(name=name, key=key, scopes=chosen)


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.exec(select(ApiKey).order_by(col(ApiKey.name)))).all())


async def revoke(session: AsyncSession, name: str, *, now: datetime, actor: str) -> ApiKey:
    """Stops a key at once; it is kept (revoked) so the audit trail's name stays meaningful."""
    key = await by_name(session, name)
    if key is None:
        raise NotFound(f"no API key named {name!r}")
    if key.revoked_at is None:
        key.revoked_at = now
        await audit.record(
            session, actor=actor, action="api_key.revoke", detail=f"name={name}", at=now
        )
    return key


async def authenticate(session: AsyncSession, presented: str, *, now: datetime) -> ApiKey | None:
    """The live key with this value, or None for a wrong or revoked one."""
    if not presented.startswith(KEY_PREFIX):
        return None
    key = (
        await session.exec(select(ApiKey).where(col(ApiKey.key_hash) == hash_key(presented)))
    ).one_or_none()
    if key is None or key.revoked_at is not None:
        return None
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
    return key
