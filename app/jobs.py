"""Background jobs: expiring unpaid orders and retrying refunds left in doubt.

``run_jobs_once`` is what ``agora jobs run-once`` and the loop in ``agora serve`` call. Every job
is safe to run in several processes at once (claims are conditional UPDATEs, and on PostgreSQL
batches are taken with ``SKIP LOCKED``), so each worker may run the loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from app.trade.lifecycle import expire_unpaid_orders
from app.trade.refund_flow import retry_pending_refunds
from app.trade.services import TradeServices

__all__ = ["JobReport", "run_jobs_forever", "run_jobs_once"]

log = logging.getLogger("agora.jobs")


@dataclass(frozen=True, slots=True)
class JobReport:
    expired_orders: int
    refunds_retried: int


async def run_jobs_once(trade: TradeServices) -> JobReport:
    return JobReport(
        expired_orders=await expire_unpaid_orders(trade),
        refunds_retried=await retry_pending_refunds(trade),
    )


async def run_jobs_forever(trade: TradeServices, interval_seconds: float) -> None:
    """Until cancelled; a failing round is logged and the next one runs as planned."""
    while True:
        try:
            report = await run_jobs_once(trade)
            if report.expired_orders or report.refunds_retried:
                log.info("jobs: %s", report)
        except Exception:
            log.exception("a round of background jobs failed")
        await asyncio.sleep(interval_seconds)
