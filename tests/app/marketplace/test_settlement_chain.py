"""Frozen statements are tamper-evident: each hash covers the statement's canonical lines and
totals plus the previous statement's hash, so any edit behind the API's back breaks the chain
from that statement on."""

from __future__ import annotations

import hashlib

import orjson
import pytest
from sqlalchemy import text

from marketplace.settlement_models import SettlementRun, Statement
from marketplace.statement_hash import ChainCheck, statement_hashes, verify_chain
from tests.support.factories import World
from tests.support.ledger import (
    Earner,
    approve,
    earn,
    make_earner,
    moment,
    next_year,
    refund,
    settle,
    statement_of,
)

pytestmark = pytest.mark.anyio

CURRENCY = "DKK"


async def _three_months(world: World) -> tuple[Earner, list[int]]:
    """A partner with frozen statements for January to March: (partner, statement ids)."""
    earner = await make_earner(world)
    year = next_year()
    first = await earn(earner, 1234, CURRENCY, moment(year, 1))
    await earn(earner, 999, CURRENCY, moment(year, 2))
    await refund(world, first, 234, moment(year, 2, 20))
    await earn(earner, 5000, CURRENCY, moment(year, 3))
    ids = []
    for month in (1, 2, 3):
        run = await settle(world, f"{year}-{month:02d}", CURRENCY)
        await approve(world, run.id)
        statement = await statement_of(world, run.id, earner.partner_id)
        assert statement is not None
        ids.append(statement.id)
    return earner, ids


async def _verify(world: World, earner: Earner) -> ChainCheck:
    async with world.services.db.reader() as session:
        return await verify_chain(session, earner.partner_id, CURRENCY)


async def _sql(world: World, statement: str, **values: int) -> None:
    async with world.services.db.writer() as session, session.begin():
        await session.execute(text(statement), values)


async def test_an_untouched_chain_verifies(world: World) -> None:
    earner, _ = await _three_months(world)

    assert await _verify(world, earner) == ChainCheck(True, 3)


async def test_the_first_hash_is_the_documented_canonical_form(world: World) -> None:
    earner = await make_earner(world)
    year = next_year()
    charge = await earn(earner, 999, CURRENCY, moment(year, 4))
    run = await approve(world, (await settle(world, f"{year}-04", CURRENCY)).id)
    statement = await statement_of(world, run.id, earner.partner_id)
    assert statement is not None

    header = {
        "v": 1,
        "partner": earner.partner_id,
        "currency": CURRENCY,
        "period": f"{year}-04",
        "starts_at": f"{year}-04-01T00:00:00.000000+00:00",
        "ends_at": f"{year}-05-01T00:00:00.000000+00:00",
        "gross": 999,
        "partner_amount": 699,
        "fees": 300,
        "refunds": 0,
        "clawbacks": 0,
        "carried_in": 0,
        "net_payable": 699,
        "previous_hash": None,
    }
    line = ["CHARGE", charge, 999, 7000, 699, 300, f"{year}-04-05T12:00:00.000000+00:00", None]
    canonical = (
        orjson.dumps(header, option=orjson.OPT_SORT_KEYS) + b"\n" + orjson.dumps(line) + b"\n"
    )
    assert statement.hash == hashlib.sha256(canonical).hexdigest()


@pytest.mark.parametrize(
    ("edit", "broken_at", "reason"),
    [
        (
            "UPDATE statement_lines SET partner_amount = partner_amount - 1 WHERE id = (SELECT MIN(id) FROM statement_lines WHERE statement_id = :s)",
            1,
            "contents do not match the hash",
        ),
        (
            "UPDATE statements SET net_payable = net_payable + 500 WHERE id = :s",
            1,
            "contents do not match the hash",
        ),
        (
            "DELETE FROM statement_lines WHERE statement_id = :s",
            1,
            "contents do not match the hash",
        ),
        (
            "UPDATE statements SET previous_hash = NULL WHERE id = :s",
            1,
            "previous hash does not match",
        ),
    ],
)
async def test_an_edit_behind_the_apis_back_breaks_the_chain_there(
    world: World, edit: str, broken_at: int, reason: str
) -> None:
    earner, ids = await _three_months(world)

    await _sql(world, edit, s=ids[broken_at])

    assert await _verify(world, earner) == ChainCheck(False, 3, ids[broken_at], reason)


async def test_a_statement_rehashed_after_an_edit_still_breaks_the_next_link(world: World) -> None:
    # Given February edited, totals and all, and rehashed by someone who knows the form
    earner, ids = await _three_months(world)
    february = ids[1]
    await _sql(
        world,
        "UPDATE statement_lines SET partner_amount = partner_amount + 100, fee = fee - 100 WHERE id = (SELECT MIN(id) FROM statement_lines WHERE statement_id = :s)",
        s=february,
    )
    await _sql(
        world,
        "UPDATE statements SET partner_amount = partner_amount + 100, fees = fees - 100, net_payable = net_payable + 100 WHERE id = :s",
        s=february,
    )
    async with world.services.db.writer() as session, session.begin():
        statement = await session.get(Statement, february)
        assert statement is not None
        run = await session.get(SettlementRun, statement.run_id)
        assert run is not None
        rehashed = await statement_hashes(
            session,
            [(statement, run)],
            {february: statement.previous_hash},
            Statement.id == february,
        )
        await session.execute(
            text("UPDATE statements SET hash = :h WHERE id = :s"),
            {"h": rehashed[february], "s": february},
        )

    # Then February itself checks out, but March no longer links to it
    assert await _verify(world, earner) == ChainCheck(
        False, 3, ids[2], "previous hash does not match"
    )
