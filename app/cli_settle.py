"""``agora settle``: create the settlement runs for a month, from a shell or a scheduler.

``agora settle --period 2026-11`` settles every currency with collections or refunds in that
month (in ``AGORA_SETTLEMENT_TZ``); ``--currency EUR`` (repeatable) names them instead. Each
run is a draft for finance to approve in the API. Running it again returns the runs already
made and changes nothing.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.config import Settings
from app.db import Database

__all__ = ["settle_cli"]

settle_cli = typer.Typer(no_args_is_help=True)


@dataclass(frozen=True)
class _Settled:
    period: str
    currency: str
    run_id: int
    created: bool
    statements: int
    net_payable: int


async def _currencies(db: Database, period: str, timezone: str) -> list[str]:
    from sqlalchemy import select

    from marketplace.ledger_models import LedgerEntry, PostingKind
    from marketplace.settlement import period_window

    window = period_window(period, timezone)
    async with db.reader() as session:
        found = await session.scalars(
            select(LedgerEntry.currency)
            .where(
                LedgerEntry.occurred_at >= window.starts_at,
                LedgerEntry.occurred_at < window.ends_at,
                LedgerEntry.kind.in_([PostingKind.COLLECTION, PostingKind.REFUND]),
            )
            .distinct()
        )
        return sorted(found)


async def _settle_one(
    db: Database,
    period: str,
    currency: str,
    timezone: str,
    actor: str,
    on_step: Callable[[str], None],
) -> _Settled:
    from sqlalchemy import func, select

    from marketplace.settlement import create_run
    from marketplace.settlement_models import Statement

    async with db.writer() as session, session.begin():
        run, created = await create_run(
            session,
            period=period,
            currency=currency,
            timezone=timezone,
            actor=actor,
            now=datetime.now(UTC),
            on_step=on_step,
        )
        count, net = (
            await session.execute(
                select(
                    func.count(Statement.id), func.coalesce(func.sum(Statement.net_payable), 0)
                ).where(Statement.run_id == run.id, Statement.net_payable > 0)
            )
        ).one()
    return _Settled(run.period, run.currency, run.id, created, int(count), int(net))


def _reporter(progress: Progress, task: TaskID, label: str) -> Callable[[str], None]:
    def step(name: str) -> None:
        progress.update(task, advance=1, description=f"{label}: {name}")

    return step


async def _settle(
    settings: Settings, period: str, currencies: list[str], actor: str, console: Console
) -> list[_Settled]:
    from marketplace.statements import STEPS

    db = Database.connect(settings)
    timezone = settings.settlement_tz
    try:
        wanted = [c.upper() for c in currencies] or await _currencies(db, period, timezone)
        settled = []
        columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            for currency in wanted:
                label = f"{period} {currency}"
                task = progress.add_task(label, total=len(STEPS) + 1)
                step = _reporter(progress, task, label)
                done = await _settle_one(db, period, currency, timezone, actor, step)
                progress.update(task, completed=len(STEPS) + 1)
                settled.append(done)
        return settled
    finally:
        await db.dispose()


@settle_cli.callback(invoke_without_command=True)
def settle(
    period: str = typer.Option(..., "--period", help="The month, YYYY-MM."),
    currency: list[str] = typer.Option(
        [], "--currency", help="Repeat per currency; defaults to every one with activity."
    ),
    actor: str = typer.Option(
        "", help="Who creates the runs (the audit's actor); defaults to cli:<login>."
    ),
) -> None:
    """Settle a calendar month in AGORA_SETTLEMENT_TZ: one draft run per currency."""
    from app.errors import DomainError
    from app.money import Money

    settings = Settings()
    console = Console()
    who = actor or f"cli:{getpass.getuser()}"
    try:
        settled = asyncio.run(_settle(settings, period, currency, who, console))
    except DomainError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error
    if not settled:
        console.print(f"Nothing to settle for {period} in {settings.settlement_tz}.")
        return
    table = Table(title=f"Settlement runs for {period} ({settings.settlement_tz})")
    for name in ("currency", "run", "", "payable statements", "net payable"):
        table.add_column(name)
    for done in settled:
        table.add_row(
            done.currency,
            str(done.run_id),
            "created" if done.created else "already there",
            str(done.statements),
            Money(done.net_payable, done.currency).to_decimal_string(),
        )
    console.print(table)
