"""``POST /webhooks/carriers/{code}``: a carrier tells us where a parcel is.

The request is signed in DESIGN.md's form with the carrier's webhook secret: the key is the
carrier code, the nonce is the carrier's event id, and ``app.security.signing`` verifies it,
the same code that verifies open-API calls. Answers:

- 200: applied, or already received (``duplicate``), or kept in the timeline only;
- 202: the tracking number is not known yet; the event waits to be matched, nothing is lost;
- 409 ``ILLEGAL_TRANSITION``: a later event that no legal status change allows (kept, unused);
- 400 for a malformed body, 401 with the signing code for a bad or stale signature.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.logistics.carriers import carrier_by_code
from app.logistics.live import publish_events
from app.logistics.tracking import CarrierUpdate, Receipt, receive_carrier_update
from app.security.signing import SignatureError, SignatureErrorCode
from app.web.responses import error_body

__all__ = ["carrier_webhook"]

_TEXT_LIMITS = {"location": 200, "description": 2000}
_TRACKING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _refuse(status: int, code: str, message: str) -> Response:
    return Response(error_body(code, message), status_code=status, media_type="application/json")


def _aware(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.utcoffset() is None:
        raise ValueError(f"{name} needs a UTC offset")
    return moment


def _parse(body: bytes, nonce: str) -> CarrierUpdate:
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise ValueError("the body is a JSON object")
    if data.get("event_id") != nonce:
        raise ValueError("event_id must equal the X-Agora-Nonce it was signed with")
    tracking, code = data.get("tracking_number"), data.get("status")
    if not isinstance(tracking, str) or not _TRACKING.match(tracking):
        raise ValueError("tracking_number is 1-64 letters, digits, spaces, '.', '_' or '-'")
    if not isinstance(code, str) or not _CODE.match(code):
        raise ValueError("status is the carrier's code, 1-64 characters")
    occurred_at = _aware(data.get("occurred_at"), "occurred_at")
    if occurred_at is None:
        raise ValueError("occurred_at is required")
    texts = {name: str(data.get(name) or "")[:limit] for name, limit in _TEXT_LIMITS.items()}
    return CarrierUpdate(
        event_id=nonce,
        tracking_number=tracking,
        code=code,
        occurred_at=occurred_at,
        estimated_delivery=_aware(data.get("estimated_delivery"), "estimated_delivery"),
        **texts,
    )


async def _signature_problem(request: Request, code: str, body: bytes) -> Response | None:
    given = request.headers.get("x-agora-key")
    if given is not None and given != code:
        return _refuse(401, "SIGNATURE_KEY_UNKNOWN", "X-Agora-Key must be the carrier code.")
    try:
        await request.app.state.carrier_signatures.verify(
            method=request.method,
            path=request.scope.get("raw_path", b"").decode("latin-1") or request.url.path,
            query=request.scope.get("query_string", b"").decode("latin-1"),
            body=body,
            headers=request.headers,
        )
    except SignatureError as refusal:
        # A repeat of a genuine delivery (the signature checked out): the event id decides.
        if refusal.code is not SignatureErrorCode.SIGNATURE_REPLAYED:
            return _refuse(401, refusal.code.value, refusal.message)
    return None


def _answer(receipt: Receipt) -> Response:
    if receipt.duplicate:
        return JSONResponse({"received": True, "duplicate": True})
    if not receipt.matched:
        return JSONResponse({"received": True, "matched": False}, status_code=202)
    if receipt.refusal is not None:
        return _refuse(409, receipt.refusal, "No legal status change leads there; not applied.")
    return JSONResponse({"received": True, "applied": receipt.applied})


async def carrier_webhook(request: Request) -> Response:
    code = request.path_params["code"]
    body = await request.body()
    problem = await _signature_problem(request, code, body)
    if problem is not None:
        return problem
    try:
        update = _parse(body, request.headers.get("x-agora-nonce", ""))
    except (ValueError, TypeError, orjson.JSONDecodeError) as error:
        return _refuse(400, "BAD_REQUEST", f"Malformed carrier event: {error}.")
    services = request.app.state.services
    async with services.db.writer() as session, session.begin():
        carrier = await carrier_by_code(session, code)
        if carrier is None:
            return _refuse(401, "SIGNATURE_KEY_UNKNOWN", "No such carrier.")
        receipt = await receive_carrier_update(session, carrier, update)
    await publish_events(services.broadcast, receipt.published)
    return _answer(receipt)
