"""A localstripe that also does Stripe's one-off invoicing, for the billing tests.

localstripe 1.15 creates an invoice only for a subscription (``POST /v1/invoices`` without one
answers 404 "No upcoming invoices for customer") and has no ``POST /v1/invoices/{id}/finalize``
(adrienverge/localstripe#173). Real Stripe has both: an invoice created for a customer takes
its pending invoice items (with ``pending_invoice_items_behavior=include``) and starts as a
draft; finalizing makes it ``open``; paying charges the customer's default payment method.
This server adds exactly those two behaviours to the same bootstrap as
``tests.support.localstripe`` (127.0.0.1 only, state in memory), using localstripe's own
``Invoice`` constructor and ``_finalize``; everything else is localstripe as it is.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO

import anyio
import anyio.abc

from tests.support import localstripe as base

__all__ = ["start_invoicing_localstripe"]

_INVOICING = """
from localstripe.resources import Invoice, UserError
from localstripe.server import api_extra, app as _app

_subscription_invoice = Invoice._api_create

def _create(cls, customer=None, subscription=None, description=None, metadata=None,
            pending_invoice_items_behavior=None, **kwargs):
    if subscription is not None or kwargs:
        return _subscription_invoice.__func__(
            cls, customer=customer, subscription=subscription, description=description,
            metadata=metadata, pending_invoice_items_behavior=pending_invoice_items_behavior,
            **kwargs)
    if pending_invoice_items_behavior not in (None, 'include', 'exclude'):
        raise UserError(400, 'Bad request')
    return cls(customer=customer, description=description, metadata=metadata)

def _finalize(id, **kwargs):
    invoice = Invoice._api_retrieve(id)
    if invoice.status != 'draft':
        raise UserError(400, 'This invoice is already finalized')
    invoice._finalize()
    return invoice

Invoice._api_create = classmethod(_create)
_app.router.add_route('POST', '/v1/invoices/{id}/finalize',
                      api_extra(_finalize, '/v1/invoices/{id}/finalize'))
"""
_RUN = "web.run_app("
if _RUN not in base._BOOTSTRAP:  # pragma: no cover - the shared bootstrap changed shape
    raise RuntimeError("tests.support.localstripe's bootstrap no longer starts with web.run_app")
_BOOTSTRAP = base._BOOTSTRAP.replace(_RUN, _INVOICING + _RUN, 1)


async def _spawn(port: int, log: IO[bytes]) -> anyio.abc.Process:
    command = [sys.executable, "-c", _BOOTSTRAP, base.HOST, str(port)]
    return await anyio.open_process(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)


@asynccontextmanager
async def start_invoicing_localstripe() -> AsyncIterator[base.LocalStripe]:
    """A running localstripe with one-off invoices, on a free port, stopped on exit."""
    with tempfile.TemporaryFile() as log:
        for attempt in range(3):
            port = base.free_port()
            ls = base.LocalStripe(port, f"http://{base.HOST}:{port}", await _spawn(port, log), log)
            try:
                await base._wait_until_up(ls)
            except RuntimeError:
                # Another process may have taken the free port between probe and bind.
                if attempt == 2 or "in use" not in ls.output():
                    raise
                continue
            try:
                yield ls
            finally:
                with anyio.CancelScope(shield=True):
                    await ls.stop()
            return
