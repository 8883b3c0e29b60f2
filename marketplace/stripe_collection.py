"""Collecting app charges from shops through Stripe invoices (the ``ChargeCollector`` port).

Each shop is one Stripe customer, found by its email ``shop-<id>@agora.invalid`` (and tagged
``agora_shop`` in its metadata); the first collection creates it. The shop pays with the
payment method set as the customer's default at Stripe: Agora never handles card data.

The charges of one shop and currency are collected together: one invoice item per charge
(metadata ``agora_charge``, idempotency key ``agora-charge-<id>``), then one invoice that takes
the customer's pending items (``pending_invoice_items_behavior=include``), then ``finalize``
and ``pay`` (each with an idempotency key derived from the invoice).

A charge counts as collected only when an invoice that carries its item is ``paid``. Stripe
forgets idempotency keys after about a day, so before making anything the collector looks for
what an earlier attempt made (the customer's invoices and pending items, by metadata): a paid
invoice is taken as it is, an unpaid one is paid, a pending item is reused. A definite refusal
(a declined card, no payment method) is a failed result; an unknown outcome (Stripe
unreachable, a 5xx, a key in use) gives no result, so the charge stays pending and the next
billing run tries again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import stripe

from marketplace.collection import CollectionRequest, CollectionResult

__all__ = ["StripeCollector", "customer_email"]

log = logging.getLogger("agora.marketplace.stripe")

CHARGE_KEY = "agora_charge"
SHOP_KEY = "agora_shop"
LOOKBACK = 100  # invoices and pending items searched for an earlier attempt's work


def customer_email(shop_id: int) -> str:
    """The address a shop's Stripe customer is found by."""
    return f"shop-{shop_id}@agora.invalid"


def _unknown(error: stripe.StripeError) -> bool:
    status = error.http_status
    return (
        isinstance(error, stripe.APIConnectionError)
        or status is None
        or status >= 500
        or (status in (409, 429))
    )


def _message(error: stripe.StripeError) -> str:
    return error.user_message or str(error) or type(error).__name__


def _charge_of(obj: dict[str, Any]) -> int | None:
    value = (obj.get("metadata") or {}).get(CHARGE_KEY)
    return int(value) if isinstance(value, str) and value.isdigit() else None


class StripeCollector:
    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client
        self._customers: dict[int, str] = {}

    async def collect(self, requests: Sequence[CollectionRequest]) -> list[CollectionResult]:
        groups: dict[tuple[int, str], list[CollectionRequest]] = {}
        for request in requests:
            groups.setdefault((request.shop_id, request.currency.lower()), []).append(request)
        results: list[CollectionResult] = []
        for (shop_id, currency), group in groups.items():
            try:
                results += await self._collect(shop_id, currency, group)
            except stripe.StripeError as error:
                if _unknown(error):
                    log.warning(
                        "Stripe collection for shop %s: outcome unknown: %s", shop_id, error
                    )
                    continue
                failure = _message(error)
                results += [CollectionResult(r.charge_id, False, failure=failure) for r in group]
        return results

    async def close(self) -> None:
        await self.client._requestor._client.close_async()  # type: ignore[union-attr]

    async def _collect(
        self, shop_id: int, currency: str, group: list[CollectionRequest]
    ) -> list[CollectionResult]:
        customer = await self._customer(shop_id, group[0].shop_name)
        wanted = {request.charge_id: request for request in group}
        invoiced, itemized = await self._earlier_work(customer, set(wanted))
        results: list[CollectionResult] = []
        to_pay: dict[tuple[str, str], list[int]] = {}
        fresh: list[int] = []
        for charge_id in wanted:
            found = invoiced.get(charge_id)
            if found is None:
                fresh.append(charge_id)
            elif found["status"] == "paid":
                results.append(CollectionResult(charge_id, True, invoice_id=found["id"]))
            elif found["status"] in ("draft", "open"):
                to_pay.setdefault((found["id"], found["status"]), []).append(charge_id)
            else:
                failure = f"invoice {found['id']} is {found['status']}"
                results.append(CollectionResult(charge_id, False, found["id"], failure))
        if fresh:
            for charge_id in fresh:
                if charge_id not in itemized:
                    await self._item(customer, currency, wanted[charge_id])
            invoice = await self._invoice(customer, shop_id, currency, fresh)
            to_pay.setdefault((invoice, "draft"), []).extend(fresh)
        for (invoice_id, status), charge_ids in to_pay.items():
            results += await self._settle(invoice_id, status, charge_ids)
        return results

    async def _customer(self, shop_id: int, shop_name: str) -> str:
        if (known := self._customers.get(shop_id)) is not None:
            return known
        email = customer_email(shop_id)
        listed = await self.client.v1.customers.list_async({"email": email, "limit": 1})
        if listed.data:
            customer = str(listed.data[0].id)
        else:
            created = await self.client.v1.customers.create_async(
                {"email": email, "name": shop_name, "metadata": {SHOP_KEY: str(shop_id)}},
                {"idempotency_key": f"agora-shop-customer-{shop_id}"},
            )
            customer = str(created.id)
        self._customers[shop_id] = customer
        return customer

    async def _earlier_work(
        self, customer: str, wanted: set[int]
    ) -> tuple[dict[int, dict[str, str]], set[int]]:
        """What earlier attempts made for these charges: {charge: invoice} and the charges
        that have a pending (not yet invoiced) item."""
        invoiced: dict[int, dict[str, str]] = {}
        listed = await self.client.v1.invoices.list_async({"customer": customer, "limit": LOOKBACK})
        for invoice in listed.data:
            data = invoice.to_dict()
            for line in await self._lines(str(invoice.id), data):
                charge = _charge_of(line)
                if charge in wanted and (charge not in invoiced or data.get("status") == "paid"):
                    invoiced[charge] = {"id": str(invoice.id), "status": str(data.get("status"))}
        items = await self.client.v1.invoice_items.list_async(
            {"customer": customer, "limit": LOOKBACK}
        )
        itemized = {
            charge
            for item in items.data
            if (data := item.to_dict()).get("invoice") is None
            and (charge := _charge_of(data)) in wanted
        }
        return invoiced, itemized - set(invoiced)

    async def _lines(self, invoice_id: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        lines = data.get("lines") or {}
        if not lines.get("has_more"):
            return list(lines.get("data") or [])
        listed = await self.client.v1.invoices.line_items.list_async(invoice_id, {"limit": 100})
        return [line.to_dict() for line in listed.data]

    async def _item(self, customer: str, currency: str, request: CollectionRequest) -> None:
        await self.client.v1.invoice_items.create_async(
            {
                "customer": customer,
                "amount": request.amount,
                "currency": currency,
                "description": request.description or f"Agora charge {request.charge_id}",
                "metadata": {CHARGE_KEY: str(request.charge_id)},
            },
            {"idempotency_key": f"agora-charge-{request.charge_id}"},
        )

    async def _invoice(self, customer: str, shop_id: int, currency: str, charges: list[int]) -> str:
        ids = ",".join(str(charge) for charge in sorted(charges))
        digest = hashlib.sha256(ids.encode()).hexdigest()[:24]
        invoice = await self.client.v1.invoices.create_async(
            {
                "customer": customer,
                "description": "Agora app charges",
                "pending_invoice_items_behavior": "include",
                "metadata": {SHOP_KEY: str(shop_id), "agora_charges": ids[:500]},
            },
            {"idempotency_key": f"agora-invoice-{shop_id}-{currency}-{digest}"},
        )
        return str(invoice.id)

    async def _settle(
        self, invoice_id: str, status: str, charges: list[int]
    ) -> list[CollectionResult]:
        """Finalize a draft, pay an open invoice, and read which charges it settled."""
        invoice: Any = None
        try:
            if status == "draft":
                invoice = await self.client.v1.invoices.finalize_invoice_async(
                    invoice_id, options={"idempotency_key": f"agora-invoice-final-{invoice_id}"}
                )
                status = str(invoice.status)
            if status == "open":
                invoice = await self.client.v1.invoices.pay_async(
                    invoice_id, options={"idempotency_key": f"agora-invoice-pay-{invoice_id}"}
                )
        except stripe.CardError as error:
            failure = _message(error)
            return [CollectionResult(charge, False, invoice_id, failure) for charge in charges]
        except stripe.InvalidRequestError as error:
            # Finalized or paid already (a concurrent or an earlier attempt), or not payable.
            invoice = await self.client.v1.invoices.retrieve_async(invoice_id)
            if invoice.status != "paid":
                failure = _message(error)
                return [CollectionResult(charge, False, invoice_id, failure) for charge in charges]
        if invoice is None:
            invoice = await self.client.v1.invoices.retrieve_async(invoice_id)
        data = invoice.to_dict()
        status = str(data.get("status"))
        covered = {_charge_of(line) for line in await self._lines(invoice_id, data)}
        results = []
        for charge in charges:
            if charge not in covered:
                continue  # its item went onto another invoice: found next time
            if status == "paid":
                results.append(CollectionResult(charge, True, invoice_id=invoice_id))
            else:
                failure = f"invoice {invoice_id} is {status} after payment was attempted"
                results.append(CollectionResult(charge, False, invoice_id, failure))
        return results
