"""Health, readiness and the JWKS document."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["healthz", "jwks", "readyz"]


async def healthz(_: Request) -> Response:
    """Liveness: the process answers. It checks nothing else, so it never flaps."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the database (and Redis, when configured) answer."""
    services = request.app.state.services
    checks: dict[str, str] = {}
    try:
        async with services.db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unavailable"
    redis = request.app.state.redis
    if redis is None:
        checks["redis"] = "not configured"
    else:
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "unavailable"
    ready = all(v in ("ok", "not configured") for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", **checks}, status_code=200 if ready else 503
    )


async def jwks(request: Request) -> Response:
    return JSONResponse(
        request.app.state.services.tokens.jwks(),
        headers={"cache-control": "public, max-age=300"},
    )
