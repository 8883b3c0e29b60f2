"""The consent page's signed session cookie: round trip, tampering and expiry."""

from __future__ import annotations

from app.security.oauth.consent_session import SessionCodec


def test_a_session_round_trips_and_checks_its_csrf_token() -> None:
    codec = SessionCodec(b"k" * 32, clock=lambda: 1000.0)
    session = codec.new(user_id=42)
    loaded = codec.loads(codec.dumps(session))
    assert loaded == session
    assert loaded.csrf_matches(session.csrf)
    assert not loaded.csrf_matches("other")
    assert not loaded.csrf_matches(None)


def test_tampered_foreign_and_expired_cookies_are_ignored() -> None:
    now = [1000.0]
    codec = SessionCodec(b"k" * 32, ttl_seconds=60, clock=lambda: now[0])
    value = codec.dumps(codec.new(user_id=1))
    body, signature = value.rsplit(".", 1)
    forged = SessionCodec(b"x" * 32, clock=lambda: now[0]).dumps(codec.new(user_id=2))
    assert codec.loads(f"{body}x.{signature}") is None
    assert codec.loads(forged) is None
    assert codec.loads("garbage") is None
    assert codec.loads(None) is None
    now[0] += 61
    assert codec.loads(value) is None
