"""``agora billing``: the billing run, for a scheduler (cron) or by hand.

``agora billing run --date 2025-03-01`` opens the charges due on that UTC day (recurring plans
past their trial, closed usage periods) and collects every pending charge: through Stripe
invoices when ``AGORA_STRIPE_API_KEY`` is set, marked collected otherwise. Running it twice for
the same day, or on several machines at once, opens nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import typer

from app.config import Settings
from app.db import Database
from marketplace.collection import ChargeCollector

__all__ = ["billing_cli"]

billing_cli = typer.Typer(no_args_is_help=True)


@billing_cli.callback()
def billing() -> None:
    """App billing: recurring, usage and one-time charges."""


@dataclass(frozen=True)
class _Billing:
    """What a billing run needs (``marketplace.charges.BillingDeps``), without the server."""

    db: Database
    clock: Callable[[], datetime]
    collector: ChargeCollector


@billing_cli.command("run")
def billing_run(
    day: datetime | None = typer.Option(
        None, "--date", formats=["%Y-%m-%d"], help="The UTC day to bill; defaults to today."
    ),
) -> None:
    """Open the charges due on the day and collect every pending charge. Safe to repeat."""
    from marketplace.billing_run import run_billing

    settings = Settings()
    billed: date = day.date() if day is not None else datetime.now(UTC).date()

    async def run() -> str:
        db = Database.connect(settings)
        collector, close = _collector(settings)
        try:
            report = await run_billing(_Billing(db, lambda: datetime.now(UTC), collector), billed)
        finally:
            await close()
            await db.dispose()
        lines = [report.render()]
        lines += [f"  charge {c} failed: {why}" for c, why in report.collection.failed.items()]
        return "\n".join(lines)

    typer.echo(asyncio.run(run()))


def _collector(settings: Settings) -> tuple[ChargeCollector, Callable[[], Awaitable[None]]]:
    from marketplace.collection import CollectedOutsideAgora

    async def nothing() -> None:
        return None

    if not settings.stripe_api_key:
        return CollectedOutsideAgora(), nothing
    from app.trade.stripe_payments import stripe_client
    from marketplace.stripe_collection import StripeCollector

    collector = StripeCollector(
        stripe_client(
            settings.stripe_api_key,
            settings.stripe_api_base,
            timeout=settings.stripe_timeout_seconds,
        )
    )
    return collector, collector.close
