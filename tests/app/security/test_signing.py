"""Request signing: the canonical string, the README's test vectors, and every refusal of the
verifier, with the clock and the nonce store injected."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from app.security.signing import (
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    NONCE_TTL_SECONDS,
    SignatureError,
    SignatureErrorCode,
    SignatureVerifier,
    Signer,
    VerifiedRequest,
    canonical_path,
    canonical_query,
    canonical_string,
    sign_request,
)
from app.sharedstate import MemoryState

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parents[3] / "README.md"
KEY = "agc_unit"
SECRET = b"current-secret"
PREVIOUS = b"previous-secret"
NOW = 1_800_000_000


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingState(MemoryState):
    """The in-process store, noting how long each nonce is kept."""

    def __init__(self) -> None:
        super().__init__()
        self.ttls: dict[str, int] = {}

    async def claim(self, key: str, ttl_seconds: int) -> bool:
        self.ttls[key] = ttl_seconds
        return await super().claim(key, ttl_seconds)


SIGNERS = {
    KEY: Signer(secrets=(SECRET,), scopes=frozenset({"goods:read"})),
    "agc_rotating": Signer(secrets=(SECRET, PREVIOUS)),
    "agc_suspended": Signer(secrets=(SECRET,), suspended=True),
}


async def lookup(key: str) -> Signer | None:
    return SIGNERS.get(key)


@pytest.fixture
def server_clock() -> Clock:
    return Clock()


@pytest.fixture
def nonces() -> RecordingState:
    return RecordingState()


@pytest.fixture
def verifier(server_clock: Clock, nonces: RecordingState) -> SignatureVerifier:
    return SignatureVerifier(lookup, nonces, clock=server_clock)


REQUEST: dict[str, Any] = {
    "method": "POST",
    "path": "/graphql",
    "query": "a=1&b=2",
    "body": b'{"query":"{ x }"}',
}


def signed(
    *, key: str = KEY, secret: bytes = SECRET, timestamp: int = NOW, nonce: str | None = None
) -> dict[str, str]:
    return sign_request(key=key, secret=secret, timestamp=timestamp, nonce=nonce, **REQUEST)


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


async def verify(
    verifier: SignatureVerifier, headers: dict[str, str], **changes: Any
) -> VerifiedRequest:
    request: dict[str, Any] = {**REQUEST, **changes}
    return await verifier.verify(headers=lower(headers), **request)


async def refusal(verifier: SignatureVerifier, headers: dict[str, str], **changes: Any) -> str:
    with pytest.raises(SignatureError) as caught:
        await verify(verifier, headers, **changes)
    return caught.value.code.value


# The README's vectors: what partners in other languages check their code against.


def readme_vectors() -> list[tuple[dict[str, str], str, str]]:
    section = README.read_text().split("## Signed requests", 1)[1].split("\n## ", 1)[0]
    vectors = []
    for chunk in section.split("#### Vector ")[1:]:
        inputs, canonical = re.findall(r"```\n(.*?)\n```", chunk, flags=re.DOTALL)[:2]
        fields = {}
        for line in inputs.splitlines():
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        signature = re.search(r"Signature: `([0-9a-f]{64})`", chunk)
        assert signature is not None, chunk
        vectors.append((fields, canonical, signature.group(1)))
    return vectors


def test_the_readme_has_three_vectors_with_every_input() -> None:
    vectors = readme_vectors()
    assert len(vectors) == 3
    for fields, _, _ in vectors:
        assert set(fields) == {
            "key", "secret", "timestamp", "nonce", "method", "path", "query", "body",
        }  # fmt: skip


@pytest.mark.parametrize("index", [0, 1, 2])
async def test_the_readme_vectors_match_the_code(index: int) -> None:
    fields, expected_canonical, expected_signature = readme_vectors()[index]
    timestamp = int(fields["timestamp"])
    request: dict[str, Any] = {
        "method": fields["method"],
        "path": fields["path"],
        "query": fields["query"],
        "body": fields["body"].encode(),
    }
    canonical = canonical_string(
        key=fields["key"], timestamp=timestamp, nonce=fields["nonce"], **request
    )
    assert canonical == expected_canonical
    headers = sign_request(
        key=fields["key"],
        secret=fields["secret"],
        timestamp=timestamp,
        nonce=fields["nonce"],
        **request,
    )
    assert headers[HEADER_SIGNATURE] == expected_signature

    async def only_this_key(key: str) -> Signer | None:
        return Signer(secrets=(fields["secret"].encode(),)) if key == fields["key"] else None

    at_signing_time = SignatureVerifier(only_this_key, MemoryState(), clock=Clock(timestamp))
    verified = await at_signing_time.verify(headers=lower(headers), **request)
    assert verified.nonce == fields["nonce"]


# Canonical forms: what a proxy may change without breaking a signature, and what it may not.


def test_the_query_is_sorted_and_re_escaped() -> None:
    assert canonical_query("b=2&a=%7e&a=1&flag&&c=%41") == "a=1&a=~&b=2&c=A&flag="
    assert canonical_query("q=caf%c3%a9+au%20lait") == "q=caf%C3%A9%20au%20lait"
    assert canonical_query("") == ""


def test_distinct_values_stay_distinct() -> None:
    assert canonical_query("q=a%2Bb") != canonical_query("q=a+b")
    assert canonical_query("q=%FF") != canonical_query("q=%FE")  # no lossy UTF-8 decoding
    assert canonical_query("a%3D1=2") != canonical_query("a=1%3D2")


def test_the_path_keeps_encoded_slashes_apart() -> None:
    assert canonical_path("/v1/caf%c3%a9/~x") == "/v1/caf%C3%A9/~x"
    assert canonical_path("/a%2Fb") == "/a%2Fb"
    assert canonical_path("/a%2Fb") != canonical_path("/a/b")
    assert canonical_path("") == "/"


def test_a_default_nonce_is_128_random_bits() -> None:
    first, second = signed()[HEADER_NONCE], signed()[HEADER_NONCE]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize(
    ("key", "nonce"), [("bad key", None), ("a\nb", None), (KEY, "short"), (KEY, "x" * 129)]
)
def test_signing_refuses_keys_and_nonces_that_could_break_the_canonical_string(
    key: str, nonce: str | None
) -> None:
    with pytest.raises(ValueError, match="unreserved"):
        sign_request(key=key, secret=SECRET, nonce=nonce, **REQUEST)


# The verifier.


async def test_a_signed_request_verifies_once(verifier: SignatureVerifier) -> None:
    headers = signed()
    verified = await verify(verifier, headers)
    assert (verified.key, verified.nonce, verified.timestamp) == (KEY, headers[HEADER_NONCE], NOW)
    assert verified.signer.scopes == {"goods:read"}
    assert await refusal(verifier, headers) == "SIGNATURE_REPLAYED"


async def test_the_same_nonce_under_another_key_is_not_a_replay(
    verifier: SignatureVerifier,
) -> None:
    nonce = "0123456789abcdef0123456789abcdef"
    await verify(verifier, signed(nonce=nonce))
    rotating = signed(key="agc_rotating", nonce=nonce)
    assert (await verify(verifier, rotating)).key == "agc_rotating"


async def test_nonces_outlive_the_timestamp_window(
    verifier: SignatureVerifier, nonces: RecordingState
) -> None:
    await verify(verifier, signed())
    assert list(nonces.ttls.values()) == [NONCE_TTL_SECONDS]
    assert NONCE_TTL_SECONDS >= 600
    with pytest.raises(ValueError, match="outlive"):
        SignatureVerifier(lookup, MemoryState(), max_skew_seconds=300, nonce_ttl_seconds=599)


@pytest.mark.parametrize(
    ("offset", "accepted"), [(299, True), (301, False), (-299, True), (-301, False)]
)
async def test_the_timestamp_may_be_300_seconds_off_either_way(
    verifier: SignatureVerifier, server_clock: Clock, offset: int, accepted: bool
) -> None:
    server_clock.now = NOW + offset  # positive: the request is old; negative: it is from the future
    if accepted:
        assert (await verify(verifier, signed())).timestamp == NOW
    else:
        assert await refusal(verifier, signed()) == "SIGNATURE_EXPIRED"


@pytest.mark.parametrize(
    "change",
    [
        {"body": b'{"query":"{ y }"}'},
        {"body": REQUEST["body"] + b" "},
        {"path": "/graphqL"},
        {"method": "PUT"},
        {"query": "a=1&b=3"},
        {"query": "a=1&b=2&c=3"},
        {"query": "a=1"},
    ],
)
async def test_any_change_to_the_request_is_refused(
    verifier: SignatureVerifier, nonces: RecordingState, change: dict[str, object]
) -> None:
    assert await refusal(verifier, signed(), **change) == "SIGNATURE_INVALID"
    assert nonces.ttls == {}  # nothing claimed for a forgery


async def test_reordered_and_re_escaped_parameters_still_verify(
    verifier: SignatureVerifier,
) -> None:
    headers = signed()
    verified = await verify(verifier, headers, query="b=%32&a=1", method="post")
    assert verified.key == KEY


async def test_a_refused_request_does_not_spend_its_nonce(verifier: SignatureVerifier) -> None:
    nonce = "fedcba9876543210fedcba9876543210"
    assert await refusal(verifier, signed(nonce=nonce), body=b"tampered") == "SIGNATURE_INVALID"
    assert await refusal(verifier, signed(nonce=nonce, timestamp=NOW - 900)) == "SIGNATURE_EXPIRED"
    assert await refusal(verifier, signed(nonce=nonce, secret=b"guess")) == "SIGNATURE_INVALID"
    assert (await verify(verifier, signed(nonce=nonce))).nonce == nonce


async def test_unknown_and_suspended_keys_are_refused(verifier: SignatureVerifier) -> None:
    assert await refusal(verifier, signed(key="agc_nobody")) == "SIGNATURE_KEY_UNKNOWN"
    # Suspension is told only to a caller who proves they hold the secret.
    assert await refusal(verifier, signed(key="agc_suspended")) == "SIGNATURE_KEY_SUSPENDED"
    forged = signed(key="agc_suspended", secret=b"guess")
    assert await refusal(verifier, forged) == "SIGNATURE_INVALID"


async def test_both_secrets_verify_during_a_rotation(verifier: SignatureVerifier) -> None:
    for secret in (SECRET, PREVIOUS):
        headers = signed(key="agc_rotating", secret=secret)
        assert (await verify(verifier, headers)).key == "agc_rotating"
    assert await refusal(verifier, signed(key="agc_rotating", secret=b"retired")) == (
        "SIGNATURE_INVALID"
    )


def test_a_signer_holds_one_or_two_secrets() -> None:
    for count in (0, 3):
        with pytest.raises(ValueError, match="rotation"):
            Signer(secrets=tuple(b"s%d" % i for i in range(count)))


async def test_an_upper_case_signature_is_the_same_signature(verifier: SignatureVerifier) -> None:
    headers = signed()
    headers[HEADER_SIGNATURE] = headers[HEADER_SIGNATURE].upper()
    assert (await verify(verifier, headers)).key == KEY


async def test_missing_headers_are_named(verifier: SignatureVerifier) -> None:
    headers = signed()
    del headers[HEADER_NONCE], headers[HEADER_SIGNATURE]
    with pytest.raises(SignatureError) as caught:
        await verify(verifier, headers)
    assert caught.value.code is SignatureErrorCode.SIGNATURE_MISSING
    assert "X-Agora-Nonce, X-Agora-Signature" in caught.value.message


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (HEADER_TIMESTAMP, "1.8e9"),
        (HEADER_TIMESTAMP, "-5"),
        (HEADER_NONCE, "too-short"),
        (HEADER_NONCE, "has spaces in the nonce value"),
        (HEADER_SIGNATURE, "zz" * 32),
        (HEADER_SIGNATURE, "ab" * 31),
        ("X-Agora-Key", "a key"),
    ],
)
async def test_malformed_headers_are_refused(
    verifier: SignatureVerifier, nonces: RecordingState, header: str, value: str
) -> None:
    headers = {**signed(), header: value}
    assert await refusal(verifier, headers) == "SIGNATURE_MALFORMED"
    assert nonces.ttls == {}
