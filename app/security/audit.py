"""The audit trail: who did, or tried to do, what privileged thing, where and when.

Rows are written in the caller's transaction, so a change and its audit record commit or vanish
together. The table is append-only: this module offers no update or delete, and the migration
adds database triggers that refuse UPDATE and DELETE, so not even a stray SQL statement can
rewrite history. Snapshots are stored masked: personal data and secrets never reach the trail.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Enum, Index, Select, String, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId
from app.pagination import KeysetOrder
from app.security.masking import mask, personal_kind

__all__ = [
    "ANONYMOUS",
    "AUDIT_ORDER",
    "AuditEvent",
    "AuditFilter",
    "AuditRecord",
    "Outcome",
    "audit_query",
    "jsonable",
    "mask_snapshot",
    "record",
]

ANONYMOUS = "anonymous"
REDACTED = "***"
USER_AGENT_LENGTH = 255

# Keys whose values are personal data or secrets, wherever they sit in a snapshot.
_SENSITIVE_KEY = re.compile(r"email|phone|street|address|password|secret|token", re.IGNORECASE)


class Outcome(enum.StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_occurred_at", "occurred_at", "id"),
        Index("ix_audit_events_domain_occurred_at", "domain", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(160))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    domain: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[Outcome] = mapped_column(Enum(Outcome, native_enum=False, length=8))
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(128))
    before: Mapped[Any | None] = mapped_column(JSON)
    after: Mapped[Any | None] = mapped_column(JSON)
    request_id: Mapped[str] = mapped_column(String(64), default="")
    client_ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_LENGTH))


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One event as the caller describes it; ``record`` masks and stores it."""

    occurred_at: datetime
    actor: str
    domain: str
    action: str
    outcome: Outcome
    roles: Sequence[str] = ()
    target_type: str | None = None
    target_id: str | None = None
    before: Any = None
    after: Any = None
    request_id: str = ""
    client_ip: str | None = None
    user_agent: str | None = None


async def record(session: AsyncSession, event: AuditRecord) -> AuditEvent:
    """Add ``event`` to the caller's transaction; it commits or rolls back with the change.

    Flushed at once, so a record that cannot be written fails the caller's work here rather
    than at commit, and never lets the change through alone.
    """
    row = AuditEvent(
        occurred_at=event.occurred_at,
        actor=event.actor,
        roles=sorted(set(event.roles)),
        domain=event.domain,
        action=event.action,
        outcome=event.outcome,
        target_type=event.target_type,
        target_id=event.target_id,
        before=mask_snapshot(jsonable(event.before)),
        after=mask_snapshot(jsonable(event.after)),
        request_id=event.request_id[:64],
        client_ip=event.client_ip,
        user_agent=event.user_agent[:USER_AGENT_LENGTH] if event.user_agent else None,
    )
    session.add(row)
    await session.flush()
    return row


def mask_snapshot(value: Any) -> Any:
    """``value`` with personal data masked and secrets redacted, at any depth.

    A string under a personal-data key takes the canonical mask (``a***@example.com``); anything
    else under a key that merely mentions personal data or a secret (``sealed_email``,
    ``client_secret``, ``password_hash``) becomes ``***``. A null stays null, so that "the phone
    was cleared" is still visible without showing it.
    """
    if isinstance(value, Mapping):
        return {key: _masked(str(key), item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_snapshot(item) for item in value]
    return value


def _masked(key: str, value: Any) -> Any:
    if value is None:
        return None
    kind = personal_kind(key)
    if kind is not None and isinstance(value, str):
        return mask(kind, value)
    if kind is not None or _SENSITIVE_KEY.search(key):
        return REDACTED
    return mask_snapshot(value)


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of a snapshot: mapped rows, dataclasses, enums, times and containers.

    A mapped row gives its loaded column values only, so a snapshot never triggers lazy I/O
    (which an async session could not do implicitly anyway).
    """
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    fields = _fields_of(value)
    if fields is not None:
        return {key: jsonable(item) for key, item in fields.items()}
    return _scalar(value)


def _fields_of(value: Any) -> dict[str, Any] | None:
    state = inspect(value, raiseerr=False)
    if state is not None and hasattr(state, "mapper"):
        loaded = state.dict
        return {a.key: loaded[a.key] for a in state.mapper.column_attrs if a.key in loaded}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return None


def _scalar(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)  # Decimal, UUID and the like: their exact text


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


AUDIT_ORDER = KeysetOrder("occurred_at", AuditEvent.occurred_at, AuditEvent.id, True, _parse_time)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Every field narrows the result; unset fields match everything."""

    actor: str | None = None
    action: str | None = None
    domain: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    outcome: Outcome | None = None


_EXACT_MATCHES = ("actor", "action", "domain", "target_type", "target_id", "outcome")


def audit_query(spec: AuditFilter) -> Select[Any]:
    """The events ``spec`` selects; ``occurred_from`` is inclusive, ``occurred_to`` exclusive."""
    query = select(AuditEvent)
    for name in _EXACT_MATCHES:
        wanted = getattr(spec, name)
        if wanted is not None:
            query = query.where(getattr(AuditEvent, name) == wanted)
    if spec.occurred_from is not None:
        query = query.where(AuditEvent.occurred_at >= spec.occurred_from)
    if spec.occurred_to is not None:
        query = query.where(AuditEvent.occurred_at < spec.occurred_to)
    return query
