"""Errors outside GraphQL execution still answer in GraphQL's error shape, with a code."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Send

__all__ = ["error_body", "send_error"]


def error_body(code: str, message: str, **extensions: Any) -> bytes:
    return orjson.dumps(
        {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    )


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> None:
    body = error_body(code, message, **extensions)
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
