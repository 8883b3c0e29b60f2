"""Key material that Agora makes for itself on first run, under ``var/keys`` (git-ignored).

Production mounts its own files at the configured paths; dev gets fresh keys and never a key
from the repository.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from joserfc import jwk

__all__ = [
    "MissingKeyError",
    "SigningKeys",
    "load_or_create_secret",
    "load_or_create_signing_key",
    "load_or_create_signing_keys",
    "replace_private",
    "rotate_signing_keys",
    "write_private",
]


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    # link() refuses to overwrite: when two workers start at once, the first key wins and both
    # read that one, complete.
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        temp.unlink()


def replace_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` (a rotation): readers see the old file or the new, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temp, path)


class MissingKeyError(RuntimeError):
    """Production never invents keys: a missing key file is a deployment error."""


def _require(path: Path, create: bool) -> None:
    if not path.exists() and not create:
        raise MissingKeyError(f"{path} does not exist; mount the key or set its AGORA_* path")


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The key that signs now, and the one it replaced.

    After a rotation the previous key still verifies (and stays in the JWKS) so that tokens
    signed before the rotation keep working until they expire; the next rotation drops it.
    Rotate no more often than once per access-token lifetime.
    """

    current: jwk.ECKey
    previous: tuple[jwk.ECKey, ...] = ()

    @property
    def all(self) -> list[jwk.ECKey]:
        return [self.current, *self.previous]

    def to_json(self) -> str:
        return json.dumps({"keys": [k.as_dict(private=True) for k in self.all]})

    @classmethod
    def from_json(cls, text: str) -> SigningKeys:
        """A JWK set (current first) or, as written before rotation existed, one bare JWK."""
        data = json.loads(text)
        entries = data.get("keys", [data])
        keys = [jwk.ECKey.import_key(entry) for entry in entries]
        return cls(keys[0], tuple(keys[1:]))


def _new_key() -> jwk.ECKey:
    return jwk.ECKey.generate_key("P-256", auto_kid=True)


def load_or_create_signing_keys(path: Path, *, create: bool = True) -> SigningKeys:
    """The ES256 keys that sign access tokens; each ``kid`` is its RFC 7638 thumbprint."""
    _require(path, create)
    if not path.exists():
        write_private(path, SigningKeys(_new_key()).to_json().encode())
    return SigningKeys.from_json(path.read_text())


def load_or_create_signing_key(path: Path, *, create: bool = True) -> jwk.ECKey:
    """The key that signs now."""
    return load_or_create_signing_keys(path, create=create).current


def rotate_signing_keys(path: Path) -> SigningKeys:
    """A new current key; the old current one is kept as previous, an older one dropped.

    Running processes pick the new file up when they restart.
    """
    _require(path, create=False)
    rotated = SigningKeys(_new_key(), (SigningKeys.from_json(path.read_text()).current,))
    replace_private(path, rotated.to_json().encode())
    return rotated


def load_or_create_secret(path: Path, *, create: bool = True) -> bytes:
    """A 256-bit secret for HMACs that never leave Agora (pagination cursors)."""
    _require(path, create)
    if not path.exists():
        write_private(path, secrets.token_hex(32).encode())
    return bytes.fromhex(path.read_text().strip())
