"""Keys are made on first run in dev, reused afterwards, and never invented in production."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings
from app.main import create_app
from app.security.keys import MissingKeyError, load_or_create_secret, load_or_create_signing_key


def test_dev_keys_are_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.json"
    first = load_or_create_signing_key(path)
    assert load_or_create_signing_key(path).kid == first.kid
    assert path.stat().st_mode & 0o077 == 0
    secret = load_or_create_secret(tmp_path / "keys" / "secret.key")
    assert len(secret) == 32
    assert load_or_create_secret(tmp_path / "keys" / "secret.key") == secret


def test_production_refuses_to_start_without_its_keys(tmp_path: Path) -> None:
    settings = Settings(environment="prod", var_dir=tmp_path)
    with pytest.raises(MissingKeyError):
        create_app(settings)
    assert not (tmp_path / "keys").exists()
