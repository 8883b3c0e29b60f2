"""Settlement at scale: one month of collected charges settled by ``create_run``, on SQLite and
on PostgreSQL, at 10k, 100k and 1M charges.

Statements are built by three set-based statements (``marketplace.statements``), so the time
per charge should stay roughly flat as the month grows; the target is 1M charges settled in 60 s
or less on PostgreSQL. Each size gets a database of its own, seeded with set-based SQL (the ORM
would take hours for a million charges) that writes what ``post_collection`` writes: a charge, a
transaction and three balanced entries, split by the documented largest remainder. Only the
settlement transaction is timed (median of ``ROUNDS``), and every round is checked against the
seeded ledger so that the figure is for real work. Ratios are against the smallest size's time
per charge in the same run: absolute figures on a shared machine mean little.

``python -m bench.settlement [--sizes 10000,100000] [--postgres URL | --no-postgres]``; without
either PostgreSQL flag, ``AGORA_BENCH_POSTGRES_URL`` or a server on 127.0.0.1:5432 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.identity.models import Shop
from app.migrate import upgrade
from app.security.clients import OAuthClient
from bench.settings import bench_settings
from marketplace.app_models import App, Installation, InstallationStatus
from marketplace.billing_models import ChargeKind, ChargeStatus
from marketplace.ledger import account, split_charge
from marketplace.ledger_models import AccountKind, LedgerEntry, PostingKind
from marketplace.models import Partner, Tier
from marketplace.settlement import create_run, period_window
from marketplace.settlement_models import SettlementRun, Statement, StatementLine
from tests.support.databases import fresh_database

SIZES = (10_000, 100_000, 1_000_000)
PARTNERS = 200
ROUNDS = 3
PERIOD = "2030-03"
CURRENCY = "EUR"
# Shares that leave remainders, so the largest-remainder rounding is exercised.
SHARES = (7000, 8000, 8333, 8500, 6667)
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/agora_bench"
STEPS = ("statements", "lines", "totals", "commit")

# Charges spread evenly over the month (``:span`` seconds from ``:start``), each partner's on
# days of their own (a charge is unique per installation, kind and period start). SQLite counts
# with a recursive CTE and writes datetimes in SQLAlchemy's own text format, so that they
# compare with the run's bounds as SQLAlchemy binds them.
_CHARGES_SQLITE = """
INSERT INTO charges (id, installation_id, partner_id, shop_id, kind, period_start, period_end,
    amount, currency, description, status, test, tier, share_bps, earned_at, refunded_amount,
    created_at)
WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < :n),
t(i, at) AS (
    SELECT i, strftime('%Y-%m-%d %H:%M:%S', :start, '+' || (i * :span / :n) || ' seconds')
        || '.000000'
    FROM s
)
SELECT t.i + 1, p.installation_id, p.partner_id, :shop, :kind,
    date('2000-01-01', '+' || (t.i / :partners) || ' days'),
    date('2000-01-01', '+' || (t.i / :partners + 1) || ' days'),
    100 + (t.i * 7919) % 99901, :currency, '', :status, :test, :tier, p.share_bps, t.at, 0, t.at
FROM t JOIN bench_parents p ON p.idx = t.i % :partners
"""
_CHARGES_POSTGRES = """
INSERT INTO charges (id, installation_id, partner_id, shop_id, kind, period_start, period_end,
    amount, currency, description, status, test, tier, share_bps, earned_at, refunded_amount,
    created_at)
SELECT t.i + 1, p.installation_id, p.partner_id, :shop, :kind,
    DATE '2000-01-01' + CAST(t.i / :partners AS INTEGER),
    DATE '2000-01-01' + CAST(t.i / :partners + 1 AS INTEGER),
    100 + (t.i * 7919) % 99901, :currency, '', :status, :test, :tier, p.share_bps, t.at, 0, t.at
FROM (
    SELECT i, CAST(:start AS TIMESTAMPTZ) + (i * :span / :n) * INTERVAL '1 second' AS at
    FROM generate_series(CAST(0 AS BIGINT), CAST(:n AS BIGINT) - 1) AS g(i)
) t JOIN bench_parents p ON p.idx = t.i % :partners
"""
# Transaction n posts charge n (both tables start empty).
_TRANSACTIONS_SQL = """
INSERT INTO ledger_transactions (id, kind, source, occurred_at, memo, created_at)
SELECT c.id, :kind, 'collection:charge:' || CAST(c.id AS TEXT), c.earned_at, '', c.earned_at
FROM charges c
"""
# Cash debit, partner payable credit, platform fees credit, interleaved per transaction as
# ``post`` writes them; only the payable entry names the partner (its account's). The partner
# part is ``split_charge``'s for a positive gross: rounded down, plus the unit left over when
# the partner's remainder is the larger (ties to the partner), i.e. at least half a unit.
_ENTRIES_SQL = """
INSERT INTO ledger_entries (transaction_id, account_id, kind, amount, currency, occurred_at,
    partner_id, charge_id, share_bps, gross)
SELECT c.id,
    CASE leg.k WHEN 0 THEN :cash WHEN 1 THEN p.payable_account_id ELSE :fees END,
    :kind,
    CASE leg.k
        WHEN 0 THEN c.amount
        WHEN 1 THEN -(c.amount * c.share_bps / 10000
            + CASE WHEN c.amount * c.share_bps % 10000 >= 5000 THEN 1 ELSE 0 END)
        ELSE c.amount * c.share_bps / 10000
            + CASE WHEN c.amount * c.share_bps % 10000 >= 5000 THEN 1 ELSE 0 END - c.amount
    END,
    c.currency, c.earned_at, CASE leg.k WHEN 1 THEN c.partner_id END, c.id, c.share_bps,
    c.amount
FROM charges c
JOIN bench_parents p ON p.partner_id = c.partner_id
CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2) leg
ORDER BY c.id, leg.k
"""
# Charges and transactions were given explicit ids: move PostgreSQL's sequences past them.
_SEQUENCES = (
    "SELECT setval(pg_get_serial_sequence('charges', 'id'), (SELECT max(id) FROM charges))",
    "SELECT setval(pg_get_serial_sequence('ledger_transactions', 'id'),"
    " (SELECT max(id) FROM ledger_transactions))",
)


@dataclass(slots=True)
class _Result:
    """One size's figures: every round is kept, medians are printed."""

    size: int
    seed_seconds: float
    settle: list[float] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})

    @property
    def median(self) -> float:
        return statistics.median(self.settle)


async def _seed_parents(session: AsyncSession) -> list[dict[str, int]]:
    """A shop and ``PARTNERS`` partners, each with an app installed in it and a payable
    account: the rows a charge and its postings point at, made the ordinary way."""
    shop = Shop(handle="bench-shop", name="Bench Shop", currency=CURRENCY)
    partners = [
        Partner(name=f"Partner {k}", sealed_contact_email="-", created_by="bench")
        for k in range(PARTNERS)
    ]
    clients = [
        OAuthClient(
            client_id=f"bench-{k}",
            name=f"App {k}",
            secret_hash=secrets.token_hex(32),
            signing_secret=secrets.token_hex(32),
        )
        for k in range(PARTNERS)
    ]
    session.add_all([shop, *partners, *clients])
    await session.flush()
    apps = [
        App(partner_id=p.id, name=c.name, client_id=c.client_id)
        for p, c in zip(partners, clients, strict=True)
    ]
    session.add_all(apps)
    await session.flush()
    now = datetime.now(UTC)
    installs = [
        Installation(
            app_id=a.id, shop_id=shop.id, status=InstallationStatus.ACTIVE, activated_at=now
        )
        for a in apps
    ]
    session.add_all(installs)
    await session.flush()
    rows = []
    for k, (partner, install) in enumerate(zip(partners, installs, strict=True)):
        payable = await account(session, AccountKind.PARTNER_PAYABLE, CURRENCY, partner.id)
        rows.append(
            {
                "idx": k,
                "partner_id": partner.id,
                "installation_id": install.id,
                "share_bps": SHARES[k % len(SHARES)],
                "payable_account_id": payable.id,
                "shop_id": shop.id,
            }
        )
    return rows


async def _seed(db: Database, size: int, postgres: bool) -> int:
    """``size`` collected charges over the month, posted; the partners' total to settle."""
    window = period_window(PERIOD, "UTC")
    async with db.writer() as session, session.begin():
        parents = await _seed_parents(session)
        cash = await account(session, AccountKind.CASH, CURRENCY)
        fees = await account(session, AccountKind.PLATFORM_FEES, CURRENCY)
        await session.execute(
            text(
                "CREATE TEMPORARY TABLE bench_parents (idx INTEGER PRIMARY KEY, partner_id BIGINT,"
                " installation_id BIGINT, share_bps INTEGER, payable_account_id BIGINT)"
            )
        )
        await session.execute(
            text(
                "INSERT INTO bench_parents VALUES (:idx, :partner_id, :installation_id,"
                " :share_bps, :payable_account_id)"
            ),
            [{k: v for k, v in row.items() if k != "shop_id"} for row in parents],
        )
        await session.execute(
            text(_CHARGES_POSTGRES if postgres else _CHARGES_SQLITE),
            {
                "n": size,
                "span": int((window.ends_at - window.starts_at).total_seconds()),
                "start": window.starts_at if postgres else f"{window.starts_at:%Y-%m-%d %H:%M:%S}",
                "shop": parents[0]["shop_id"],
                "partners": len(parents),
                "kind": ChargeKind.ONE_TIME.name,
                "currency": CURRENCY,
                "status": ChargeStatus.COLLECTED.name,
                "test": False,
                "tier": Tier.STANDARD.name,
            },
        )
        collection = PostingKind.COLLECTION.name
        await session.execute(text(_TRANSACTIONS_SQL), {"kind": collection})
        await session.execute(
            text(_ENTRIES_SQL),
            {"kind": collection, "cash": cash.id, "fees": fees.id},
        )
        await session.execute(text("DROP TABLE bench_parents"))
        if postgres:
            for statement in _SEQUENCES:
                await session.execute(text(statement))
        await _check_split(session)
        total = await session.scalar(
            select(func.sum(-LedgerEntry.amount)).where(LedgerEntry.partner_id.is_not(None))
        )
    await _settle_storage(db, postgres)
    return int(total or 0)


async def _check_split(session: AsyncSession) -> None:
    """The SQL split agrees with ``split_charge`` (a sample): the seed is what posting writes."""
    rows = await session.execute(
        select(LedgerEntry.gross, LedgerEntry.share_bps, -LedgerEntry.amount)
        .where(LedgerEntry.partner_id.is_not(None))
        .limit(2000)
    )
    for gross, share_bps, partner in rows:
        assert split_charge(gross, share_bps)[0] == partner, (gross, share_bps, partner)


async def _settle_storage(db: Database, postgres: bool) -> None:
    """Leave the database as a long-lived one would be: PostgreSQL vacuumed and analysed (as
    autovacuum would have), SQLite's write-ahead log checkpointed."""
    async with db.engine.connect() as connection:
        if postgres:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM ANALYZE")
        else:
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


async def _settle(db: Database, size: int, expected: int, result: _Result) -> int:
    """One timed run, begin to commit, checked afterwards; the run's id."""
    marks: list[float] = []
    async with db.writer() as session:
        started = time.perf_counter()
        async with session.begin():
            run, created = await create_run(
                session,
                period=PERIOD,
                currency=CURRENCY,
                timezone="UTC",
                actor="bench",
                now=datetime.now(UTC),
                on_step=lambda _: marks.append(time.perf_counter()),
            )
        marks.append(time.perf_counter())
    assert created, run.id
    assert len(marks) == len(STEPS), marks
    result.settle.append(marks[-1] - started)
    for step, before, after in zip(STEPS, [started, *marks], marks, strict=False):
        result.steps[step].append(after - before)
    async with db.reader() as session:
        lines = await session.scalar(
            select(func.count())
            .select_from(StatementLine)
            .join(Statement, Statement.id == StatementLine.statement_id)
            .where(Statement.run_id == run.id)
        )
        net = await session.scalar(
            select(func.sum(Statement.net_payable)).where(Statement.run_id == run.id)
        )
    assert lines == size, (lines, size)
    assert net == expected, (net, expected)
    return run.id


async def _forget(db: Database, run_id: int, postgres: bool) -> None:
    """Remove a run (statements are not ledger: they may go), so the next round starts over.
    On PostgreSQL, vacuum what the run touched: its foreign key checks lock-marked every charge
    row, and each round should find the tables as the first did."""
    async with db.writer() as session, session.begin():
        statements = select(Statement.id).where(Statement.run_id == run_id)
        await session.execute(
            delete(StatementLine).where(StatementLine.statement_id.in_(statements))
        )
        await session.execute(delete(Statement).where(Statement.run_id == run_id))
        await session.execute(delete(SettlementRun).where(SettlementRun.id == run_id))
    if postgres:
        async with db.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM ANALYZE charges, statement_lines, statements")


async def _measure(template_url: str, scratch: Path, size: int) -> _Result:
    """One size in a database of its own, so that sizes never share a ledger or a run."""
    postgres = template_url.startswith("postgresql")
    async with fresh_database(template_url, scratch) as url:
        settings = bench_settings(scratch, url)
        await asyncio.to_thread(upgrade, url)
        db = Database.connect(settings, url)
        try:
            started = time.perf_counter()
            expected = await _seed(db, size, postgres)
            result = _Result(size, time.perf_counter() - started)
            for round_ in range(ROUNDS):
                run_id = await _settle(db, size, expected, result)
                if round_ < ROUNDS - 1:
                    await _forget(db, run_id, postgres)
        finally:
            await db.dispose()
    return result


def _report(name: str, results: list[_Result]) -> None:
    """Medians, and the ratio that matters: time per charge against the smallest size's."""
    baseline = results[0].median / results[0].size
    print(
        f"-- {name}: {PARTNERS} partners, one month of {CURRENCY}, median of {ROUNDS} round(s);"
        f" ratio = time per charge / that at {results[0].size:,} charges"
    )
    steps = " ".join(f"{s + ' s':>12}" for s in STEPS)
    print(f"{'charges':>10} {'seed s':>8} {'settle s':>9} {'us/charge':>10} {'ratio':>6} {steps}")
    for r in results:
        per_charge = r.median / r.size
        parts = " ".join(f"{statistics.median(r.steps[s]):12.3f}" for s in STEPS)
        print(
            f"{r.size:>10,} {r.seed_seconds:8.1f} {r.median:9.3f} {per_charge * 1e6:10.2f}"
            f" {per_charge / baseline:6.2f} {parts}"
        )


def _postgres_url(args: argparse.Namespace) -> str | None:
    """The server to use: the flag's, the environment's, or a local one that answers."""
    if args.no_postgres:
        return None
    url = args.postgres or os.environ.get("AGORA_BENCH_POSTGRES_URL")
    if url:
        parsed = make_url(url)
        if not parsed.database:
            parsed = parsed.set(database="agora_bench")
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
    except OSError:
        return None
    return DEFAULT_POSTGRES


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.settlement")
    parser.add_argument("--sizes", help="charges per run, comma separated (default: SIZES)")
    servers = parser.add_mutually_exclusive_group()
    servers.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to use")
    servers.add_argument("--no-postgres", action="store_true", help="SQLite only")
    return parser.parse_args(argv)


async def main(argv: Sequence[str] = ()) -> None:
    """Every size on SQLite, then on PostgreSQL when there is one; ``()`` means defaults."""
    args = _arguments(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")] if args.sizes else SIZES
    databases = {"SQLite": "sqlite+aiosqlite://"}  # fresh_database makes files in scratch
    postgres = _postgres_url(args)
    if postgres:
        databases["PostgreSQL"] = postgres
    with tempfile.TemporaryDirectory() as scratch:
        for name, template in databases.items():
            results = [await _measure(template, Path(scratch), size) for size in sizes]
            _report(name, results)
    if not postgres:
        print("-- PostgreSQL: skipped (--no-postgres, or no server at 127.0.0.1:5432)")


if __name__ == "__main__":  # python -m bench.settlement
    asyncio.run(main(sys.argv[1:]))
