"""The audit table: written in the caller's transaction, masked, and append-only in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from app.db import Database
from app.identity.models import Shop
from app.security.audit import (
    AuditEvent,
    AuditFilter,
    AuditRecord,
    Outcome,
    audit_query,
    jsonable,
    mask_snapshot,
    record,
)
from tests.support.factories import unique

pytestmark = pytest.mark.anyio

MOMENT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _event(domain: str, **changes: object) -> AuditRecord:
    fields: dict[str, object] = {
        "occurred_at": MOMENT,
        "actor": "user:1",
        "domain": domain,
        "action": "productUpdate",
        "outcome": Outcome.ALLOWED,
        "roles": ["business"],
    }
    fields.update(changes)
    return AuditRecord(**fields)  # type: ignore[arg-type]


async def _events(db: Database, domain: str) -> list[AuditEvent]:
    async with db.reader() as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.domain == domain)))


async def test_a_record_is_stored_with_its_personal_data_and_secrets_masked(db: Database) -> None:
    domain = unique("shop")
    before = {
        "title": "Old",
        "contact": {"email": "ann@example.com", "phone": "13812345678", "city": "Lyon"},
        "lines": [{"street_address": "1 Rue X", "qty": 2}],
        "client_secret": "s3cr3t",
        "access_token": None,
    }
    async with db.writer() as session, session.begin():
        await record(session, _event(domain, before=before, after={"password_hash": "x"}))

    (row,) = await _events(db, domain)
    assert row.before == {
        "title": "Old",
        "contact": {"email": "a***@example.com", "phone": "138****5678", "city": "Lyon"},
        "lines": [{"street_address": "***", "qty": 2}],
        "client_secret": "***",
        "access_token": None,
    }
    assert row.after == {"password_hash": "***"}
    assert "ann@example.com" not in str(row.before) and "s3cr3t" not in str(row.before)
    assert (row.actor, row.roles, row.outcome, row.occurred_at) == (
        "user:1",
        ["business"],
        Outcome.ALLOWED,
        MOMENT,
    )


async def test_a_record_rolls_back_with_the_change_it_describes(db: Database) -> None:
    domain, handle = unique("shop"), unique("shop")

    class ChangeFailedError(Exception):
        pass

    async def change_that_fails() -> None:
        async with db.writer() as session, session.begin():
            session.add(Shop(handle=handle, name="Doomed", currency="EUR"))
            await record(session, _event(domain, target_type="Shop"))
            raise ChangeFailedError

    with pytest.raises(ChangeFailedError):
        await change_that_fails()

    assert await _events(db, domain) == []
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).where(Shop.handle == handle)) == 0


@pytest.mark.parametrize(
    "statement",
    [
        lambda domain: (
            update(AuditEvent).where(AuditEvent.domain == domain).values(actor="user:666")
        ),
        lambda domain: delete(AuditEvent).where(AuditEvent.domain == domain),
    ],
    ids=["update", "delete"],
)
async def test_the_database_refuses_to_change_or_delete_a_record(
    db: Database, statement: object
) -> None:
    domain = unique("shop")
    async with db.writer() as session, session.begin():
        await record(session, _event(domain))

    with pytest.raises(DBAPIError, match="append-only"):
        async with db.writer() as session, session.begin():
            await session.execute(statement(domain))  # type: ignore[operator]

    (row,) = await _events(db, domain)
    assert row.actor == "user:1"


async def test_raw_sql_cannot_rewrite_history_either(db: Database) -> None:
    domain = unique("shop")
    async with db.writer() as session, session.begin():
        await record(session, _event(domain))
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.writer() as session, session.begin():
            await session.execute(
                text("UPDATE audit_events SET outcome = 'DENIED' WHERE domain = :d"), {"d": domain}
            )
    assert [row.outcome for row in await _events(db, domain)] == [Outcome.ALLOWED]


async def test_the_query_filters_by_every_field_and_time_window(db: Database) -> None:
    domain = unique("shop")
    async with db.writer() as session, session.begin():
        await record(session, _event(domain, target_type="Product", target_id="P1"))
        await record(
            session,
            _event(
                domain,
                actor="anonymous",
                roles=[],
                outcome=Outcome.DENIED,
                action="productCreate",
                occurred_at=MOMENT + timedelta(hours=1),
            ),
        )

    async def actions(**spec: object) -> list[str]:
        query = audit_query(AuditFilter(domain=domain, **spec))  # type: ignore[arg-type]
        async with db.reader() as session:
            return sorted(row.action for row in await session.scalars(query))

    assert await actions() == ["productCreate", "productUpdate"]
    assert await actions(outcome=Outcome.DENIED) == ["productCreate"]
    assert await actions(actor="user:1") == ["productUpdate"]
    assert await actions(action="productCreate") == ["productCreate"]
    assert await actions(target_type="Product", target_id="P1") == ["productUpdate"]
    assert await actions(occurred_from=MOMENT + timedelta(minutes=30)) == ["productCreate"]
    assert await actions(occurred_to=MOMENT + timedelta(hours=1)) == ["productUpdate"]


def test_snapshots_are_plain_json_and_masking_keeps_what_is_not_personal() -> None:
    shop = Shop(id=3, handle="demo", name="Demo", currency="EUR")
    assert jsonable(shop) == {"id": 3, "handle": "demo", "name": "Demo", "currency": "EUR"}
    assert jsonable({"at": MOMENT, "outcome": Outcome.DENIED, "ids": (1, 2)}) == {
        "at": "2026-03-01T12:00:00+00:00",
        "outcome": "denied",
        "ids": [1, 2],
    }
    snapshot = {"Email": "ann@b.c", "emails": ["ann@b.c"], "email_index": "9f2c", "sku": "X"}
    assert mask_snapshot(snapshot) == {
        "Email": "a***@b.c",
        "emails": "***",
        "email_index": "***",
        "sku": "X",
    }
