"""Reading the audit trail: ``auditEvents``, for ops and community admins on the platform.

The trail is read newest first in keyset pages; a page is one statement whatever its size.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.pagination import fetch_page
from app.security import audit
from schema.inputs import aware_filter_time
from schema.node import encode_id
from schema.pagination import Connection, connection, page_request
from schema.permissions import requires

__all__ = ["AuditEvent", "AuditEventFilter", "AuditQuery"]

AuditOutcome = strawberry.enum(audit.Outcome, name="AuditOutcome")


@strawberry.type(description="One privileged change, or one refused privileged attempt.")
class AuditEvent:
    id: strawberry.ID
    occurred_at: datetime
    actor: str = strawberry.field(description='The subject, e.g. "user:7", or "anonymous".')
    roles: list[str] = strawberry.field(description="The actor's roles in the domain, then.")
    domain: str = strawberry.field(description='"platform", "shop:<id>" or "partner:<id>".')
    action: str = strawberry.field(description="The GraphQL field, e.g. productCreate.")
    outcome: AuditOutcome  # type: ignore[valid-type]
    target_type: str | None
    target_id: strawberry.ID | None
    before: JSON | None = strawberry.field(description="The target's state before; masked.")
    after: JSON | None = strawberry.field(description="The target's state after; masked.")
    request_id: str
    client_ip: str | None
    user_agent: str | None

    @classmethod
    def of(cls, row: audit.AuditEvent) -> AuditEvent:
        return cls(
            id=encode_id("AuditEvent", row.id),
            occurred_at=row.occurred_at,
            actor=row.actor,
            roles=list(row.roles),
            domain=row.domain,
            action=row.action,
            outcome=row.outcome,
            target_type=row.target_type,
            target_id=strawberry.ID(row.target_id) if row.target_id is not None else None,
            before=row.before,
            after=row.after,
            request_id=row.request_id,
            client_ip=row.client_ip,
            user_agent=row.user_agent,
        )


@strawberry.input(description="Every field narrows the result; occurredTo is exclusive.")
class AuditEventFilter:
    actor: str | None = None
    action: str | None = None
    domain: str | None = None
    target_type: str | None = None
    target_id: strawberry.ID | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    outcome: AuditOutcome | None = None  # type: ignore[valid-type]

    def to_filter(self) -> audit.AuditFilter:
        return audit.AuditFilter(
            actor=self.actor,
            action=self.action,
            domain=self.domain,
            target_type=self.target_type,
            target_id=str(self.target_id) if self.target_id is not None else None,
            occurred_from=aware_filter_time(self.occurred_from, "occurredFrom"),
            occurred_to=aware_filter_time(self.occurred_to, "occurredTo"),
            outcome=self.outcome,
        )


@strawberry.type
class AuditQuery:
    @strawberry.field(
        extensions=requires("audit", "read", domain="platform"),
        description="The audit trail, newest first, keyset-paginated.",
    )
    async def audit_events(
        self,
        info: Info,
        filter: AuditEventFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[AuditEvent]:
        context = info.context
        codecs = context.services.cursors
        request = page_request(
            codecs, audit.AUDIT_ORDER, first=first, after=after, last=last, before=before
        )
        query = audit.audit_query(filter.to_filter() if filter else audit.AuditFilter())
        async with context.db.reader() as session:
            page = await fetch_page(session, query, audit.AUDIT_ORDER, request)
        return connection(codecs, audit.AUDIT_ORDER, page, AuditEvent.of)
