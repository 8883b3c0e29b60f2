"""``GET /exports/statements/{id}.csv``: one statement as CSV, for finance and its partner's owner.

The caller is the bearer principal the authentication middleware found. Finance (``export``
read on the platform) may download any statement; a partner's owner (``statement`` read in
``partner:<id>``) only its own partner's. No token is 401; a statement the caller may not see
is 403, whether or not it exists, and only finance learns that one does not (404). A refusal
is written to the audit trail like any denied privileged attempt.

The body is the statement's lines in the order they happened, then its totals, one row each,
amounts as decimal strings in the statement's currency. It is streamed, so a statement of any
size downloads in constant memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from app.money import Money
from app.security.audit import AuditRecord, Outcome, record
from app.security.oauth.roles import granted_roles
from app.security.principal import Principal
from app.security.rbac import PLATFORM, RoleAssignment, partner_domain, roles_of
from marketplace.settlement_models import SettlementRun, Statement, StatementLine

__all__ = ["statement_csv"]

HEADER = (
    "statement",
    "period",
    "currency",
    "partner",
    "kind",
    "charge",
    "occurred_at",
    "gross",
    "share_bps",
    "partner_amount",
    "fee",
    "original_statement",
)
_CHUNK = 1_000


async def _assignments(request: Request, principal: Principal) -> list[RoleAssignment]:
    if principal.subject.startswith("app:"):
        return granted_roles(principal.scope, principal.shop_id)
    async with request.app.state.services.db.reader() as session:
        return await roles_of(session, principal.subject)


async def _deny(request: Request, principal: Principal, domain: str, roles: list[str]) -> None:
    services = request.app.state.services
    client = request.client
    async with services.db.writer() as session, session.begin():
        await record(
            session,
            AuditRecord(
                occurred_at=services.clock(),
                actor=principal.subject,
                roles=roles,
                domain=domain,
                action="statementCsv",
                outcome=Outcome.DENIED,
                target_type="Statement",
                target_id=str(request.path_params.get("statement_id", "")),
                request_id=str(request.scope.get("state", {}).get("request_id", "")),
                client_ip=client.host if client else None,
                user_agent=request.headers.get("user-agent"),
            ),
        )


def _rows(statement: Statement, period: str, lines: Iterable[StatementLine]) -> list[list[Any]]:
    def money(amount: int) -> str:
        return Money(amount, statement.currency).to_decimal_string()

    head = [statement.id, period, statement.currency, statement.partner_id]
    return [
        [
            *head,
            line.kind.value,
            line.charge_id or "",
            line.occurred_at.isoformat(),
            money(line.gross),
            line.share_bps,
            money(line.partner_amount),
            money(line.fee),
            line.original_statement_id or "",
        ]
        for line in lines
    ]


def _totals(statement: Statement, period: str) -> list[list[Any]]:
    head = [statement.id, period, statement.currency, statement.partner_id]
    totals = {
        "total_gross": statement.gross,
        "total_partner_amount": statement.partner_amount,
        "total_fees": statement.fees,
        "total_refunds": -statement.refunds,
        "total_clawbacks": -statement.clawbacks,
        "carried_in": statement.carried_in,
        "net_payable": statement.net_payable,
    }
    return [
        [*head, kind, "", "", "", "", Money(amount, statement.currency).to_decimal_string(), "", ""]
        for kind, amount in totals.items()
    ]


def _csv(rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


async def _body(request: Request, statement: Statement, period: str) -> AsyncIterator[str]:
    yield _csv([HEADER])
    async with request.app.state.services.db.reader() as session:
        result = await session.stream_scalars(
            select(StatementLine)
            .where(StatementLine.statement_id == statement.id)
            .order_by(StatementLine.occurred_at, StatementLine.id)
            .execution_options(yield_per=_CHUNK)
        )
        async for lines in result.partitions():
            yield _csv(_rows(statement, period, lines))
    yield _csv(_totals(statement, period))


async def statement_csv(request: Request) -> Response:
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None:
        return JSONResponse(
            {"error": "Sign in with a bearer token."},
            status_code=401,
            headers={"www-authenticate": "Bearer"},
        )
    authorizer = request.app.state.services.authorizer
    assignments = await _assignments(request, principal)
    finance = authorizer.allows(assignments, PLATFORM, "export", "read")
    async with request.app.state.services.db.reader() as session:
        found = (
            await session.execute(
                select(Statement, SettlementRun.period)
                .join(SettlementRun, SettlementRun.id == Statement.run_id)
                .where(Statement.id == request.path_params["statement_id"])
            )
        ).first()
    domain = partner_domain(found[0].partner_id) if found else PLATFORM
    if not finance and not (found and authorizer.allows(assignments, domain, "statement", "read")):
        roles = [a.role for a in assignments if a.domain == domain]
        await _deny(request, principal, domain, roles)
        return JSONResponse({"error": "You may not read this statement."}, status_code=403)
    if found is None:
        return JSONResponse({"error": "No such statement."}, status_code=404)
    statement, period = found
    filename = f"statement-{statement.id}-{period}-{statement.currency}.csv"
    return StreamingResponse(
        _body(request, statement, period),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
        },
    )
