"""The settings every benchmark runs with: a database of its own and nothing in the way.

A benchmark measures one thing, so the limits in front of the request path (rate, cost
budget, cost per query), the background loops (which would add their own queries) and
Redis are taken out, and password hashing is made cheap because sign-ins are set-up, not the
subject. Document limits (tokens, depth, aliases) stay as shipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.config import Settings

__all__ = ["bench_settings"]

UNLIMITED = 1_000_000_000


def bench_settings(var_dir: Path, database_url: str, **overrides: Any) -> Settings:
    """Dev settings on ``database_url`` (never whatever AGORA_DATABASE_URL names)."""
    values: dict[str, Any] = {
        "environment": "dev",
        "var_dir": var_dir,
        "database_url": database_url,
        "log_level": "WARNING",
        "redis_url": None,
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 8,
        "rate_limit_rate": 1e9,
        "rate_limit_burst": UNLIMITED,
        "query_cost_bucket_max": UNLIMITED,
        "query_cost_restore_rate": 1e9,
        "concurrency_per_principal": 1024,
        "jobs_interval_seconds": 0,
        "dispatcher_interval_seconds": 0,
    }
    return Settings(**(values | overrides))
