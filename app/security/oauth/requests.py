"""authlib's request object, built from plain values rather than from a web framework.

The payload merges the query and the form (query first), keeping every value of a repeated
parameter so that authlib can refuse duplicates. Credentials and codes are read from the form
only, as RFC 6749 requires.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request

__all__ = ["AgoraOAuth2Request", "OAuthCall", "PairsPayload"]

Pairs = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class OAuthCall:
    """An HTTP request as the authorization server sees it."""

    method: str
    uri: str
    query: Pairs = ()
    form: Pairs = ()
    authorization: str | None = None

    def form_value(self, name: str) -> str | None:
        return next((v for k, v in self.form if k == name), None)

    def query_value(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


def _first(pairs: Pairs) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in pairs:
        values.setdefault(key, value)
    return values


class PairsPayload(OAuth2Payload):
    def __init__(self, pairs: Pairs) -> None:
        self._data = _first(pairs)
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class AgoraOAuth2Request(OAuth2Request):
    def __init__(self, call: OAuthCall) -> None:
        headers = {"Authorization": call.authorization} if call.authorization else {}
        super().__init__(call.method, call.uri, headers=headers)
        self.payload = PairsPayload([*call.query, *call.form])
        self._args = _first(call.query)
        self._form = _first(call.form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form
