"""Writing the audit trail from the GraphQL layer: who, with which roles, from where.

A privileged mutation declares one ``Audit`` beside its work; ``schema.transactions.write``
records it in the work's own transaction, so the change and its record commit together. A
denied attempt is recorded by the permission class in a short transaction of its own.

If a record cannot be written, the request fails (``INTERNAL``): a change is never committed,
and a refusal never answered, without its record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from strawberry.types import Info

from app.security.audit import ANONYMOUS, AuditRecord, Outcome, jsonable, record
from app.security.rbac import PLATFORM, partner_domain, shop_domain
from schema.node import encode_id, parse_id

__all__ = [
    "Audit",
    "Snapshotter",
    "change_recorder",
    "child_rows_state",
    "record_change",
    "record_denial",
    "row_state",
]

T = TypeVar("T")
Snapshotter = Callable[[AsyncSession, int], Awaitable[Any]]


def _key_of_global_id(result: Any) -> int:
    parsed = parse_id(str(result.id))
    if parsed is None:
        raise ValueError(f"the audited result has no global ID: {result!r}")
    return parsed[1]


@dataclass(frozen=True, slots=True)
class Audit(Generic[T]):
    """How a privileged mutation appears in the audit trail.

    ``state`` reads the target's state by key inside the transaction: before the work when
    ``before`` names the target up front (updates, deletes), and after it from the work's result
    (``target`` finds the key there; by default it decodes the result's global ``id``). The
    action defaults to the GraphQL field name and the domain to the request's shop.
    """

    target_type: str
    state: Snapshotter | None = None
    target: Callable[[T], int] = _key_of_global_id
    before: Callable[[], int] | None = None
    domain: Literal["shop", "platform", "partner"] = "shop"
    action: str | None = None

    async def state_before(self, session: AsyncSession) -> Any:
        if self.before is None or self.state is None:
            return None
        return await self.state(session, self.before())


def row_state(model: type[Any]) -> Snapshotter:
    """The target's own row, re-read so that bulk SQL updates in the work are seen."""

    async def read(session: AsyncSession, key: int) -> Any:
        return jsonable(await session.get(model, key, populate_existing=True))

    return read


def child_rows_state(
    parent_key: InstrumentedAttribute[Any], order_by: InstrumentedAttribute[Any]
) -> Snapshotter:
    """Rows that belong to the target (a product's variants), in a stable order."""

    async def read(session: AsyncSession, key: int) -> Any:
        rows = await session.scalars(
            select(parent_key.class_)
            .where(parent_key == key)
            .order_by(order_by)
            .execution_options(populate_existing=True)
        )
        return [jsonable(row) for row in rows]

    return read


def _domain(info: Info, kind: Literal["shop", "platform", "partner"]) -> str:
    if kind == "partner":  # found by the field's permission check
        return partner_domain(info.context.partner_id or 0)
    return PLATFORM if kind == "platform" else shop_domain(info.context.require_shop().id)


async def _record(
    info: Info, session: AsyncSession, domain: str, outcome: Outcome, **details: Any
) -> None:
    context = info.context
    principal = context.principal
    roles = [a.role for a in await context.assignments() if a.domain == domain]
    client = getattr(context.request, "client", None)
    await record(
        session,
        AuditRecord(
            occurred_at=context.now(),
            actor=principal.subject if principal else ANONYMOUS,
            roles=roles,
            domain=domain,
            outcome=outcome,
            request_id=context.request_id,
            client_ip=client.host if client else None,
            user_agent=context.request.headers.get("user-agent"),
            **details,
        ),
    )


async def record_change(
    info: Info, session: AsyncSession, audit: Audit[T], result: T, before: Any
) -> None:
    """Record an allowed change inside the transaction that makes it."""
    key = audit.target(result)
    after = await audit.state(session, key) if audit.state is not None else None
    await _record(
        info,
        session,
        _domain(info, audit.domain),
        Outcome.ALLOWED,
        action=audit.action or info.field_name,
        target_type=audit.target_type,
        target_id=str(encode_id(audit.target_type, key)),
        before=before,
        after=after,
    )


def change_recorder(info: Info, audit: Audit[T]) -> Callable[[AsyncSession, T], Awaitable[None]]:
    """``record_change`` as a hook, for domain services that run their own transaction."""

    async def hook(session: AsyncSession, result: T) -> None:
        await record_change(info, session, audit, result, None)

    return hook


async def record_denial(info: Info, domain: str) -> None:
    """Record a refused privileged attempt, in a transaction of its own (nothing else changed)."""
    async with info.context.db.writer() as session, session.begin():
        await _record(info, session, domain, Outcome.DENIED, action=info.field_name)
