"""``agora worker``: background work without the API.

It runs the outbox dispatcher and the background jobs (order expiry, refund retries), the same
loops ``agora serve`` runs beside the API. Run as many as you like on PostgreSQL; on SQLite,
run one (or just ``agora serve``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, datetime

import typer
from rich.console import Console

from app.config import Settings

__all__ = ["worker"]

console = Console(stderr=True)


def _now() -> datetime:
    return datetime.now(UTC)


def worker(
    once: bool = typer.Option(
        False, "--once", help="One dispatcher round and one round of jobs, then exit."
    ),
) -> None:
    """Deliver webhooks from the outbox and run the background jobs until stopped."""
    from app.cli_serve import refuse_unready_production
    from app.compose_domains import trade_services
    from app.compose_events import event_services
    from app.db import Database
    from app.jobs import run_jobs_forever, run_jobs_once
    from app.logs import configure_logging
    from app.security.encryption import load_or_create_keyring

    settings = Settings()
    refuse_unready_production(settings, 1)
    configure_logging(settings.log_level, json_lines=settings.log_json)

    async def run() -> None:
        db = Database.connect(settings)
        cipher = load_or_create_keyring(settings.resolved_data_keyring_path, create=settings.is_dev)
        events = event_services(settings, db, cipher, _now)
        trade = trade_services(settings, db, cipher, _now)
        try:
            if once:
                report = await events.dispatcher.run_once()
                jobs = await run_jobs_once(trade)
                console.print(
                    f"{report.routed} events routed; {report.attempted} deliveries attempted, "
                    f"{report.delivered} delivered, {report.failed} failed; "
                    f"{jobs.expired_orders} orders expired, {jobs.refunds_retried} refunds retried."
                )
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            interval = settings.dispatcher_interval_seconds or 1.0
            tasks = [
                asyncio.create_task(events.dispatcher.run_forever(interval)),
                asyncio.create_task(run_jobs_forever(trade, settings.jobs_interval_seconds or 30)),
            ]
            console.print("Agora worker: dispatching the outbox and running jobs (Ctrl-C stops).")
            await stop.wait()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            await events.close()
            await trade.providers.close()
            await db.dispose()

    asyncio.run(run())
