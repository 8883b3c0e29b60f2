"""The resources of the Stripe Connect test server: Stripe's v1 wire format, parsed and checked
as Stripe does, and the account, transfer and reversal objects in Stripe's JSON shape.

``nest`` turns the SDK's form encoding back into objects (``metadata[agora_statement]=7`` is
``{"metadata": {"agora_statement": "7"}}``); each endpoint refuses parameters it does not know
(``parameter_unknown``), a missing or malformed required one, and an unknown object
(``resource_missing``), with ``ApiError`` carrying Stripe's error JSON.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Callable
from typing import Any

__all__ = ["ApiError", "Resources", "nest"]

_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
ACCOUNT_PARAMS = frozenset(
    {"type", "country", "email", "capabilities", "metadata", "business_type", "expand"}
)
TRANSFER_PARAMS = frozenset(
    {"amount", "currency", "destination", "description", "metadata", "source_transaction"}
    | {"transfer_group", "expand"}
)
LIST_PARAMS = frozenset({"transfer_group", "destination", "limit", "starting_after", "expand"})
REVERSAL_PARAMS = frozenset({"amount", "description", "metadata", "expand"})


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        kind = extra.pop("type", "invalid_request_error")
        self.body = {"error": {"type": kind, "message": message, **extra}}


def _missing(kind: str, key: str, param: str = "id") -> ApiError:
    return ApiError(404, f"No such {kind}: '{key}'", code="resource_missing", param=param)


def nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back to objects: ``a[b][c]=v`` is ``{"a": {"b": {"c": v}}}``."""
    root: dict[str, Any] = {}
    for name, value in pairs:
        match = _NAME.match(name)
        if match is None:
            raise ApiError(400, f"Invalid parameter name: {name}")
        *path, last = [match.group(1), *_PART.findall(match.group(2))]
        node = root
        for part in path:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ApiError(400, f"Invalid hash: {name}", param=name)
        node[last or str(len(node))] = value
    return root


def _unknown(params: dict[str, Any], allowed: frozenset[str]) -> None:
    for name in params:
        if name not in allowed:
            raise ApiError(
                400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )


def _metadata(params: dict[str, Any]) -> dict[str, str]:
    given = params.get("metadata", {})
    if given == "":  # metadata= clears it
        return {}
    if not isinstance(given, dict) or len(given) > 50:
        raise ApiError(400, "Invalid object", param="metadata")
    for key, value in given.items():
        if not isinstance(value, str) or len(key) > 40 or len(value) > 500:
            raise ApiError(400, f"Invalid metadata value for {key}", param=f"metadata[{key}]")
    return dict(given)


def _amount(params: dict[str, Any], *, required: bool = True) -> int | None:
    raw = params.get("amount")
    if raw is None and not required:
        return None
    if raw is None:
        raise ApiError(
            400, "Missing required param: amount.", code="parameter_missing", param="amount"
        )
    if not isinstance(raw, str) or not raw.isdigit() or int(raw) < 1:
        raise ApiError(
            400,
            f"Invalid positive integer: {raw}",
            code="parameter_invalid_integer",
            param="amount",
        )
    return int(raw)


class Resources:
    """Accounts and transfers, in creation order; ``now`` stamps ``created``."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.accounts: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}{secrets.token_hex(5)}"

    def create_account(self, params: dict[str, Any], _: str) -> dict[str, Any]:
        _unknown(params, ACCOUNT_PARAMS)
        kind = params.get("type", "standard")
        if kind not in {"standard", "express", "custom"}:
            raise ApiError(400, f"Invalid type: {kind}", param="type")
        requested = params.get("capabilities", {})
        if not isinstance(requested, dict) or any(
            not isinstance(v, dict) or v.get("requested") not in {"true", "false"}
            for v in requested.values()
        ):
            raise ApiError(400, "Invalid capabilities", param="capabilities")
        account = {
            "id": self.new_id("acct"),
            "object": "account",
            "type": kind,
            "country": params.get("country", "US"),
            "email": params.get("email"),
            "capabilities": {
                name: "active" if v["requested"] == "true" else "inactive"
                for name, v in requested.items()
            },
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "metadata": _metadata(params),
            "created": int(self.now()),
        }
        self.accounts[account["id"]] = account
        return account

    def get_account(self, params: dict[str, Any], key: str) -> dict[str, Any]:
        _unknown(params, frozenset({"expand"}))
        if key not in self.accounts:
            raise _missing("account", key)
        return self.accounts[key]

    def create_transfer(self, params: dict[str, Any], _: str) -> dict[str, Any]:
        _unknown(params, TRANSFER_PARAMS)
        amount = _amount(params)
        for name in ("currency", "destination"):
            if not params.get(name):
                raise ApiError(
                    400, f"Missing required param: {name}.", code="parameter_missing", param=name
                )
        currency = params["currency"]
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
            raise ApiError(400, f"Invalid currency: {currency}", param="currency")
        if params["destination"] not in self.accounts:
            raise _missing("destination", str(params["destination"]), "destination")
        transfer_id = self.new_id("tr")
        transfer = {
            "id": transfer_id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "created": int(self.now()),
            "currency": currency.lower(),
            "description": params.get("description"),
            "destination": params["destination"],
            "destination_payment": self.new_id("py"),
            "livemode": False,
            "metadata": _metadata(params),
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": f"/v1/transfers/{transfer_id}/reversals",
            },
            "reversed": False,
            "source_transaction": params.get("source_transaction"),
            "source_type": "card",
            "transfer_group": params.get("transfer_group"),
        }
        self.transfers[transfer_id] = transfer
        return transfer

    def get_transfer(self, params: dict[str, Any], key: str) -> dict[str, Any]:
        _unknown(params, frozenset({"expand"}))
        if key not in self.transfers:
            raise _missing("transfer", key)
        return self.transfers[key]

    def list_transfers(self, params: dict[str, Any], _: str) -> dict[str, Any]:
        _unknown(params, LIST_PARAMS)
        limit = params.get("limit", "10")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise ApiError(400, "Invalid limit: must be between 1 and 100", param="limit")
        found = [
            t
            for t in reversed(self.transfers.values())
            if all(t[k] == params[k] for k in ("transfer_group", "destination") if k in params)
        ]
        if after := params.get("starting_after"):
            ids = [t["id"] for t in found]
            if after not in ids:
                raise _missing("transfer", after, "starting_after")
            found = found[ids.index(after) + 1 :]
        page = found[: int(limit)]
        return {
            "object": "list",
            "url": "/v1/transfers",
            "has_more": len(found) > len(page),
            "data": page,
        }

    def reverse(self, params: dict[str, Any], key: str) -> dict[str, Any]:
        _unknown(params, REVERSAL_PARAMS)
        transfer = self.get_transfer({}, key)
        left = transfer["amount"] - transfer["amount_reversed"]
        amount = _amount(params, required=False) or left
        if amount > left:
            raise ApiError(400, "Reversal amount exceeds what is left", param="amount")
        reversal = {
            "id": self.new_id("trr"),
            "object": "transfer_reversal",
            "amount": amount,
            "currency": transfer["currency"],
            "created": int(self.now()),
            "metadata": _metadata(params),
            "transfer": key,
        }
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        transfer["reversals"]["data"].insert(0, reversal)
        return reversal

    ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
        ("POST", re.compile(r"/v1/accounts"), "create_account"),
        ("GET", re.compile(r"/v1/accounts/([\w-]+)"), "get_account"),
        ("POST", re.compile(r"/v1/transfers"), "create_transfer"),
        ("GET", re.compile(r"/v1/transfers"), "list_transfers"),
        ("GET", re.compile(r"/v1/transfers/([\w-]+)"), "get_transfer"),
        ("POST", re.compile(r"/v1/transfers/([\w-]+)/reversals"), "reverse"),
    )
