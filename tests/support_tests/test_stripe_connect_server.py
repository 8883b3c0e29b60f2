"""The Stripe Connect test server behaves as Stripe does for what payouts use, driven by the
real stripe SDK over HTTP: the wire format, idempotency (replay, conflict, expiry), 404s, and
the faults it can be told to inject. No database."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.localstripe import stripe_session
from tests.support.served import serve_app
from tests.support.stripe_connect import API_KEY, ConnectServer, start_stripe_connect

pytestmark = pytest.mark.anyio

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def server() -> AsyncIterator[ConnectServer]:
    async with start_stripe_connect(key_ttl=3600) as running:
        yield running


@pytest.fixture
async def sdk(server: ConnectServer) -> AsyncIterator[stripe.StripeClient]:
    async with stripe_session(server.base_url, api_key=API_KEY, timeout=0.5) as client:
        yield client


async def _account(sdk: stripe.StripeClient) -> str:
    account = await sdk.v1.accounts.create_async(
        {"type": "express", "capabilities": {"transfers": {"requested": True}}}
    )
    return account.id


def _transfer(destination: str, amount: int = 1000, **extra: object) -> dict[str, object]:
    return {
        "amount": amount,
        "currency": "eur",
        "destination": destination,
        "transfer_group": "run-1",
        "metadata": {"agora_statement": "7"},
        **extra,
    }


async def test_accounts_are_created_and_retrieved(
    server: ConnectServer, sdk: stripe.StripeClient
) -> None:
    made = await sdk.v1.accounts.create_async(
        {
            "type": "express",
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"agora_partner": "12"},
        }
    )
    assert made.id.startswith("acct_")
    assert made.capabilities.to_dict() == {"transfers": "active"}
    again = await sdk.v1.accounts.retrieve_async(made.id)
    assert (again.id, again.to_dict()["metadata"]) == (made.id, {"agora_partner": "12"})
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await sdk.v1.accounts.retrieve_async("acct_nope")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


async def test_a_transfer_is_sent_form_encoded_and_listed_by_group(
    server: ConnectServer, sdk: stripe.StripeClient
) -> None:
    destination = await _account(sdk)
    made = await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k1"})
    await sdk.v1.transfers.create_async(_transfer(destination, transfer_group="run-2"))
    call = server.calls_to("POST", "/v1/transfers")[0]
    assert call.content_type == "application/x-www-form-urlencoded"
    assert call.idempotency_key == "k1"
    assert call.params["metadata"] == {"agora_statement": "7"}
    assert call.params["amount"] == "1000"
    got = await sdk.v1.transfers.retrieve_async(made.id)
    assert (got.amount, got.currency, got.destination) == (1000, "eur", destination)
    listed = await sdk.v1.transfers.list_async({"transfer_group": "run-1", "limit": 10})
    assert [t.id for t in listed.data] == [made.id]
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await sdk.v1.transfers.retrieve_async("tr_nope")
    assert missing.value.http_status == 404


async def test_listing_pages_newest_first(server: ConnectServer, sdk: stripe.StripeClient) -> None:
    destination = await _account(sdk)
    made = [
        (await sdk.v1.transfers.create_async(_transfer(destination, amount=n))).id
        for n in range(1, 6)
    ]
    page = await sdk.v1.transfers.list_async({"transfer_group": "run-1", "limit": 2})
    assert page.has_more
    assert [t.id async for t in page.auto_paging_iter()] == made[::-1]
    assert len(server.calls_to("GET", "/v1/transfers")) == 3


async def test_unknown_parameters_and_missing_ones_are_refused(
    server: ConnectServer, sdk: stripe.StripeClient
) -> None:
    destination = await _account(sdk)
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        await sdk.v1.transfers.create_async(_transfer(destination, colour="red"))  # type: ignore[arg-type]
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "colour")
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await sdk.v1.transfers.create_async({"amount": 5, "currency": "eur"})  # type: ignore[typeddict-item]
    assert missing.value.param == "destination"
    with pytest.raises(stripe.InvalidRequestError) as nowhere:
        await sdk.v1.transfers.create_async(_transfer("acct_nobody"))
    assert (nowhere.value.code, nowhere.value.param) == ("resource_missing", "destination")
    assert server.transfers == {}


async def test_the_same_key_and_parameters_replay_the_first_answer(
    server: ConnectServer, sdk: stripe.StripeClient
) -> None:
    destination = await _account(sdk)
    first = await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k"})
    second = await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k"})
    assert first.id == second.id
    assert len(server.transfers) == 1
    assert [c.replayed for c in server.calls_to("POST", "/v1/transfers")] == [False, True]
    body = "amount=1000&currency=eur&destination=" + destination
    body += "&transfer_group=run-1&metadata[agora_statement]=7"
    async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as http:
        raw = await http.post(
            "/v1/transfers",
            content=body.replace("[", "%5B").replace("]", "%5D"),
            headers={
                **HEADERS,
                "Idempotency-Key": "k",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
    assert raw.headers["idempotent-replayed"] == "true"
    assert raw.json()["id"] == first.id


async def test_the_same_key_with_other_parameters_is_an_idempotency_error(
    server: ConnectServer, sdk: stripe.StripeClient
) -> None:
    destination = await _account(sdk)
    await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k"})
    with pytest.raises(stripe.IdempotencyError) as conflict:
        await sdk.v1.transfers.create_async(
            _transfer(destination, amount=999), {"idempotency_key": "k"}
        )
    assert conflict.value.http_status == 400
    assert conflict.value.json_body["error"]["type"] == "idempotency_error"  # type: ignore[index]
    with pytest.raises(stripe.IdempotencyError):  # another endpoint is other parameters too
        await sdk.v1.accounts.create_async({"type": "express"}, {"idempotency_key": "k"})
    assert len(server.transfers) == 1


async def test_keys_are_forgotten_after_the_ttl(
    server: ConnectServer, sdk: stripe.StripeClient
) -> None:
    destination = await _account(sdk)
    first = await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k"})
    server.advance(3599)
    same = await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k"})
    server.advance(1)
    fresh = await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k"})
    assert same.id == first.id != fresh.id
    assert len(server.transfers) == 2


async def test_unknown_endpoints_and_keys_are_refused_as_stripe_does(
    server: ConnectServer, sdk: stripe.StripeClient
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as http:
        unknown = await http.get("/v1/payouts", headers=HEADERS)
        assert unknown.status_code == 404
        error = unknown.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"] == "Unrecognized request URL (GET: /v1/payouts)."
        wrong_method = await http.delete("/v1/transfers", headers=HEADERS)
        assert wrong_method.status_code == 404
        unsigned = await http.get("/v1/transfers")
        assert unsigned.status_code == 401
        as_json = await http.post("/v1/transfers", json={"amount": 1}, headers=HEADERS)
        assert as_json.status_code == 400
    with pytest.raises(stripe.InvalidRequestError) as through_sdk:
        await sdk.v1.payouts.list_async()
    assert through_sdk.value.http_status == 404


async def test_the_nth_call_fails_and_is_not_remembered(
    server: ConnectServer, sdk: stripe.StripeClient
) -> None:
    destination = await _account(sdk)
    server.fail(2, status=402, error_type="invalid_request_error", code="balance_insufficient")
    await sdk.v1.transfers.create_async(_transfer(destination))
    with pytest.raises(stripe.StripeError) as refused:
        await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k"})
    assert (refused.value.http_status, refused.value.code) == (402, "balance_insufficient")
    server.fail(1, status=500, times=2)
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k"})
    retried = await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k"})
    assert len(server.transfers) == 2
    assert retried.id in server.transfers


async def test_a_timeout_after_the_transfer_was_made(
    server: ConnectServer, sdk: stripe.StripeClient
) -> None:
    destination = await _account(sdk)
    server.time_out(1)
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k"})
    assert time.monotonic() - started < 5
    assert len(server.transfers) == 1  # Stripe made it; the client never heard
    again = await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k"})
    assert list(server.transfers) == [again.id]


async def test_an_injected_clock_drives_the_key_expiry() -> None:
    now = [1_000.0]
    async with (
        start_stripe_connect(key_ttl=10, clock=lambda: now[0]) as server,
        stripe_session(server.base_url, api_key=API_KEY) as sdk,
    ):
        destination = await _account(sdk)
        await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k"})
        now[0] += 10
        await sdk.v1.transfers.create_async(_transfer(destination), {"idempotency_key": "k"})
        assert len(server.transfers) == 2
        with pytest.raises(RuntimeError):
            server.advance(1)


async def test_reversals_and_signed_events(server: ConnectServer, sdk: stripe.StripeClient) -> None:
    destination = await _account(sdk)
    made = await sdk.v1.transfers.create_async(_transfer(destination))
    await sdk.v1.transfers.reversals.create_async(made.id, {"amount": 400})
    assert not server.transfers[made.id]["reversed"]
    await sdk.v1.transfers.reversals.create_async(made.id)
    assert server.transfers[made.id]["reversed"]
    assert server.transfers[made.id]["amount_reversed"] == 1000
    received: list[stripe.Event] = []

    async def endpoint(request: Request) -> Response:
        payload = (await request.body()).decode()
        signature = request.headers["stripe-signature"]
        received.append(stripe.Webhook.construct_event(payload, signature, "whsec_x"))
        return Response("{}", media_type="application/json")

    receiver = Starlette(routes=[Route("/hook", endpoint, methods=["POST"])])
    async with serve_app(receiver) as base:
        payload = server.event("transfer.reversed", made.id)
        answer = await server.deliver(f"{base}/hook", payload, "whsec_x")
    assert answer.status_code == 200
    assert received[0].type == "transfer.reversed"
    assert received[0].data.object["id"] == made.id
    assert json.loads(payload)["data"]["object"]["reversed"] is True
