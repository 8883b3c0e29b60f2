"""Ops' controls over limits: temporary rate-limit overrides for one principal."""

from __future__ import annotations

from datetime import datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.limits.overrides import LimitsErrorCode, RateLimitOverride, set_override
from schema.auditing import Audit, row_state
from schema.errors import UserError, user_errors
from schema.node import Node, encode_id
from schema.permissions import requires
from schema.transactions import write

__all__ = ["LimitsMutation"]

LimitsErrorCodeEnum = strawberry.enum(LimitsErrorCode, name="LimitsErrorCode")


@strawberry.type
class LimitsError(UserError):
    code: LimitsErrorCodeEnum  # type: ignore[valid-type]


@strawberry.type
class RateLimitOverrideNode(Node):
    principal: str
    rate: float
    burst: int
    expires_at: datetime
    set_by: str

    @classmethod
    def of(cls, row: RateLimitOverride) -> RateLimitOverrideNode:
        return cls(
            id=encode_id("RateLimitOverride", row.id),
            principal=row.principal,
            rate=row.rate,
            burst=row.burst,
            expires_at=row.expires_at,
            set_by=row.set_by,
        )


@strawberry.input
class RateLimitOverrideInput:
    principal: str = strawberry.field(description="app:<client_id>, user:<id> or ip:<address>.")
    rate: float = strawberry.field(description="Requests a second.")
    burst: int
    expires_at: datetime = strawberry.field(description="At most 30 days ahead.")


@strawberry.type
class RateLimitOverridePayload:
    override: RateLimitOverrideNode | None
    errors: list[LimitsError]


@strawberry.type
class LimitsMutation:
    @strawberry.mutation(
        extensions=requires("rate_limit", "write", domain="platform"),
        description="Ops: a temporary rate limit for one principal, applied by every worker.",
    )
    async def rate_limit_override_set(
        self, info: Info, input: RateLimitOverrideInput
    ) -> RateLimitOverridePayload | None:
        context = info.context
        principal = context.principal

        async def work(session: AsyncSession) -> RateLimitOverrideNode:
            row = await set_override(
                session,
                principal=input.principal,
                rate=input.rate,
                burst=input.burst,
                expires_at=input.expires_at,
                set_by=principal.subject if principal else "",
                now=context.now(),
            )
            return RateLimitOverrideNode.of(row)

        override, error = await write(
            info,
            work,
            Audit(
                target_type="RateLimitOverride",
                state=row_state(RateLimitOverride),
                domain="platform",
            ),
        )
        if error is None:
            await context.services.override_changes.announce()
        return RateLimitOverridePayload(
            override=override,
            errors=[] if error is None else user_errors(error, LimitsError, LimitsErrorCodeEnum),
        )
