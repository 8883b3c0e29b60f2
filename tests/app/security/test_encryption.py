"""Field encryption: authenticated, bound to its column, and rotatable."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.security.encryption import DecryptionError, load_or_create_keyring


def test_values_round_trip_and_name_their_key(tmp_path: Path) -> None:
    cipher = load_or_create_keyring(tmp_path / "ring.json")
    stored = cipher.encrypt("+86 138 0013 5678", context="users.phone")
    assert "0013 5678" not in stored and "5678" not in stored.split(".")[1]
    assert cipher.key_id_of(stored) == cipher.active_kid
    assert cipher.decrypt(stored, context="users.phone") == "+86 138 0013 5678"
    assert cipher.encrypt("same", context="c") != cipher.encrypt("same", context="c")


def test_a_value_moved_to_another_column_or_altered_does_not_decrypt(tmp_path: Path) -> None:
    cipher = load_or_create_keyring(tmp_path / "ring.json")
    stored = cipher.encrypt("ann@example.com", context="users.email")
    with pytest.raises(DecryptionError):
        cipher.decrypt(stored, context="users.phone")
    tampered = stored[:-2] + ("A" if stored[-2] != "A" else "B") + stored[-1]
    with pytest.raises(DecryptionError):
        cipher.decrypt(tampered, context="users.email")


def test_after_rotation_old_values_still_decrypt_and_new_ones_use_the_new_key(
    tmp_path: Path,
) -> None:
    old = load_or_create_keyring(tmp_path / "ring.json")
    stored = old.encrypt("secret", context="x")
    new = old.rotated()
    assert new.active_kid != old.active_kid
    assert new.decrypt(stored, context="x") == "secret"
    assert new.key_id_of(new.encrypt("secret", context="x")) == new.active_kid
    with pytest.raises(DecryptionError):
        old.decrypt(new.encrypt("secret", context="x"), context="x")
