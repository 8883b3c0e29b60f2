"""What a webhook body looks like to an app, at each payload version.

Domains store an event's facts in the outbox in Agora's own terms: snake_case keys, integer
keys named ``<thing>_id``, and money as ``{"amount": minor units, "currency": ...}``. Apps see
the API's terms instead, so the ids in a webhook work in ``node(id:)`` and money reads like
the GraphQL ``Money`` type. Rendering is generic over those conventions, so a new topic needs
no code here.

- **Version 2** (the latest): camelCase keys; ids are global IDs; money is
  ``{"amount": "12.50", "currencyCode": "EUR"}`` (a decimal string, never a float).
- **Version 1**: the same keys and ids; money is ``{"amountMinor": 1250, "currency": "EUR"}``.

The envelope is the same in both: ``id`` (the event id), ``topic``, ``shopId``,
``payloadVersion``, ``occurredAt`` and ``data``.
"""

from __future__ import annotations

from typing import Any

from app.events.models import OutboxEvent
from app.money import Money
from schema.node import encode_id

__all__ = ["ID_TYPES", "render_payload"]

# ``<name>_id`` keys and the GraphQL type their ids belong to.
ID_TYPES = {
    "order": "Order",
    "refund": "Refund",
    "shipment": "Shipment",
    "product": "Product",
    "variant": "ProductVariant",
    "warehouse": "Warehouse",
    "installation": "Installation",
    "app": "App",
    "shop": "Shop",
    "carrier": "Carrier",
}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _is_money(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"amount", "currency"}
        and isinstance(value["amount"], int)
        and isinstance(value["currency"], str)
    )


def _money(value: dict[str, Any], version: int) -> dict[str, Any]:
    if version == 1:
        return {"amountMinor": value["amount"], "currency": value["currency"]}
    return {
        "amount": Money(value["amount"], value["currency"]).to_decimal_string(),
        "currencyCode": value["currency"],
    }


def _render(value: Any, version: int) -> Any:
    if _is_money(value):
        return _money(value, version)
    if isinstance(value, dict):
        rendered = {}
        for key, inner in value.items():
            name, _, suffix = key.rpartition("_")
            if suffix == "id" and name in ID_TYPES and isinstance(inner, int):
                rendered[_camel(key)] = encode_id(ID_TYPES[name], inner)
            elif suffix == "ids" and name in ID_TYPES and isinstance(inner, list):
                rendered[_camel(key)] = [encode_id(ID_TYPES[name], int(i)) for i in inner]
            else:
                rendered[_camel(key)] = _render(inner, version)
        return rendered
    if isinstance(value, list):
        return [_render(item, version) for item in value]
    return value


def render_payload(event: OutboxEvent, version: int) -> dict[str, Any]:
    return {
        "id": event.id,
        "topic": event.topic,
        "shopId": encode_id("Shop", event.shop_id) if event.shop_id is not None else None,
        "payloadVersion": version,
        "occurredAt": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": _render(event.payload, version),
    }
