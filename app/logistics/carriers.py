"""Carriers: who ships parcels, how to link to their tracking page, how their status codes map
to ours, and the secret their webhooks are signed with.

The secret is generated here, shown once, and stored sealed (AES-GCM through the
``PersonalDataCipher`` port, like every secret at rest). A rotation keeps the previous secret
valid beside the new one, as DESIGN.md's signing rules ask, until the next rotation.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.contact import PersonalDataCipher
from app.errors import DomainError, Problem
from app.logistics.errors import LogisticsErrorCode
from app.logistics.models import ShippingRate, ShippingZone
from app.logistics.shipment_models import Carrier, ShipmentStatus
from app.logistics.validation import check_name, input_problem

__all__ = [
    "CarrierDraft",
    "carrier_by_code",
    "create_carrier",
    "rotate_carrier_secret",
    "set_rate_carrier",
    "tracking_url",
    "update_carrier",
    "webhook_secrets",
]

SECRET_CONTEXT = "carriers.webhook_secret"  # noqa: S105 - an AES-GCM context label
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_CARRIER_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
PLACEHOLDER = "{tracking_number}"
MAPPABLE = frozenset(ShipmentStatus) - {ShipmentStatus.UNKNOWN}


@dataclass(frozen=True, slots=True)
class CarrierDraft:
    code: str
    name: str
    tracking_url_template: str
    status_map: Mapping[str, ShipmentStatus]
    active: bool = True


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _check(draft: CarrierDraft) -> list[Problem]:
    problems = check_name(draft.name)
    if not _CODE.match(draft.code):
        problems.append(
            input_problem(
                LogisticsErrorCode.INVALID, "1-64 lower-case letters, digits, - or _.", "code"
            )
        )
    template = draft.tracking_url_template
    if not template.startswith("https://") or PLACEHOLDER not in template or len(template) > 500:
        problems.append(
            input_problem(
                LogisticsErrorCode.INVALID,
                f"An https:// URL of at most 500 characters containing {PLACEHOLDER}.",
                "trackingUrlTemplate",
            )
        )
    for index, (code, status) in enumerate(draft.status_map.items()):
        if not _CARRIER_CODE.match(code) or status not in MAPPABLE:
            problems.append(
                input_problem(
                    LogisticsErrorCode.INVALID,
                    "A carrier code is 1-64 letters, digits or _.:- and maps to a shipment status.",
                    "statusMap",
                    str(index),
                )
            )
    if len(draft.status_map) > 200:
        problems.append(
            input_problem(LogisticsErrorCode.INVALID, "At most 200 codes.", "statusMap")
        )
    return problems


async def carrier_by_code(session: AsyncSession, code: str) -> Carrier | None:
    return await session.scalar(select(Carrier).where(Carrier.code == code))


async def _flush_unique(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise DomainError.one(
            LogisticsErrorCode.DUPLICATE_CODE, "A carrier has this code.", "input", "code"
        ) from exc


async def create_carrier(
    session: AsyncSession, draft: CarrierDraft, cipher: PersonalDataCipher
) -> tuple[Carrier, str]:
    """The new carrier and its webhook secret, which is shown this once."""
    problems = _check(draft)
    if problems:
        raise DomainError(problems)
    secret = _new_secret()
    carrier = Carrier(
        code=draft.code,
        name=draft.name.strip(),
        tracking_url_template=draft.tracking_url_template,
        status_map={code: status.value for code, status in draft.status_map.items()},
        active=draft.active,
        sealed_secret=cipher.encrypt(secret, context=SECRET_CONTEXT),
    )
    session.add(carrier)
    await _flush_unique(session)
    return carrier, secret


async def _existing(session: AsyncSession, carrier_id: int) -> Carrier:
    carrier = await session.get(Carrier, carrier_id)
    if carrier is None:
        raise DomainError.one(LogisticsErrorCode.NOT_FOUND, "No such carrier.", "id")
    return carrier


async def update_carrier(session: AsyncSession, carrier_id: int, draft: CarrierDraft) -> Carrier:
    """Replace the carrier's settings (the code included) with ``draft``; secrets stay."""
    carrier = await _existing(session, carrier_id)
    problems = _check(draft)
    if problems:
        raise DomainError(problems)
    carrier.code = draft.code
    carrier.name = draft.name.strip()
    carrier.tracking_url_template = draft.tracking_url_template
    carrier.status_map = {code: status.value for code, status in draft.status_map.items()}
    carrier.active = draft.active
    await _flush_unique(session)
    return carrier


async def rotate_carrier_secret(
    session: AsyncSession, carrier_id: int, cipher: PersonalDataCipher
) -> tuple[Carrier, str]:
    """A new secret, shown once; the one before it keeps verifying until the next rotation."""
    carrier = await _existing(session, carrier_id)
    secret = _new_secret()
    carrier.sealed_previous_secret = carrier.sealed_secret
    carrier.sealed_secret = cipher.encrypt(secret, context=SECRET_CONTEXT)
    await session.flush()
    return carrier, secret


def webhook_secrets(carrier: Carrier, cipher: PersonalDataCipher) -> tuple[bytes, ...]:
    """The secrets a webhook signature may use: the current one, and the previous one."""
    sealed = [carrier.sealed_secret, carrier.sealed_previous_secret]
    return tuple(cipher.decrypt(s, context=SECRET_CONTEXT).encode() for s in sealed if s)


async def set_rate_carrier(
    session: AsyncSession, shop_id: int, rate_id: int, carrier_code: str | None
) -> ShippingRate:
    """Tie a shop's rate to a carrier (its method then names the carrier), or untie it."""
    rate = await session.scalar(
        select(ShippingRate)
        .join(ShippingZone, ShippingZone.id == ShippingRate.zone_id)
        .where(ShippingRate.id == rate_id, ShippingZone.shop_id == shop_id)
    )
    if rate is None:
        raise DomainError.one(LogisticsErrorCode.NOT_FOUND, "No such rate.", "id")
    carrier = None
    if carrier_code is not None:
        carrier = await carrier_by_code(session, carrier_code)
        if carrier is None:
            raise DomainError.one(
                LogisticsErrorCode.UNKNOWN_CARRIER, "No such carrier.", "carrierCode"
            )
    rate.carrier_id = carrier.id if carrier else None
    await session.flush()
    return rate


def tracking_url(carrier: Carrier, tracking_number: str) -> str:
    return carrier.tracking_url_template.replace(PLACEHOLDER, quote(tracking_number, safe=""))
